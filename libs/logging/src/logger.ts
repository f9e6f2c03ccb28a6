import { pino, type Logger as PinoLogger } from "pino";
import { currentLogFields } from "./log-fields.js";
import { REDACTED, redactSecrets, redactText } from "./redact.js";

/** Structured logger: `logger.info({ taskId, tenant }, "short sentence")`. */
export type Logger = PinoLogger;

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Service name, added to every line. */
  service: string;
  level?: string;
  /** Where lines go; stdout by default. */
  destination?: NodeJS.WritableStream;
}

/**
 * Creates the JSON logger of a service. Every line carries the task, tenant
 * and trace of the work it was written in (see `withLogFields`), and
 * credentials never reach a line: any field named like one (authorization,
 * cookie, *token, *apiKey, *password, *secret), at any depth, is replaced by
 * "[redacted]", and "Bearer <token>" is cut out of any text.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const config = {
    name: options.service,
    level: options.level ?? "info",
    base: { service: options.service },
    mixin: () => currentLogFields(),
    // A child's bindings skip the formatters below: the usual names are redacted there by path.
    redact: {
      paths: ["apiKey", "token", "password", "authorization", "secret", "*.apiKey", "*.token", "*.password", "*.authorization", "*.secret"],
      censor: REDACTED,
    },
    formatters: {
      log: (object: Record<string, unknown>) => redactSecrets(object),
      bindings: (bindings: Record<string, unknown>) => redactSecrets(bindings),
    },
    hooks: {
      // The message and any format arguments: free text, where only a bearer token is recognisable.
      logMethod(this: PinoLogger, args: unknown[], method: (...args: unknown[]) => void) {
        method.apply(
          this,
          args.map((arg) => (typeof arg === "string" ? redactText(arg) : arg)),
        );
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that drops everything, for tests and quiet embedded runs. */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
