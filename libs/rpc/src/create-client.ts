import { create, type DescService } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Client, Metadata, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { grpcDefinition } from "./grpc-definition.js";
import { fromServiceError } from "./service-errors.js";
import type { CallOptions, ServiceClient } from "./service-handlers.js";
import { clientTransportFromEnv } from "./tls.js";
import { traceMetadata } from "./trace-metadata.js";

/** Options for {@link createClient}. */
export interface CreateClientOptions {
  /** Deadline of a unary call when the call gives none. */
  defaultTimeoutMs?: number;
  /**
   * Transport security, with the channel options that go with it; default
   * from the environment ({@link clientTransportFromEnv}: TLS with
   * `MLZERO_TLS_CA` or `MLZERO_TLS=true`, else plaintext).
   */
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** Metadata sent with every call (e.g. `authorization`); a call's own metadata wins. */
  metadata?: Record<string, string>;
}

/** A typed client plus the channel to close when done. */
export type RpcClient<S> = ServiceClient<S> & { close(): void };

/**
 * A typed promise/async-iterable client for a generated service over grpc-js.
 * Every call has a deadline; failures arrive as {@link RpcError} with the
 * status code.
 */
export function createClient<Methods extends GenServiceMethods>(
  service: GenService<Methods>,
  address: string,
  options: CreateClientOptions = {},
): RpcClient<GenService<Methods>> {
  const descriptor = service as unknown as DescService;
  const definition = grpcDefinition(descriptor);
  const transport = options.credentials
    ? { credentials: options.credentials, options: options.channelOptions ?? {} }
    : (() => {
        const fromEnv = clientTransportFromEnv();
        return { credentials: fromEnv.credentials, options: { ...fromEnv.options, ...options.channelOptions } };
      })();
  const channel = new Client(address, transport.credentials, transport.options);
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
  const client: Record<string, unknown> = { close: () => channel.close() };

  for (const method of descriptor.methods) {
    const wire = definition[method.localName]!;
    const prepare = (callOptions: CallOptions = {}, streaming: boolean) => {
      const metadata = new Metadata();
      for (const [key, value] of Object.entries({ ...traceMetadata(), ...options.metadata, ...callOptions.metadata }))
        metadata.set(key, value);
      const timeoutMs = callOptions.timeoutMs ?? (streaming ? undefined : defaultTimeoutMs);
      return { metadata, deadline: timeoutMs === undefined ? Infinity : Date.now() + timeoutMs };
    };
    if (method.methodKind === "unary") {
      client[method.localName] = (request: object, callOptions?: CallOptions) => {
        const { metadata, deadline } = prepare(callOptions, false);
        return new Promise((resolve, reject) => {
          const call = channel.makeUnaryRequest(
            wire.path,
            wire.requestSerialize,
            wire.responseDeserialize,
            create(method.input, request as never),
            metadata,
            { deadline },
            (error, response) => (error ? reject(fromServiceError(error)) : resolve(response)),
          );
          callOptions?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        });
      };
    } else if (method.methodKind === "server_streaming") {
      client[method.localName] = (request: object, callOptions?: CallOptions) => {
        const { metadata, deadline } = prepare(callOptions, true);
        const call = channel.makeServerStreamRequest(
          wire.path,
          wire.requestSerialize,
          wire.responseDeserialize,
          create(method.input, request as never),
          metadata,
          { deadline },
        );
        callOptions?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        return (async function* () {
          try {
            for await (const message of call) yield message;
          } catch (error) {
            throw fromServiceError(error);
          } finally {
            call.cancel();
          }
        })();
      };
    }
  }
  return client as RpcClient<GenService<Methods>>;
}
