import { readFile, stat } from "node:fs/promises";
import { ConfigError } from "@mlzero/config";
import type { Logger } from "@mlzero/logging";

/** Options for {@link openReloadableFile}. */
export interface ReloadableFileOptions<T> {
  file: string;
  /** The variable that names the file, for the error at start. */
  variable: string;
  /** What it holds, for log lines: e.g. "token" ("the token file", "the tokens in force"). */
  what: string;
  /** The file's content, or an error whose message never quotes a secret. */
  parse(text: string): T;
  /** Logs what was loaded (without secrets), at start and after each reload. */
  onLoad(value: T, reloaded: boolean): void;
  logger: Logger;
  /** How often a caller may look at the file for a change (default 1 s; 0: every time). */
  checkEveryMs?: number;
}

/** A file's parsed content, kept current. */
export interface ReloadableFile<T> {
  current(): Promise<T>;
}

/**
 * A configuration file read at start (a missing or malformed one is a
 * ConfigError naming its variable) and again when it changes (modification
 * time, size or inode, as a Kubernetes secret or ConfigMap update swaps it),
 * looked at on a call at most every `checkEveryMs`: no restart needed. A
 * change that cannot be read or parsed keeps the content in force and is
 * logged (without the content); write the file whole (a rename) so that no
 * half-written file is read.
 */
export async function openReloadableFile<T>(options: ReloadableFileOptions<T>): Promise<ReloadableFile<T>> {
  const { file, what, logger } = options;
  const checkEveryMs = options.checkEveryMs ?? 1_000;
  const read = async () => {
    const info = await stat(file);
    return { version: versionOf(info), value: options.parse(await readFile(file, "utf8")) };
  };
  let loaded: Awaited<ReturnType<typeof read>>;
  try {
    loaded = await read();
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${options.variable}: ${file}: ${problem(error)}`);
  }
  options.onLoad(loaded.value, false);
  let checkedAt = Date.now();
  let checking: Promise<void> | undefined;

  async function refresh(): Promise<void> {
    checkedAt = Date.now();
    let version: string;
    try {
      version = versionOf(await stat(file));
    } catch (error) {
      logger.warn({ file, err: problem(error) }, `cannot look at the ${what} file; the ${what}s in force stay`);
      return;
    }
    if (version === loaded.version) return;
    try {
      loaded = await read();
      options.onLoad(loaded.value, true);
    } catch (error) {
      logger.error({ file, err: problem(error) }, `cannot reload the ${what} file; the ${what}s in force stay`);
    }
  }

  return {
    async current() {
      if (Date.now() - checkedAt >= checkEveryMs) {
        checking ??= refresh().finally(() => (checking = undefined));
        await checking;
      }
      return loaded.value;
    },
  };
}

function versionOf(info: { mtimeMs: number; size: number; ino: number; dev: number }): string {
  return `${info.mtimeMs}:${info.size}:${info.ino}:${info.dev}`;
}

/** An error for a log line: the parser's message, or the system error's code. */
function problem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code) return `cannot read the file (${code})`;
  return error instanceof Error ? error.message : String(error);
}
