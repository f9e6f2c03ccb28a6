import type { ParseArgsOptionsConfig } from "node:util";
import { InvalidInputError } from "@mlzero/errors";
import { TaskService } from "@mlzero/proto";
import { GrpcStatus, RpcError, createClient, type ServiceClient } from "@mlzero/rpc";

/** The `--gateway` flag every command that talks to the gateway takes. */
export const GATEWAY_FLAG = { gateway: { type: "string" } } as const satisfies ParseArgsOptionsConfig;

/** Usage line of {@link GATEWAY_FLAG}. */
export const GATEWAY_USAGE = "  --gateway HOST:PORT          the gateway's address (default: $MLZERO_GATEWAY_ADDRESS)";

/** A client of the gateway's public API. */
export type TaskClient = ServiceClient<typeof TaskService>;

/** Deadline of one unary call. Submit copies the input folder before answering, hence the margin. */
const UNARY_TIMEOUT_MS = 120_000;

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/;

/**
 * The gateway's address: `--gateway`, else `MLZERO_GATEWAY_ADDRESS`. There is
 * no default: a command that silently talked to some other cluster would be
 * worse than one that asks.
 */
export function gatewayAddressFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const fromFlag = flag?.trim();
  const address = fromFlag || env.MLZERO_GATEWAY_ADDRESS?.trim();
  if (!address) {
    throw new InvalidInputError(
      "no gateway address: pass --gateway host:port or set MLZERO_GATEWAY_ADDRESS (a local cluster from `make up` is at 127.0.0.1:50051)",
    );
  }
  if (!HOST_PORT.test(address)) {
    const source = fromFlag ? "--gateway" : "MLZERO_GATEWAY_ADDRESS";
    throw new InvalidInputError(`${source} must be host:port, got ${JSON.stringify(address)}`);
  }
  return address;
}

/**
 * Calls `use` with a client of the gateway at `address` and closes it after.
 * A failed call comes out as an {@link RpcError} whose message is one line a
 * user can act on, naming the gateway when it could not be reached.
 */
export async function withGateway<T>(address: string, use: (tasks: TaskClient) => Promise<T>): Promise<T> {
  const client = createClient(TaskService, address, { defaultTimeoutMs: UNARY_TIMEOUT_MS });
  try {
    return await use(client);
  } catch (error) {
    throw error instanceof RpcError ? gatewayError(error, address) : error;
  } finally {
    client.close();
  }
}

/** A call's failure as a user reads it; the gateway's own (domain) messages pass unchanged. */
export function gatewayError(error: RpcError, address: string): RpcError {
  const rewrite = (message: string) => new RpcError(error.code, message, { cause: error });
  switch (error.code) {
    case GrpcStatus.UNAVAILABLE:
      return rewrite(`cannot reach the gateway at ${address} (${connectionProblem(error)}): is it running? \`make up\` starts a local one`);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return rewrite(`the gateway at ${address} did not answer in time`);
    case GrpcStatus.INTERNAL:
    case GrpcStatus.UNKNOWN:
    case GrpcStatus.UNIMPLEMENTED:
      return rewrite(`the gateway at ${address} failed: ${error.message} (${error.codeName})`);
    default:
      return error;
  }
}

/**
 * Why a connection failed, short: the socket error code grpc-js reports
 * (ECONNREFUSED, EHOSTUNREACH, ...), else its message without the timestamp
 * it appends.
 */
export function connectionProblem(error: RpcError): string {
  const errno = /\b(E[A-Z]{3,})\b/.exec(error.message)?.[1];
  if (errno) return errno;
  return error.message.replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "").trim() || error.codeName;
}
