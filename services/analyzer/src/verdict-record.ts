import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { IterationAnalyzedSchema, TaskFinishedSchema, type IterationAnalyzed, type TaskFinished } from "@mlzero/proto";

/** The analyzer's record of its verdict on an iteration, next to the program. */
export const VERDICT_FILE = "verdict.json";

/**
 * What the analyzer decided about one candidate's run, written before it
 * publishes the events, so a restarted analyzer that gets the same
 * ExecutionFinished again publishes the same events (same ids, same outcome)
 * instead of judging again: a second judgment could differ, since the time
 * left before the deadline is part of the decision.
 */
export interface Verdict {
  candidateId: string;
  analyzed: IterationAnalyzed;
  /** The end of the task, when the verdict was SUCCESS or GIVE_UP. */
  finished: TaskFinished | undefined;
  /** True once both events are published. */
  published: boolean;
}

interface StoredVerdict {
  version: 1;
  candidateId: string;
  analyzed: string;
  finished?: string;
  published: boolean;
}

/** The verdict recorded in an iteration folder for `candidateId`, if any. */
export async function readVerdict(iterationDir: string, candidateId: string): Promise<Verdict | undefined> {
  let stored: StoredVerdict;
  try {
    stored = JSON.parse(await readFile(path.join(iterationDir, VERDICT_FILE), "utf8")) as StoredVerdict;
  } catch {
    return undefined; // none yet (an unreadable one is judged again, as if none)
  }
  if (stored.version !== 1 || stored.candidateId !== candidateId) return undefined;
  return {
    candidateId,
    analyzed: fromBinary(IterationAnalyzedSchema, Buffer.from(stored.analyzed, "base64")),
    finished: stored.finished ? fromBinary(TaskFinishedSchema, Buffer.from(stored.finished, "base64")) : undefined,
    published: stored.published,
  };
}

/** Records a verdict atomically (a reader sees the old record or the new one). */
export async function writeVerdict(iterationDir: string, verdict: Verdict): Promise<void> {
  const stored: StoredVerdict = {
    version: 1,
    candidateId: verdict.candidateId,
    analyzed: Buffer.from(toBinary(IterationAnalyzedSchema, verdict.analyzed)).toString("base64"),
    finished: verdict.finished ? Buffer.from(toBinary(TaskFinishedSchema, verdict.finished)).toString("base64") : undefined,
    published: verdict.published,
  };
  await mkdir(iterationDir, { recursive: true });
  const file = path.join(iterationDir, VERDICT_FILE);
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, JSON.stringify(stored) + "\n");
  try {
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}
