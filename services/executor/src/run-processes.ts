import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** One live process as /proc describes it. */
interface ProcessEntry {
  pid: number;
  ppid: number;
  sid: number;
}

/**
 * Live processes of the host. Zombies are left out: they hold no memory and
 * cannot be killed, and a container's init may never reap them.
 */
async function readProcesses(): Promise<ProcessEntry[]> {
  const names = (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
  const entries = await Promise.all(
    names.map(async (name) => {
      try {
        const stat = await readFile(`/proc/${name}/stat`, "utf8");
        // The command name may hold spaces and parentheses: fields start after the last ")".
        const [state, ppid, , sid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (state === "Z" || state === "X") return undefined;
        return { pid: Number(name), ppid: Number(ppid), sid: Number(sid) };
      } catch {
        return undefined; // exited between readdir and readFile
      }
    }),
  );
  return entries.filter((entry): entry is ProcessEntry => entry !== undefined);
}

/** The live processes of a run, and whether its own session still has members. */
interface RunScan {
  pids: number[];
  sessionAlive: boolean;
}

async function scanRun(leaderPid: number): Promise<RunScan> {
  const processes = await readProcesses();
  const children = new Map<number, number[]>();
  for (const entry of processes) children.set(entry.ppid, [...(children.get(entry.ppid) ?? []), entry.pid]);
  const found = new Set(processes.filter((entry) => entry.sid === leaderPid).map((entry) => entry.pid));
  const sessionAlive = found.size > 0;
  const queue = [...found];
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    for (const child of children.get(pid) ?? []) {
      if (!found.has(child)) {
        found.add(child);
        queue.push(child);
      }
    }
  }
  return { pids: [...found], sessionAlive };
}

/**
 * Pids of a run whose launcher was spawned as a session leader: every process
 * of its session, plus descendants that left the session with setsid() while
 * their parent is alive. The session id cannot be reused while any member
 * lives (the kernel keeps the pid allocated), so matching on it is safe even
 * after the leader has exited.
 */
export async function runProcesses(leaderPid: number): Promise<number[]> {
  return (await scanRun(leaderPid)).pids;
}

/**
 * Resident memory of the processes, summed from /proc/<pid>/status. Pages
 * shared between processes (libraries, fork copy-on-write) count once per
 * process, so this is an upper bound of what the run really holds.
 */
export async function residentBytes(pids: number[]): Promise<number> {
  const sizes = await Promise.all(
    pids.map(async (pid) => {
      try {
        const status = await readFile(`/proc/${pid}/status`, "utf8");
        const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
        return match ? Number(match[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    }),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

function signalAll(leaderPid: number, scan: RunScan, signal: NodeJS.Signals): void {
  // The group signal is atomic, so it also hits a process forked since the
  // scan; it is sent only while the session lives, because only then can the
  // group id not have been reused. The pid list reaches processes that moved
  // to another group or session.
  const targets = scan.sessionAlive ? [-leaderPid, ...scan.pids] : scan.pids;
  for (const target of targets) {
    try {
      process.kill(target, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops every process of a run: SIGTERM, then SIGKILL for whatever is still
 * alive after `graceMs`, repeated (a forking program may spawn between two
 * signals) until nothing is left or `killWaitMs` more have passed, as a
 * process stuck in the kernel cannot die before its call returns.
 */
export async function terminateRun(leaderPid: number, graceMs: number, killWaitMs = 10_000, pollMs = 25): Promise<void> {
  let scan = await scanRun(leaderPid);
  if (scan.pids.length === 0) return;
  signalAll(leaderPid, scan, "SIGTERM");
  const graceEnd = Date.now() + graceMs;
  while (scan.pids.length > 0 && Date.now() < graceEnd) {
    await sleep(pollMs);
    scan = await scanRun(leaderPid);
  }
  const killEnd = Date.now() + killWaitMs;
  while (scan.pids.length > 0 && Date.now() < killEnd) {
    signalAll(leaderPid, scan, "SIGKILL");
    await sleep(pollMs);
    scan = await scanRun(leaderPid);
  }
}
