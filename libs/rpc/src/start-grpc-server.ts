import { once } from "node:events";
import { create, toBinary, type DescFile, type DescService, type Message } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  Server,
  ServerCredentials,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "@mlzero/logging";
import { grpcDefinition } from "./grpc-definition.js";
import { toServiceError } from "./service-errors.js";
import type { CallContext, ServiceHandlers } from "./service-handlers.js";
import { serverCredentialsFromEnv } from "./tls.js";

/** A service and its implementation, ready to serve. */
export interface ServiceRegistration {
  service: DescService;
  handlers: Record<string, (request: never, context: CallContext) => unknown>;
}

/** Pairs a generated service with its handlers, checking their types. */
export function serve<Methods extends GenServiceMethods>(
  service: GenService<Methods>,
  handlers: ServiceHandlers<GenService<Methods>>,
): ServiceRegistration {
  return { service: service as unknown as DescService, handlers: handlers as ServiceRegistration["handlers"] };
}

/** Options for {@link startGrpcServer}. */
export interface StartGrpcServerOptions {
  services: ServiceRegistration[];
  logger: Logger;
  /** Interface to bind, e.g. "127.0.0.1" or "0.0.0.0". */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * Transport security; default from the environment ({@link serverCredentialsFromEnv}:
   * TLS with `MLZERO_TLS_CERT`/`MLZERO_TLS_KEY`, mutual TLS with `MLZERO_TLS_CLIENT_CA`
   * too, else plaintext).
   */
  credentials?: ServerCredentials;
  /**
   * Also answer `grpc.health.v1` alone, in plaintext, on this port (on
   * `host`; 0 picks one): for probes that cannot speak TLS, such as the
   * kubelet's gRPC probe. It tells whether the service serves and nothing else.
   */
  healthPort?: number;
}

/** A started server. */
export interface RunningGrpcServer {
  port: number;
  /** The plaintext health port, when one was asked for. */
  healthPort?: number;
  /** "host:port" a client on this machine can dial. */
  address: string;
  /** Flips every registered service's health status. */
  setServing(serving: boolean): void;
  /** Stops accepting calls, lets calls in flight finish for `graceMs`, then cuts them. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a gRPC server with the given services plus `grpc.health.v1` (one
 * status per service and the overall "") and server reflection built from the
 * same descriptors the code was generated from.
 */
export async function startGrpcServer(options: StartGrpcServerOptions): Promise<RunningGrpcServer> {
  const { logger } = options;
  const server = new Server();
  const names = options.services.map(({ service }) => service.typeName);
  const health = new HealthImplementation(Object.fromEntries(["", ...names].map((name) => [name, "NOT_SERVING" as const])));
  health.addToServer(server);
  new ReflectionService(reflectionPackage(options.services.map(({ service }) => service))).addToServer(server);

  for (const { service, handlers } of options.services) {
    const implementation: UntypedServiceImplementation = {};
    for (const method of service.methods) {
      const handler = handlers[method.localName];
      if (!handler) throw new Error(`${service.typeName} has no handler for ${method.name}`);
      const logContext = { method: `${service.typeName}/${method.name}` };
      if (method.methodKind === "unary") {
        implementation[method.localName] = (call: ServerUnaryCall<Message, Message>, callback: sendUnaryData<Message>) => {
          const context = callContext(call);
          Promise.resolve()
            .then(() => handler(call.request as never, context) as Promise<object>)
            .then(
              (response) => callback(null, create(method.output, response as never)),
              (error: unknown) => callback(toServiceError(error, logger, logContext)),
            );
        };
      } else if (method.methodKind === "server_streaming") {
        implementation[method.localName] = (call: ServerWritableStream<Message, Message>) => {
          const context = callContext(call);
          void (async () => {
            try {
              for await (const item of handler(call.request as never, context) as AsyncIterable<object>) {
                if (context.signal.aborted) return;
                if (!call.write(create(method.output, item as never))) await once(call, "drain");
              }
              call.end();
            } catch (error) {
              if (!context.signal.aborted) call.emit("error", toServiceError(error, logger, logContext));
            }
          })();
        };
      } else {
        throw new Error(`${method.methodKind} methods are not supported`);
      }
    }
    server.addService(grpcDefinition(service), implementation);
  }

  const credentials = options.credentials ?? serverCredentialsFromEnv();
  const port = await bind(server, `${options.host}:${options.port}`, credentials);
  // The same statuses, so both answer alike; no other service, no reflection.
  let healthServer: Server | undefined;
  let healthPort: number | undefined;
  if (options.healthPort !== undefined) {
    healthServer = new Server();
    health.addToServer(healthServer);
    healthPort = await bind(healthServer, `${options.host}:${options.healthPort}`, ServerCredentials.createInsecure()).catch((error) => {
      server.forceShutdown();
      throw error;
    });
    logger.info({ port: healthPort }, "plaintext health port listening");
  }
  const setServing = (serving: boolean) => {
    for (const name of ["", ...names]) health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
  };
  setServing(true);
  const dialHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  logger.info({ port, services: names, tls: credentials._isSecure() }, "gRPC server listening");

  return {
    port,
    healthPort,
    address: `${dialHost}:${port}`,
    setServing,
    async stop(graceMs = 5_000) {
      setServing(false);
      healthServer?.forceShutdown();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
}

function callContext(call: ServerUnaryCall<Message, Message> | ServerWritableStream<Message, Message>): CallContext {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort(new Error("call cancelled")));
  const deadline = call.getDeadline();
  const deadlineAt = deadline instanceof Date ? deadline.getTime() : deadline;
  return {
    signal: controller.signal,
    metadata: flattenMetadata(call.metadata),
    deadlineMs: Number.isFinite(deadlineAt) ? Math.max(0, deadlineAt - Date.now()) : undefined,
  };
}

function flattenMetadata(metadata: Metadata): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [key, values] of Object.entries(metadata.getMap())) {
    if (typeof values === "string") flat[key.toLowerCase()] = values;
  }
  return flat;
}

/**
 * The shape @grpc/reflection reads from a proto-loader package definition:
 * serialized FileDescriptorProtos, here taken from protobuf-es descriptors of
 * each service's file and everything it imports.
 */
function reflectionPackage(services: DescService[]): ConstructorParameters<typeof ReflectionService>[0] {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  services.forEach((service) => visit(service.file));
  const fileDescriptorProtos = [...files.values()].map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
  return Object.fromEntries(
    services.map((service) => [service.typeName, { fileDescriptorProtos, format: "Protocol Buffer 3 DescriptorProto" }]),
  ) as unknown as ConstructorParameters<typeof ReflectionService>[0];
}
