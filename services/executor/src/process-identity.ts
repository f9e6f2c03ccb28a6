import { readFileSync } from "node:fs";
import { readFile, readlink } from "node:fs/promises";

/**
 * Which process a pid named when it was recorded. A pid alone is reused
 * once its process is gone; its start time (clock ticks since boot, field 22
 * of /proc/<pid>/stat) and the boot id tell the same process from a later
 * one with the same number, also across a reboot.
 */
export interface ProcessIdentity {
  pid: number;
  startTime: number;
  bootId: string;
}

let cachedBootId: string | undefined;

/** This boot's id; changes on every reboot. */
export function bootId(): string {
  cachedBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return cachedBootId;
}

interface ProcessStat {
  state: string;
  startTime: number;
}

function parseStat(stat: string): ProcessStat {
  // The command name may hold spaces and parentheses: fields start after the
  // last ")". Field 3 (state) is the first there, field 22 (starttime) the 20th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", startTime: Number(fields[19]) };
}

/**
 * The identity of a live process, read synchronously: called right after
 * spawning, before the event loop could reap the child, so the pid still
 * names it even if it has already exited.
 */
export function identityOfChild(pid: number): ProcessIdentity | undefined {
  try {
    return { pid, startTime: parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).startTime, bootId: bootId() };
  } catch {
    return undefined;
  }
}

/** The identity of `pid` now, when it is alive (a zombie has ended: it is not). */
export async function liveIdentity(pid: number): Promise<ProcessIdentity | undefined> {
  try {
    const stat = parseStat(await readFile(`/proc/${pid}/stat`, "utf8"));
    if (stat.state === "Z" || stat.state === "X") return undefined;
    return { pid, startTime: stat.startTime, bootId: bootId() };
  } catch {
    return undefined;
  }
}

/** True while the recorded process still runs: same pid, start time and boot. */
export async function isAlive(identity: ProcessIdentity): Promise<boolean> {
  if (identity.bootId !== bootId()) return false;
  const now = await liveIdentity(identity.pid);
  return now !== undefined && now.startTime === identity.startTime;
}

/** The working directory of a process, when it can be read. */
export async function workingDirectory(pid: number): Promise<string | undefined> {
  return readlink(`/proc/${pid}/cwd`).catch(() => undefined);
}
