import { status, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { DomainError, describeError, type ErrorKind } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";

const CODE_BY_KIND: Record<ErrorKind, status> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  permission_denied: status.PERMISSION_DENIED,
  unauthenticated: status.UNAUTHENTICATED,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  failed_precondition: status.FAILED_PRECONDITION,
  cancelled: status.CANCELLED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  unavailable: status.UNAVAILABLE,
};

/** A status to send a client: a code and a message safe to show. */
export interface StatusObject {
  code: status;
  details: string;
  metadata?: Metadata;
}

/**
 * The one mapping from anything thrown to a gRPC status. Domain errors keep
 * their message; anything else becomes INTERNAL with a generic message, and
 * the original is logged, never sent.
 */
export function toServiceError(error: unknown, logger: Logger, context: Record<string, unknown> = {}): StatusObject {
  if (error instanceof DomainError) {
    return { code: CODE_BY_KIND[error.kind], details: error.message };
  }
  if (error instanceof RpcError) {
    // A status from a downstream call: pass the code on, keep its message.
    return { code: error.code, details: error.message };
  }
  logger.error({ ...context, err: describeError(error) }, "request failed");
  return { code: status.INTERNAL, details: "internal error" };
}

/** An error a client gets from a call: the status code and its message. */
export class RpcError extends Error {
  readonly code: status;

  constructor(code: status, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RpcError";
    this.code = code;
  }

  /** Name of the status code, e.g. "NOT_FOUND". */
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }
}

/** Converts a grpc-js client error into an {@link RpcError}. */
export function fromServiceError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  if (isStatusLike(error)) return new RpcError(error.code, error.details, { cause: error });
  return new RpcError(status.UNKNOWN, error instanceof Error ? error.message : String(error), { cause: error });
}

function isStatusLike(error: unknown): error is Pick<ServiceError, "code" | "details"> {
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as ServiceError).code === "number" &&
    typeof (error as ServiceError).details === "string"
  );
}
