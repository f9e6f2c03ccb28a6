/** What a redacted value is replaced with. */
export const REDACTED = "[redacted]";

// Keys compared lower-cased with "-" and "_" removed: "API_KEY", "x-api-key"
// and "apiKey" are one key. Counts such as "promptTokens" or "maxTokens" end
// in "tokens" and stay.
const SECRET_KEYS = new Set(["authorization", "proxyauthorization", "cookie", "setcookie", "privatekey", "credentials"]);
const SECRET_SUFFIXES = ["token", "apikey", "password", "passwd", "secret"];

/** Whether a field of this name holds a credential: authorization, cookies, tokens, API keys, passwords, secrets. */
export function isSecretKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[-_]/g, "");
  return SECRET_KEYS.has(normalized) || SECRET_SUFFIXES.some((suffix) => normalized.endsWith(suffix));
}

// A bearer credential inside free text: "Bearer <token>" (RFC 6750 token68 characters).
const BEARER = /\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*/gi;

/** Free text with any "Bearer <token>" credential replaced. */
export function redactText(text: string): string {
  return text.replace(BEARER, `$1 ${REDACTED}`);
}

const MAX_DEPTH = 8;

/**
 * A copy of a log object with every field whose key names a credential
 * replaced by {@link REDACTED}, at any depth, and bearer tokens cut out of
 * strings. Objects that need no change are returned as they are, so a log
 * call with nothing secret costs a walk and no copy.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (typeof value === "string") return redactText(value) as T;
  if (value === null || typeof value !== "object" || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, index) => {
      const redacted = redactSecrets(item, depth + 1);
      if (redacted !== item) (copy ??= [...value])[index] = redacted;
    });
    return (copy ?? value) as T;
  }
  // Only plain records: errors, dates, buffers and class instances go to their serializers as they are.
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const redacted = isSecretKey(key) && item !== undefined && item !== null && item !== "" ? REDACTED : redactSecrets(item, depth + 1);
    if (redacted !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = redacted;
  }
  return (copy ?? value) as T;
}
