import { create, type DescService } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallOptions, ServiceClient, ServiceHandlers } from "./service-handlers.js";

/**
 * A client that calls a service's handlers in this process, with the same
 * signatures as a gRPC client from {@link createClient}. The embedded mode
 * wires services with it; the cluster wires the same code with gRPC clients.
 */
export function localClient<Methods extends GenServiceMethods>(
  service: GenService<Methods>,
  handlers: ServiceHandlers<GenService<Methods>>,
): ServiceClient<GenService<Methods>> {
  const descriptor = service as unknown as DescService;
  const implementations = handlers as Record<string, (request: unknown, context: object) => unknown>;
  const client: Record<string, unknown> = {};
  for (const method of descriptor.methods) {
    const handler = implementations[method.localName]!;
    const context = (options: CallOptions = {}) => ({
      signal: options.signal ?? new AbortController().signal,
      metadata: options.metadata ?? {},
      deadlineMs: options.timeoutMs,
    });
    client[method.localName] =
      method.methodKind === "server_streaming"
        ? (request: object, options?: CallOptions) =>
            (async function* () {
              for await (const item of handler(create(method.input, request as never), context(options)) as AsyncIterable<object>) {
                yield create(method.output, item as never);
              }
            })()
        : async (request: object, options?: CallOptions) =>
            create(method.output, (await handler(create(method.input, request as never), context(options))) as never);
  }
  return client as ServiceClient<GenService<Methods>>;
}
