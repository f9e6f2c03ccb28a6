/**
 * Typed domain errors. Domain code throws these; the RPC boundary maps each
 * kind to one gRPC status code (see @mlzero/rpc `toServiceError`). Messages
 * are written for the client: one line, no stack, no internals.
 */

/** The kinds of failure a client can act on. */
export type ErrorKind =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "unauthenticated"
  | "resource_exhausted"
  | "failed_precondition"
  | "cancelled"
  | "deadline_exceeded"
  | "unavailable";

/** Base class of every error whose message is safe to show a client. */
export class DomainError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** The request or the data it points at is malformed. */
export class InvalidInputError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid_argument", message, options);
  }
}

/** Something the request names does not exist. */
export class NotFoundError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("not_found", message, options);
  }
}

/** The system is not in a state where the request can be served. */
export class FailedPreconditionError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("failed_precondition", message, options);
  }
}

/** A quota or limit was reached. */
export class ResourceExhaustedError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("resource_exhausted", message, options);
  }
}

/** The caller did not prove who it is: no credentials, or ones nobody issued. */
export class UnauthenticatedError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("unauthenticated", message, options);
  }
}

/** The caller may not do this. */
export class PermissionDeniedError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("permission_denied", message, options);
  }
}

/** A dependency (an endpoint, a store) did not answer, or answered nonsense; trying later may work. */
export class UnavailableError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
  }
}

/** A message for logs: the error's own message and its cause chain. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(" <- ");
}
