import type { EventBus, EventHandlers, Subscription } from "@mlzero/bus";
import type { Logger } from "@mlzero/logging";
import { startGrpcServer, type RunningGrpcServer, type ServiceRegistration } from "@mlzero/rpc";
import { instrumentHandlers, instrumentService, type StageHandlers } from "./instrument.js";

/**
 * One service's wiring, independent of how it is run: the gRPC services it
 * answers and the pipeline events it handles. `main.ts` runs one module in
 * its own process; the embedded mode runs all six in one.
 */
export interface ServiceModule {
  name: string;
  grpc: ServiceRegistration[];
  /** Consumer group and handlers on the pipeline bus; none for lookup-only services. */
  pipeline?: {
    group: string;
    handlers: EventHandlers;
    /** Handlers that are a stage of the loop, timed as that stage in `mlzero_stage_duration_seconds`. */
    stages?: StageHandlers;
  };
  /**
   * Takes over what a previous process of this service left (recorded runs,
   * saved task state) before it serves. Idempotent. Only a service's own
   * process calls it: the embedded mode starts from a fresh workspace.
   */
  start?(): Promise<void>;
  /** Releases what the module holds (running programs, files). */
  stop?(): Promise<void>;
}

/** A module that is serving. */
export interface StartedModule {
  server: RunningGrpcServer | undefined;
  stop(): Promise<void>;
}

/** Options for {@link startModule}. */
export interface StartModuleOptions {
  bus: EventBus;
  logger: Logger;
  /** Where to serve gRPC; no server when omitted (in-process composition). */
  listen?: { host: string; port: number; healthPort?: number };
}

/** Subscribes a module to the bus and, when asked, serves its gRPC API. */
export async function startModule(module: ServiceModule, options: StartModuleOptions): Promise<StartedModule> {
  // Every call and every event handled is traced and measured (see instrument.ts).
  const services = module.grpc.map(instrumentService);
  const server = options.listen ? await startGrpcServer({ services, logger: options.logger, ...options.listen }) : undefined;
  const pipeline = module.pipeline;
  const subscription: Subscription | undefined = pipeline
    ? await options.bus.subscribe({
        group: pipeline.group,
        handlers: instrumentHandlers(pipeline.group, pipeline.handlers, pipeline.stages),
      })
    : undefined;
  return {
    server,
    async stop() {
      server?.setServing(false);
      await subscription?.close();
      await module.stop?.();
      await server?.stop();
    },
  };
}
