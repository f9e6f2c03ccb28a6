import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";
import type { DeadLetter, EventBus, EventHandlers, SubscribeOptions, Subscription } from "./event-bus.js";
import { EVENT_NAMES, EVENT_TYPES, type AnyEventMessage, type EventMessage, type EventName } from "./event-types.js";
import { partitionFor } from "./partition-for.js";

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
  /** Events that failed past their retries. */
  deadLetters(): readonly DeadLetter[];
  /** Resolves when every group has handled every event published so far. */
  whenIdle(): Promise<void>;
}

interface StoredRecord {
  name: EventName;
  key: string;
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
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const member = memberFor(group, name, partition);
      if (!member) return; // the group left this topic; the position stays for whoever joins
      try {
        const message = fromBinary(EVENT_TYPES[name].schema, record.value) as EventMessage<typeof name>;
        const handler = member.handlers[name] as (m: typeof message, d: object) => Promise<void>;
        await handler(message, { topic, partition, offset, attempt });
        cursors[partition] = offset + 1;
        return;
      } catch (error) {
        lastError = error;
        logger.warn(
          { group: groupName, topic, partition, offset, attempt, key: record.key, err: describeError(error) },
          "event handler failed",
        );
        if (attempt < maxAttempts && !closed) {
          await new Promise((resolve) => setTimeout(resolve, retryBackoffMs * 2 ** (attempt - 1)));
        }
        if (closed) return;
      }
    }
    deadLetters.push({ group: groupName, topic, partition, offset, key: record.key, error: describeError(lastError), value: record.value });
    logger.error(
      { group: groupName, topic, partition, offset, key: record.key, err: describeError(lastError) },
      "event sent to dead letters",
    );
    cursors[partition] = offset + 1;
  }

  async function runWorker(groupName: string, group: Group, name: EventName, partition: number): Promise<void> {
    const records = logs.get(name)![partition]!;
    const cursors = group.cursors.get(name)!;
    while (!closed && group.members.some((member) => member.handlers[name])) {
      if (cursors[partition]! < records.length) {
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
      if (closed) throw new Error("bus is closed");
      const key = (message as AnyEventMessage).envelope?.taskId;
      if (!key) throw new Error(`${name} has no envelope task id`);
      const value = toBinary(EVENT_TYPES[name].schema, message as never);
      logs.get(name)![partitionFor(key, partitions)]!.push({ name, key, value });
      notify();
    },

    async subscribe({ group: groupName, handlers }: SubscribeOptions): Promise<Subscription> {
      if (closed) throw new Error("bus is closed");
      let group = groups.get(groupName);
      if (!group) {
        group = { members: [], cursors: new Map(), busy: 0 };
        groups.set(groupName, group);
      }
      const member: Member = { handlers };
      const joining = group;
      for (const name of Object.keys(handlers) as EventName[]) {
        const alreadyRunning = joining.members.some((existing) => existing.handlers[name]);
        if (!joining.cursors.has(name)) joining.cursors.set(name, new Array(partitions).fill(0));
        if (!alreadyRunning) {
          // Workers start after the member joins (below), so they see it.
          queueMicrotask(() => {
            for (let partition = 0; partition < partitions; partition++) startWorker(groupName, joining, name, partition);
          });
        }
      }
      joining.members.push(member);
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

    deadLetters: () => deadLetters,

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
