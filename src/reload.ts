/**
 * Reloads of the configuration (SIGHUP, POST /-/reload, a change of the
 * file): serialised, so a burst of triggers runs one reload after another,
 * never two at once; a failed reload leaves the running configuration in
 * place and never stands in the way of the next one.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from './log/logger.js';
import { readBoundedFile } from './yaml/file.js';

export type ReloadOutcome = { ok: true } | { ok: false; error: string };

export class Reloader {
  /** Settles when the last queued reload has finished; never rejects. */
  private tail: Promise<unknown> = Promise.resolve();

  /** `run` loads, validates and applies, or returns why not; it must not throw. */
  constructor(private readonly run: (trigger: string) => Promise<ReloadOutcome>) {}

  reload(trigger: string): Promise<ReloadOutcome> {
    const next = this.tail.then(() => this.run(trigger));
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every reload queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}

/** A file the exporter reads, with the bound it is read with. */
export interface WatchedFile {
  readonly file: string;
  readonly maxBytes: number;
}

export interface FileWatch {
  /** Settles once the files first given have been fingerprinted: changes from then on are seen. */
  readonly ready: Promise<void>;
  /**
   * Watches this set of files from now on (after a reload named other
   * certificate files). Files already watched keep their fingerprint, so a
   * change made meanwhile is still seen; new ones are fingerprinted now.
   */
  update(files: readonly WatchedFile[]): void;
  close(): void;
}

/**
 * Watches the directories of `files` rather than the files: editors
 * replace files by rename and Kubernetes swaps the `..data` symlink of a
 * ConfigMap or Secret mount, both of which a watch on the file itself would
 * miss. Debounced; fires only when the content of one of the files actually
 * changed, compared with a fingerprint per file (read with the same bounds
 * as the loaders, so a special file swapped in can neither block nor
 * exhaust the process). The configuration, the web configuration and its
 * certificate, key and CA files are watched together: a rotated certificate
 * is served without a SIGHUP.
 *
 * Start it before the files are loaded and wait for `ready`: a change made
 * between the fingerprint and the load is then seen as a change (one reload
 * too many, harmless) rather than missed.
 */
export function watchFiles(initial: readonly WatchedFile[], onChange: () => void, logger: Logger): FileWatch {
  let files = normalise(initial);
  const watchers = new Map<string, FSWatcher>();
  /** file -> fingerprint of its content (or of why it cannot be read). */
  const prints = new Map<string, string>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let checking: Promise<void> = Promise.resolve();

  const fingerprint = async (f: WatchedFile): Promise<string> => {
    try {
      return createHash('sha256').update(await readBoundedFile(f.file, f.maxBytes)).digest('hex');
    } catch (err) {
      // Unreadable, too large or not a regular file: a change all the same, which the reload reports.
      return `unreadable: ${(err as Error).message}`;
    }
  };
  /** Fingerprints the files that have none yet; forgets those no longer watched. */
  const baseline = async (): Promise<void> => {
    const wanted = new Set(files.map((f) => f.file));
    for (const file of prints.keys()) if (!wanted.has(file)) prints.delete(file);
    for (const f of files) if (!prints.has(f.file)) prints.set(f.file, await fingerprint(f));
  };
  const check = async (): Promise<void> => {
    let changed = false;
    for (const f of files) {
      const now = await fingerprint(f);
      if (closed) return;
      if (prints.get(f.file) !== now) {
        prints.set(f.file, now);
        changed = true;
      }
    }
    if (changed) onChange();
  };
  // Checks and baselines run one after another, never interleaved.
  const serially = (task: () => Promise<void>): Promise<void> => (checking = checking.then(task, task));
  const onEvent = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void serially(check), 300);
  };
  const syncDirectories = (): void => {
    const dirs = new Set(files.map((f) => path.dirname(f.file)));
    for (const [dir, w] of watchers) {
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, onEvent);
        w.on('error', (err) => logger.warn('file watch failed; SIGHUP still reloads', { dir, err: err.message }));
        watchers.set(dir, w);
      } catch (err) {
        logger.warn('cannot watch a directory; SIGHUP still reloads', { dir, err: (err as Error).message });
      }
    }
  };
  syncDirectories();
  const ready = serially(baseline);
  return {
    ready,
    update(next) {
      if (closed) return;
      files = normalise(next);
      syncDirectories();
      void serially(baseline);
    },
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

function normalise(files: readonly WatchedFile[]): WatchedFile[] {
  const seen = new Map<string, WatchedFile>();
  for (const f of files) {
    const file = path.resolve(f.file);
    if (!seen.has(file)) seen.set(file, { file, maxBytes: f.maxBytes });
  }
  return [...seen.values()];
}
