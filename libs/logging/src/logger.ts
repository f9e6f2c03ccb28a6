import { pino, type Logger as PinoLogger } from "pino";

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
 * Creates the JSON logger of a service. Credentials that might reach a log
 * object by accident are redacted by key.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const config = {
    name: options.service,
    level: options.level ?? "info",
    base: { service: options.service },
    redact: {
      paths: ["*.apiKey", "*.token", "*.password", "*.authorization", "apiKey", "token", "password", "authorization"],
      censor: "[redacted]",
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that drops everything, for tests and quiet embedded runs. */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
