import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { EVENT_TYPES, type EventMessage, type EventName } from "@mlzero/bus";

/** An event the analyzer decided to publish, by name. */
export type DecidedEvent = { [N in EventName]: { name: N; message: EventMessage<N> } }[EventName];

/**
 * What the analyzer decided, written before it publishes the events, so a
 * restarted analyzer that gets the same input again publishes the same events
 * (same ids, same outcome) instead of deciding again: a second decision could
 * differ, since the time left before the deadline is part of it. Two kinds:
 * the verdict on one run (`verdict.json` in its iteration folder, keyed by
 * candidate) and the plan after a round of the search (`search/round-NNN.json`).
 */
export interface Decision {
  /** What the decision is about: a candidate id, or "round-N". */
  key: string;
  events: DecidedEvent[];
  /** True once every event is published. */
  published: boolean;
}

interface StoredDecision {
  version: 2;
  key: string;
  events: { name: EventName; message: string }[];
  published: boolean;
}

/** The decision recorded in `file`, if any; with `key`, only one about it. */
export async function readDecision(file: string, key?: string): Promise<Decision | undefined> {
  let stored: StoredDecision;
  try {
    stored = JSON.parse(await readFile(file, "utf8")) as StoredDecision;
  } catch {
    return undefined; // none yet (an unreadable one is decided again, as if none)
  }
  if (stored.version !== 2 || (key !== undefined && stored.key !== key)) return undefined;
  return {
    key: stored.key,
    events: stored.events.map(
      ({ name, message }) => ({ name, message: fromBinary(EVENT_TYPES[name].schema, Buffer.from(message, "base64")) }) as DecidedEvent,
    ),
    published: stored.published,
  };
}

/** Records a decision atomically (a reader sees the old record or the new one). */
export async function writeDecision(file: string, decision: Decision): Promise<void> {
  const stored: StoredDecision = {
    version: 2,
    key: decision.key,
    events: decision.events.map(({ name, message }) => ({
      name,
      message: Buffer.from(toBinary(EVENT_TYPES[name].schema, message as never)).toString("base64"),
    })),
    published: decision.published,
  };
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, JSON.stringify(stored) + "\n");
  try {
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}
