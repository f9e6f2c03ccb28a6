import { readFile, readdir } from "node:fs/promises";

const PAGE_BYTES = 4096;

/** Resident bytes of a process and all its descendants, read from /proc. */
export async function treeResidentBytes(rootPid: number): Promise<number> {
  const parents = new Map<number, number>();
  const resident = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name, which may contain spaces: state ppid ... (rss is field 24 overall).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(pid, Number(fields[1]));
      resident.set(pid, Number(fields[21]) * PAGE_BYTES);
    } catch {
      // the process ended while we looked
    }
  }
  let total = 0;
  for (const [pid, bytes] of resident) {
    for (let current: number | undefined = pid; current !== undefined && current > 1; current = parents.get(current)) {
      if (current === rootPid) {
        total += bytes;
        break;
      }
    }
  }
  return total;
}

/** Samples a process tree's resident memory until stopped; returns the peak. */
export function samplePeakMemory(rootPid: number, intervalMs = 200): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await treeResidentBytes(rootPid));
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}
