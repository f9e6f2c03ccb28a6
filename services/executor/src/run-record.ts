import { createHash, randomBytes } from "node:crypto";
import { constants as osConstants } from "node:os";
import { link, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Program } from "@mlzero/proto";
import type { ProcessIdentity } from "./process-identity.js";

/**
 * Files of the durable run record, in the iteration folder next to the
 * program. Together they let a restarted executor tell, for every run, what
 * was launched, whether it is still running, how it ended and whether its
 * result was reported, without relying on anything the dead process held.
 */
export const RUN_FILES = {
  /** The executor's record of the run ({@link RunRecord}), replaced atomically on every change. */
  record: "run.json",
  /** The program's exit status, written by the launcher when the program ends. */
  exitStatus: "exit-status",
  /** One line per launch, appended by the launcher itself: how many times the program started. */
  launches: "launches.log",
} as const;

/**
 * Where a run is:
 * - `launching`: recorded, maybe spawned (the launcher's line in launches.log tells);
 * - `running`: spawned, its launcher process identified;
 * - `finished`: its result is recorded;
 * - `reported`: the result was handed to whoever asked for the run.
 */
export type RunState = "launching" | "running" | "finished" | "reported";

/** Why the executor stopped a run. */
export type StopReason = "timeout" | "cancel";

/** The executor's durable record of one run (`run.json`). */
export interface RunRecord {
  version: 1;
  tenant: string;
  taskId: string;
  iteration: number;
  candidateId: string;
  /** SHA-256 of the program's code and launcher: which program the record is about. */
  programSha256: string;
  /** Unique per launch; the launcher writes it, with its pid, to launches.log. */
  launchId: string;
  state: RunState;
  launchedAtMs: number;
  /** When the executor stops the run (its wall-clock limit), so an adopter enforces it too. */
  deadlineAtMs: number;
  /** The launcher process (the run's session leader), once spawned (local runs). */
  process?: ProcessIdentity;
  /** The Job that runs the program, once created (Kubernetes runs). */
  job?: string;
  stopReason?: StopReason;
  /** The ExecutionResult once finished: protobuf bytes, base64. */
  result?: string;
  /** Id to report the result under (the event id of its ExecutionFinished), the same after a restart. */
  reportId?: string;
  /** What the caller keeps with the run to report it after a restart (the executor module: its CodeGenerated). */
  context?: string;
  /** How many launches of this program were lost before this one (local runs relaunch a lost run). */
  relaunches?: number;
}

/** Which program a record is about: its code and launcher. */
export function programSha256(program: Program): string {
  return createHash("sha256").update(program.code).update("\0").update(program.launcher).digest("hex");
}

/** The record in `dir`; undefined when there is none or it is not one this executor wrote. */
export async function readRunRecord(dir: string): Promise<RunRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, RUN_FILES.record), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const record = JSON.parse(text) as RunRecord;
    return record.version === 1 && typeof record.candidateId === "string" && typeof record.state === "string" ? record : undefined;
  } catch {
    return undefined;
  }
}

async function writeTemp(dir: string, record: RunRecord): Promise<string> {
  // A name of its own per write: two writers never share a half-written file.
  const temp = path.join(dir, `.${RUN_FILES.record}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  await writeFile(temp, JSON.stringify(record, null, 2) + "\n");
  return temp;
}

/** Replaces the record in `dir` atomically: a reader sees the old one or the new one, never a mix. */
export async function writeRunRecord(dir: string, record: RunRecord): Promise<void> {
  const temp = await writeTemp(dir, record);
  try {
    await rename(temp, path.join(dir, RUN_FILES.record));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Creates the record in `dir` unless one exists; false when one does. The
 * complete file is hard-linked into place, which fails if the name is taken,
 * so of two executors claiming the same folder at once exactly one wins.
 */
export async function createRunRecord(dir: string, record: RunRecord): Promise<boolean> {
  const temp = await writeTemp(dir, record);
  try {
    await link(temp, path.join(dir, RUN_FILES.record));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** An iteration folder with its run record. */
export interface RecordedRun {
  dir: string;
  record: RunRecord;
}

/** Every run record under a workspace root (`<root>/<tenant>/<task>/iter-NNN/run.json`). */
export async function findRunRecords(root: string): Promise<RecordedRun[]> {
  const found: RecordedRun[] = [];
  const folders = async (dir: string) =>
    (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  for (const tenant of await folders(root)) {
    for (const task of await folders(path.join(root, tenant))) {
      const taskDir = path.join(root, tenant, task);
      for (const iteration of (await folders(taskDir)).filter((name) => /^iter-\d{3,}$/.test(name)).sort()) {
        const dir = path.join(taskDir, iteration);
        const record = await readRunRecord(dir).catch(() => undefined);
        if (record) found.push({ dir, record });
      }
    }
  }
  return found;
}

/** How a program ended, from the status its launcher recorded. */
export interface ExitStatus {
  /** -1 when a signal ended it. */
  exitCode: number;
  signal: string;
  /** When the status was recorded: the end of the run. */
  endedAtMs: number;
}

const SIGNAL_NAMES = new Map(Object.entries(osConstants.signals).map(([name, number]) => [number, name]));

/** The name of a signal by its number ("SIGKILL" for 9), or "" for none. */
export function signalName(number: number): string {
  return SIGNAL_NAMES.get(number) ?? "";
}

/**
 * The status the launcher recorded, undefined when it recorded none. The
 * shell reports a program that a signal ended as 128 + the signal's number,
 * so such a status is read as that signal; a program that itself exits with
 * 129..159 is read as a signal too, which POSIX shells cannot tell apart.
 */
export async function readExitStatus(dir: string): Promise<ExitStatus | undefined> {
  const file = path.join(dir, RUN_FILES.exitStatus);
  try {
    const [text, info] = await Promise.all([readFile(file, "utf8"), stat(file)]);
    const status = Number(text.trim());
    if (!/^\d+$/.test(text.trim()) || status > 255) return undefined;
    const signal = status > 128 ? signalName(status - 128) : "";
    return signal ? { exitCode: -1, signal, endedAtMs: info.mtimeMs } : { exitCode: status, signal: "", endedAtMs: info.mtimeMs };
  } catch {
    return undefined;
  }
}

/** One line of launches.log: a start of the program. */
export interface LaunchEntry {
  launchId: string;
  candidateId: string;
  pid: number;
}

/** The launches recorded in `dir`, oldest first. */
export async function readLaunches(dir: string): Promise<LaunchEntry[]> {
  const text = await readFile(path.join(dir, RUN_FILES.launches), "utf8").catch(() => "");
  return text
    .split("\n")
    .map((line) => Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map((match) => [match[1], match[2]])))
    .filter((fields) => fields.launch && fields.pid)
    .map((fields) => ({ launchId: fields.launch!, candidateId: fields.candidate ?? "", pid: Number(fields.pid) }));
}
