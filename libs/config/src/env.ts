import { z } from "zod";

/** A configuration variable is missing or malformed; the message names it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Reads and validates environment variables in one go. The shape's keys are
 * the variable names; every problem is reported at once, each naming its
 * variable, so a misconfigured service stops at start with a useful message.
 */
export function parseEnv<Shape extends z.ZodRawShape>(shape: Shape, env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<Shape>> {
  const values: Record<string, string | undefined> = {};
  for (const name of Object.keys(shape)) {
    const raw = env[name];
    values[name] = raw === undefined || raw.trim() === "" ? undefined : raw.trim();
  }
  const result = z.object(shape).safeParse(values);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  return result.data;
}

/** A TCP port (0 picks a free one). */
export const port = () => z.coerce.number().int().min(0).max(65535);

/** A positive number of seconds, e.g. "90" or "1.5". */
export const seconds = () => z.coerce.number().positive();

/** A positive whole number. */
export const count = () => z.coerce.number().int().positive();

/** "host:port", for a gRPC address. */
export const address = () => z.string().regex(/^[^\s:]+:\d+$/, "expected host:port");

/** Comma-separated "host:port" addresses, e.g. Kafka's bootstrap brokers; at least one. */
export const addresses = () =>
  z
    .string()
    .regex(/^[^\s:,]+:\d+(\s*,\s*[^\s:,]+:\d+)*$/, "expected host:port[,host:port...]")
    .transform((value) => value.split(",").map((part) => part.trim()));

/** "true"/"false"/"1"/"0". */
export const flag = () => z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1");

/** A JSON value, validated by `schema`: e.g. a node selector object or a list of tolerations. */
export const json = <Schema extends z.ZodType>(schema: Schema) =>
  z
    .string()
    .transform((text, context) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        context.addIssue({ code: "custom", message: "expected JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);
