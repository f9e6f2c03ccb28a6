import {
  DomainError,
  FailedPreconditionError,
  InvalidInputError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from "@mlzero/errors";
import { QdrantClientResourceExhaustedError, QdrantClientTimeoutError } from "@qdrant/js-client-rest";

/** An error answer as the client throws it: its fetcher's ApiError, which the client does not export. */
interface ErrorAnswer {
  status: number;
  statusText?: string;
  /** Qdrant's ErrorResponse: `{ status: { error }, time }`. */
  data?: { status?: { error?: string } };
}

/**
 * Turns what the Qdrant client throws into a domain error naming the action
 * and Qdrant's reason: 400 and 422 (a failed validation) are invalid input,
 * 404 not found, 409 already exists, 429 resource exhausted, 401 and 403 a
 * key the server refuses; no answer, a timeout or a 5xx is unavailable.
 */
export function qdrantFailure(error: unknown, action: string, url: string): DomainError {
  if (error instanceof DomainError) return error;
  const cause = { cause: error };
  if (error instanceof QdrantClientResourceExhaustedError) return new ResourceExhaustedError(`${action}: Qdrant is rate limiting`, cause);
  if (error instanceof QdrantClientTimeoutError) return new UnavailableError(`${action}: Qdrant at ${url} did not answer in time`, cause);
  if (!isErrorAnswer(error)) return new UnavailableError(`${action}: cannot reach Qdrant at ${url} (${networkReason(error)})`, cause);
  const reason = `${action}: ${error.data?.status?.error ?? `HTTP ${error.status} ${error.statusText ?? ""}`.trim()}`;
  switch (error.status) {
    case 400:
    case 422:
      return new InvalidInputError(reason, cause);
    case 404:
      return new NotFoundError(reason, cause);
    case 409:
      return new DomainError("already_exists", reason, cause);
    case 429:
      return new ResourceExhaustedError(reason, cause);
    case 401:
    case 403:
      return new FailedPreconditionError(`${action}: Qdrant at ${url} refused the API key (HTTP ${error.status})`, cause);
    default:
      return new UnavailableError(reason, cause);
  }
}

function isErrorAnswer(error: unknown): error is ErrorAnswer {
  return error instanceof Error && typeof (error as Partial<ErrorAnswer>).status === "number";
}

// fetch fails with "fetch failed" and keeps the useful part (ECONNREFUSED, ENOTFOUND) in its cause.
function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message;
  return error instanceof Error ? error.message : String(error);
}
