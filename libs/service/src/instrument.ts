import type { AnyEventMessage, Delivery, EventHandlers, EventName } from "@mlzero/bus";
import { DomainError } from "@mlzero/errors";
import { withLogFields, type LogFields } from "@mlzero/logging";
import { RpcError, type CallContext, type ServiceRegistration } from "@mlzero/rpc";
import { inSpan, metrics, streamInSpan, type Outcome, type Stage } from "@mlzero/telemetry";

type AnyHandler = (message: AnyEventMessage, delivery: Delivery) => Promise<void>;

/** Which of a module's handlers is a stage of the loop, for `mlzero_stage_duration_seconds`. */
export type StageHandlers = Partial<Record<EventName, Stage>>;

/**
 * A module's event handlers, each run in a span that continues the event's
 * trace (its envelope's W3C context, which the Kafka bus also writes as
 * headers), with the task, tenant and trace on every log line it writes, and
 * measured: how old the event was when it arrived (`mlzero_bus_event_age_seconds`,
 * first delivery only), how long the handler ran
 * (`mlzero_event_handler_duration_seconds`), and, for a handler that is a
 * stage, `mlzero_stage_duration_seconds`.
 */
export function instrumentHandlers(group: string, handlers: EventHandlers, stages: StageHandlers = {}): EventHandlers {
  const instrumented: Record<string, AnyHandler> = {};
  for (const [name, handler] of Object.entries(handlers) as [EventName, AnyHandler | undefined][]) {
    if (!handler) continue;
    const stage = stages[name];
    instrumented[name] = async (message, delivery) => {
      const envelope = message.envelope;
      if (delivery.attempt === 1 && envelope?.time) {
        const publishedMs = Number(envelope.time.seconds) * 1000 + envelope.time.nanos / 1e6;
        metrics.eventAge(group, name, (Date.now() - publishedMs) / 1000);
      }
      const started = performance.now();
      let outcome: Outcome = "error";
      try {
        await inSpan(
          `${group} ${name}`,
          {
            kind: "consumer",
            parent: envelope?.trace ?? {},
            attributes: {
              "messaging.operation.type": "process",
              "messaging.destination.name": delivery.topic,
              "messaging.destination.partition.id": String(delivery.partition),
              "messaging.consumer.group.name": group,
              "messaging.message.id": envelope?.eventId ?? "",
              "mlzero.event": name,
              "mlzero.task_id": envelope?.taskId ?? "",
              "mlzero.tenant": envelope?.tenant ?? "",
              "mlzero.iteration": envelope?.iteration ?? 0,
              "mlzero.delivery_attempt": delivery.attempt,
            },
          },
          (span) =>
            withLogFields({ taskId: envelope?.taskId, tenant: envelope?.tenant, traceId: span.traceId }, () => handler(message, delivery)),
        );
        outcome = "ok";
      } finally {
        const seconds = (performance.now() - started) / 1000;
        metrics.handler(group, name, seconds, outcome);
        if (stage) metrics.stage(stage, seconds, outcome);
      }
    };
  }
  return instrumented as EventHandlers;
}

/** The gRPC status name a handler's error is answered with. */
function statusName(error: unknown): string {
  if (error instanceof DomainError) return error.kind.toUpperCase();
  if (error instanceof RpcError) return error.codeName;
  return "INTERNAL";
}

type Handler = (request: never, context: CallContext) => unknown;

/** A stream whose every step runs with `fields` on its log lines (a generator's body runs in the context of each `next`). */
function eachWithLogFields<T>(fields: LogFields, stream: AsyncIterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const iterator = withLogFields(fields, () => stream[Symbol.asyncIterator]());
      return {
        next: () => withLogFields(fields, () => iterator.next()),
        return: (value?: unknown) =>
          withLogFields(fields, async () => (await iterator.return?.(value)) ?? { done: true as const, value: undefined as T }),
      };
    },
  };
}

/**
 * A service's handlers, each call run in a server span whose parent is the
 * caller's `traceparent` metadata, with the trace (and the task, when the
 * request names one) on its log lines, and timed in
 * `mlzero_rpc_duration_seconds` by method and status.
 */
export function instrumentService(registration: ServiceRegistration): ServiceRegistration {
  const handlers: Record<string, Handler> = { ...registration.handlers };
  const service = registration.service;
  for (const method of service.methods) {
    const handler = registration.handlers[method.localName];
    if (!handler) continue; // the server names what is missing
    const rpc = `${service.typeName}/${method.name}`;
    const attributes = { "rpc.system": "grpc", "rpc.service": service.typeName, "rpc.method": method.name };
    const taskOf = (request: unknown) => {
      const taskId = (request as { taskId?: unknown }).taskId;
      return typeof taskId === "string" ? taskId : undefined;
    };
    if (method.methodKind === "server_streaming") {
      handlers[method.localName] = (request: never, context: CallContext) => {
        const started = performance.now();
        const stream = streamInSpan(rpc, { kind: "server", parent: context.metadata, attributes }, (span) =>
          eachWithLogFields({ taskId: taskOf(request), traceId: span.traceId }, handler(request, context) as AsyncIterable<object>),
        );
        return (async function* () {
          let code = "OK";
          try {
            yield* stream;
          } catch (error) {
            code = statusName(error);
            throw error;
          } finally {
            metrics.rpc(rpc, context.signal.aborted && code === "OK" ? "CANCELLED" : code, (performance.now() - started) / 1000);
          }
        })();
      };
    } else {
      handlers[method.localName] = async (request: never, context: CallContext) => {
        const started = performance.now();
        let code = "OK";
        try {
          return await inSpan(rpc, { kind: "server", parent: context.metadata, attributes }, (span) =>
            withLogFields({ taskId: taskOf(request), traceId: span.traceId }, async () => handler(request, context)),
          );
        } catch (error) {
          code = statusName(error);
          throw error;
        } finally {
          metrics.rpc(rpc, code, (performance.now() - started) / 1000);
        }
      };
    }
  }
  return { service, handlers };
}
