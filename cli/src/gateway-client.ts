import type { ParseArgsOptionsConfig } from "node:util";
import { InvalidInputError } from "@mlzero/errors";
import { TaskService } from "@mlzero/proto";
import { GrpcStatus, RpcError, clientTransportFromEnv, createClient, type ServiceClient } from "@mlzero/rpc";

/** The flags every command that talks to the gateway takes: its address and a bearer token. */
export const GATEWAY_FLAG = { gateway: { type: "string" }, token: { type: "string" } } as const satisfies ParseArgsOptionsConfig;

/** Usage lines of {@link GATEWAY_FLAG}. */
export const GATEWAY_USAGE = `  --gateway HOST:PORT          the gateway's address (default: $MLZERO_GATEWAY_ADDRESS)
  --token TOKEN                bearer token for a gateway with tenants (default: $MLZERO_TOKEN,
                               which keeps it out of the process list)
TLS: MLZERO_TLS_CA (the gateway's CA; dials with TLS), MLZERO_TLS_CERT and
MLZERO_TLS_KEY (a client certificate, for mutual TLS), MLZERO_TLS_SERVER_NAME.`;

/** Where a command finds the gateway and how it proves who it is. */
export interface GatewayConnection {
  address: string;
  /** Bearer token sent with every call; none when undefined. */
  token: string | undefined;
  /** Where the TLS settings (`MLZERO_TLS_*`) come from. */
  env: NodeJS.ProcessEnv;
}

/** The gateway from the `--gateway` and `--token` flags and the environment. */
export function gatewayFrom(values: { gateway?: string; token?: string }, env: NodeJS.ProcessEnv): GatewayConnection {
  return { address: gatewayAddressFrom(values.gateway, env), token: gatewayTokenFrom(values.token, env), env };
}

/** The bearer token: `--token`, else `MLZERO_TOKEN`; undefined when neither is set. */
export function gatewayTokenFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const fromFlag = flag?.trim();
  const token = fromFlag || env.MLZERO_TOKEN?.trim();
  if (!token) return undefined;
  if (/\s/.test(token))
    throw new InvalidInputError(`${fromFlag ? "--token" : "MLZERO_TOKEN"} must be one word (the token alone, without "Bearer")`);
  return token;
}

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
 * Calls `use` with a client of the gateway and closes it after: every call
 * carries the bearer token, over TLS when the environment asks for it.
 * A failed call comes out as an {@link RpcError} whose message is one line a
 * user can act on, naming the gateway when it could not be reached.
 */
export async function withGateway<T>(gateway: GatewayConnection, use: (tasks: TaskClient) => Promise<T>): Promise<T> {
  const { address, token } = gateway;
  let transport;
  try {
    transport = clientTransportFromEnv(gateway.env);
  } catch (error) {
    throw new InvalidInputError((error as Error).message);
  }
  const client = createClient(TaskService, address, {
    defaultTimeoutMs: UNARY_TIMEOUT_MS,
    credentials: transport.credentials,
    channelOptions: transport.options,
    metadata: token ? { authorization: `Bearer ${token}` } : {},
  });
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
    case GrpcStatus.UNAUTHENTICATED:
      return rewrite(`${error.message} (the gateway at ${address} wants a valid token: set MLZERO_TOKEN or pass --token)`);
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
