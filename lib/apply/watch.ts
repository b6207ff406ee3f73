/**
 * Keeping a directory applied: fs.watch (inotify) on the directory, debounced, so an editor's
 * write-to-temp-then-rename, or a configuration tool dropping many files, gives one apply after
 * the burst. Runs never overlap: a change during a run asks for one more run after it. A slow
 * periodic run is the safety net (inotify can overflow; the cluster can change under us). If the
 * directory cannot be watched (it does not exist yet, or was replaced), watching is retried at
 * the next periodic run.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { errorMessage } from '../errors.js';

export interface DirectoryWatchOptions {
  /** Quiet time after the last change before applying (default 200 ms). */
  debounceMs?: number;
  /** Periodic full apply (default 60 s; 0: never). */
  resyncMs?: number;
  signal: AbortSignal;
  /** A watch that failed (reported, retried). */
  onWatchError?: (message: string) => void;
}

/** Calls `run` now, after each burst of changes in `dir`, and periodically, until signal aborts. */
export async function keepApplied(
  dir: string,
  run: () => Promise<void>,
  opts: DirectoryWatchOptions,
): Promise<void> {
  const debounceMs = opts.debounceMs ?? 200;
  let watcher: FSWatcher | undefined;
  /** The inode watched: a directory removed and made again is watched anew. */
  let watchedIno: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let dirty = true;
  const poke = () => {
    dirty = true;
    wake?.();
  };
  const changed = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(poke, debounceMs);
  };
  const ensureWatch = () => {
    let ino: number | undefined;
    try {
      ino = statSync(dir).ino;
    } catch {
      ino = undefined;
    }
    if (watcher && ino === watchedIno) return;
    watcher?.close();
    watcher = undefined;
    if (ino === undefined) return; // not there (yet): the run reports it; retried periodically
    try {
      watcher = watch(dir, { persistent: true }, changed);
      watchedIno = ino;
      watcher.on('error', (e) => {
        opts.onWatchError?.(`watching ${dir} failed: ${errorMessage(e)}; retrying`);
        watcher?.close();
        watcher = undefined;
        changed();
      });
    } catch (e) {
      opts.onWatchError?.(`cannot watch ${dir}: ${errorMessage(e)}; retrying`);
    }
  };
  const resync = opts.resyncMs ?? 60_000;
  const interval = resync > 0 ? setInterval(poke, resync) : undefined;
  const stop = () => wake?.();
  opts.signal.addEventListener('abort', stop, { once: true });
  try {
    while (!opts.signal.aborted) {
      if (dirty) {
        dirty = false;
        ensureWatch();
        await run();
        continue;
      }
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  } finally {
    opts.signal.removeEventListener('abort', stop);
    if (timer) clearTimeout(timer);
    if (interval) clearInterval(interval);
    watcher?.close();
  }
}
