import type { KubernetesObject, Watch } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "@mlzero/errors";
import type { Logger } from "@mlzero/logging";

/** What a {@link ListWatch} follows: one kind of object in one namespace, by label. */
export interface ListWatchOptions<T extends KubernetesObject> {
  /** What the list finds: the objects and the resource version to watch from. */
  list(): Promise<{ items: T[]; resourceVersion: string }>;
  /** The collection's API path, e.g. `/apis/batch/v1/namespaces/jobs/jobs`. */
  path: string;
  labelSelector: string;
  watch: Watch;
  /** Called for every object the list or the watch reports, in order; `deleted` once it is gone. */
  onChange(object: T, deleted: boolean): void;
  logger: Logger;
  /** A full list this often, whatever the watch says (default 5 min). */
  resyncMs?: number;
  /** Longest pause between attempts after errors (default 5 s). */
  maxBackoffMs?: number;
}

/**
 * A list-then-watch loop that does not go silent: it lists, then watches from
 * the list's resource version with bookmarks; a watch that ends (the server
 * closes it, the connection drops, the client's inactivity timeout fires)
 * is resumed from the last version seen; a 410 Gone (that version is too old)
 * lists again, and so does a periodic resync, in case a connection stays
 * open but delivers nothing. Objects that vanished between two lists are
 * reported deleted.
 */
export class ListWatch<T extends KubernetesObject> {
  private readonly objects = new Map<string, T>();
  private resourceVersion = "";
  private stopped = false;
  /** Ends the watch in progress; set while one runs. */
  private endWatch: (() => void) | undefined;
  private relistWanted = true;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly options: ListWatchOptions<T>) {}

  /** Starts the loop; resolves after the first list (rejects when it fails). */
  async start(): Promise<void> {
    await this.relist();
    this.loop = this.run();
  }

  /** The objects as last seen. */
  current(): T[] {
    return [...this.objects.values()];
  }

  /** Lists again at once (the watch is restarted from the new list). */
  resync(): void {
    this.relistWanted = true;
    this.endWatch?.();
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.endWatch?.();
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { logger, maxBackoffMs = 5_000, resyncMs = 300_000 } = this.options;
    const timer = setInterval(() => this.resync(), resyncMs);
    timer.unref();
    let failures = 0;
    try {
      while (!this.stopped) {
        try {
          if (this.relistWanted) await this.relist();
          await this.watchOnce();
          failures = 0;
        } catch (error) {
          failures++;
          logger.warn({ path: this.options.path, err: describeError(error), failures }, "watch failed; trying again");
          await this.pause(Math.min(maxBackoffMs, 100 * 2 ** failures));
        }
      }
    } finally {
      clearInterval(timer);
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.options.list();
    this.relistWanted = false;
    const seen = new Set<string>();
    for (const item of items) {
      const name = item.metadata!.name!;
      seen.add(name);
      this.objects.set(name, item);
      this.options.onChange(item, false);
    }
    for (const [name, object] of this.objects) {
      if (!seen.has(name)) {
        this.objects.delete(name);
        this.options.onChange(object, true);
      }
    }
    this.resourceVersion = resourceVersion;
  }

  /** One watch from the last version seen, until it ends; a 410 or an ERROR event asks for a list. */
  private watchOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const { watch, path, labelSelector } = this.options;
      const query = { labelSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: true };
      let controller: AbortController | undefined;
      let endedByUs = false;
      this.endWatch = () => {
        endedByUs = true;
        controller?.abort();
      };
      const onEvent = (type: string, object: T) => {
        if (type === "ERROR") {
          // An expired version (410 Gone) or another failure: the watch cannot go on from here.
          this.relistWanted = true;
          this.endWatch?.();
          return;
        }
        const version = object.metadata?.resourceVersion;
        if (version) this.resourceVersion = version;
        if (type === "BOOKMARK") return;
        const name = object.metadata!.name!;
        if (type === "DELETED") this.objects.delete(name);
        else this.objects.set(name, object);
        this.options.onChange(object, type === "DELETED");
      };
      const onDone = (error: unknown) => {
        this.endWatch = undefined;
        if ((error as { statusCode?: number } | null)?.statusCode === 410) this.relistWanted = true;
        // Ended by us (resync, stop), closed by the server, or silent past the
        // client's inactivity timeout: each just goes round again.
        if (!error || endedByUs || (error as Error).name === "TimeoutError") resolve();
        else reject(error as Error);
      };
      watch.watch(path, query, onEvent, onDone).then((started) => {
        controller = started;
        if (endedByUs || this.stopped) started.abort();
      }, reject);
    });
  }

  private async pause(ms: number): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
    await Promise.race([sleep(ms, undefined, { ref: false }), woken]);
    this.wakeUp = undefined;
  }
}
