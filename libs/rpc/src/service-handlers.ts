import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";

/** What a handler knows about its call. */
export interface CallContext {
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
  /** Request metadata, lower-cased keys, first value each. */
  metadata: Record<string, string>;
  /** Milliseconds left before the client's deadline; undefined when none. */
  deadlineMs: number | undefined;
}

type Handler<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (request: MessageShape<I>, context: CallContext) => Promise<MessageInitShape<O>>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? (request: MessageShape<I>, context: CallContext) => AsyncIterable<MessageInitShape<O>>
    : never;

/** Implementation of a generated service: one async function per method. */
export type ServiceHandlers<S> =
  S extends GenService<infer Methods extends GenServiceMethods> ? { [K in keyof Methods]: Handler<Methods[K]> } : never;

type ClientMethod<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? (request: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
    : never;

/** A typed client of a generated service. */
export type ServiceClient<S> =
  S extends GenService<infer Methods extends GenServiceMethods> ? { [K in keyof Methods]: ClientMethod<Methods[K]> } : never;

/** Per-call options of a client. */
export interface CallOptions {
  /** Milliseconds until the call's deadline; the client's default otherwise. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Extra request metadata, e.g. authorization or trace context. */
  metadata?: Record<string, string>;
}
