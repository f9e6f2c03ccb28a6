import { describeError, FailedPreconditionError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import type { DeadLetter, DeadLetterReason, EventBus, EventHandlers, SubscribeOptions, Subscription } from "./event-bus.js";
import { decodeEvent, encodeEvent } from "./event-codec.js";
import { EVENT_NAMES, EVENT_TYPES, type EventMessage, type EventName } from "./event-types.js";
import { partitionFor } from "./partition-for.js";
import { retryDelayMs } from "./retry-delay.js";

/** Options for {@link createInProcessBus}. */
export interface InProcessBusOptions {
  logger: Logger;
  /** Partitions per topic; events of one key always land in the same one. */
  partitions?: number;
  /** Deliveries of one event before it goes to the dead letters. */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt. */
  retryBackoffMs?: number;
}

/** The in-process bus, with what tests and the embedded mode need beyond {@link EventBus}. */
export interface InProcessBus extends EventBus {
  /** Resolves when every group has handled every event published so far. */
  whenIdle(): Promise<void>;
}

interface StoredRecord {
  key: string;
  eventId: string;
  value: Uint8Array;
}

interface Member {
  handlers: EventHandlers;
}

interface Group {
  members: Member[];
  /** Next offset to deliver, per topic and partition: the committed position. */
  cursors: Map<EventName, number[]>;
  busy: number;
}

/**
 * An event bus inside one process with Kafka's semantics: per-key ordering
 * through partitions, consumer groups that each see every event, members of a
 * group sharing partitions, at-least-once delivery with redelivery on failure
 * and a dead letter after the last attempt. Payloads are encoded to protobuf
 * bytes on publish and decoded per delivery, so handlers never share objects.
 */
export function createInProcessBus(options: InProcessBusOptions): InProcessBus {
  const partitions = options.partitions ?? 8;
  const maxAttempts = options.maxAttempts ?? 5;
  const retryBackoffMs = options.retryBackoffMs ?? 100;
  const logger = options.logger;
  const logs = new Map<EventName, StoredRecord[][]>(EVENT_NAMES.map((name) => [name, Array.from({ length: partitions }, () => [])]));
  const groups = new Map<string, Group>();
  const deadLetters: DeadLetter[] = [];
  let wake: Array<() => void> = [];
  let closed = false;

  function notify(): void {
    const waiting = wake;
    wake = [];
    for (const resolve of waiting) resolve();
  }

  function nextChange(): Promise<void> {
    return new Promise((resolve) => wake.push(resolve));
  }

  function memberFor(group: Group, name: EventName, partition: number): Member | undefined {
    const able = group.members.filter((member) => member.handlers[name]);
    return able.length === 0 ? undefined : able[partition % able.length];
  }

  async function deliver(groupName: string, group: Group, name: EventName, partition: number): Promise<void> {
    const cursors = group.cursors.get(name)!;
    const offset = cursors[partition]!;
    const record = logs.get(name)![partition]![offset]!;
    const topic = EVENT_TYPES[name].topic;
    const where = { group: groupName, topic, partition, offset, key: record.key };
    const deadLetter = (reason: DeadLetterReason, error: unknown, attempts: number) => {
      deadLetters.push({
        ...where,
        eventId: record.eventId,
        reason,
        error: describeError(error),
        attempts,
        time: new Date(),
        value: record.value,
      });
      logger.error({ ...where, taskId: record.key, reason, attempts, err: describeError(error) }, "event sent to dead letters");
      cursors[partition] = offset + 1;
    };
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const member = memberFor(group, name, partition);
      if (!member) return; // the group left this topic; the position stays for whoever joins
      let message: EventMessage<typeof name>;
      try {
        // Decoded per delivery, so handlers never share objects. Decoding is
        // deterministic: an undecodable event fails on its first attempt.
        message = decodeEvent(name, record.value);
      } catch (error) {
        return deadLetter("undecodable", error, 0);
      }
      try {
        const handler = member.handlers[name] as (m: typeof message, d: object) => Promise<void>;
        await handler(message, { topic, partition, offset, attempt });
        cursors[partition] = offset + 1;
        return;
      } catch (error) {
        lastError = error;
        const { taskId, tenant } = message.envelope!;
        logger.warn({ ...where, taskId, tenant, attempt, err: describeError(error) }, "event handler failed");
        if (attempt < maxAttempts && !closed) {
          await new Promise((resolve) => setTimeout(resolve, retryDelayMs(retryBackoffMs, attempt)));
        }
        if (closed) return;
      }
    }
    deadLetter("handler_failed", lastError, maxAttempts);
  }

  async function runWorker(groupName: string, group: Group, name: EventName, partition: number): Promise<void> {
    const records = logs.get(name)![partition]!;
    const cursors = group.cursors.get(name)!;
    // A worker lives as long as the bus: while no member of its group handles
    // this event it waits, so a member that joins after another left never
    // races a worker that is still winding down.
    while (!closed) {
      if (group.members.some((member) => member.handlers[name]) && cursors[partition]! < records.length) {
        group.busy++;
        try {
          await deliver(groupName, group, name, partition);
        } finally {
          group.busy--;
          notify();
        }
      } else {
        await nextChange();
      }
    }
  }

  const workers = new Set<Promise<void>>();

  function startWorker(groupName: string, group: Group, name: EventName, partition: number): void {
    const worker = runWorker(groupName, group, name, partition).finally(() => workers.delete(worker));
    workers.add(worker);
  }

  return {
    async publish(name, message) {
      if (closed) throw new FailedPreconditionError("bus is closed");
      const { key, eventId, value } = encodeEvent(name, message);
      logs.get(name)![partitionFor(key, partitions)]!.push({ key, eventId, value });
      notify();
    },

    async subscribe({ group: groupName, handlers }: SubscribeOptions): Promise<Subscription> {
      if (closed) throw new FailedPreconditionError("bus is closed");
      let group = groups.get(groupName);
      if (!group) {
        group = { members: [], cursors: new Map(), busy: 0 };
        groups.set(groupName, group);
      }
      const member: Member = { handlers };
      const joining = group;
      for (const name of Object.keys(handlers) as EventName[]) {
        if (joining.cursors.has(name)) continue;
        // A group's first handler of an event starts at the oldest event.
        joining.cursors.set(name, new Array(partitions).fill(0));
        // Workers start after the member joins (below), so they see it.
        queueMicrotask(() => {
          for (let partition = 0; partition < partitions; partition++) startWorker(groupName, joining, name, partition);
        });
      }
      joining.members.push(member);
      notify(); // wakes the workers of a group whose earlier members left
      return {
        async close() {
          joining.members = joining.members.filter((existing) => existing !== member);
          notify();
        },
      };
    },

    async close() {
      closed = true;
      notify();
      await Promise.all([...workers]);
    },

    readDeadLetters: async () => [...deadLetters],

    async whenIdle() {
      for (;;) {
        const pending = [...groups.values()].some(
          (group) =>
            group.busy > 0 ||
            [...group.cursors.entries()].some(
              ([name, cursors]) =>
                group.members.some((member) => member.handlers[name]) &&
                cursors.some((cursor, partition) => cursor < logs.get(name)![partition]!.length),
            ),
        );
        if (!pending || closed) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
}
