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
  /** Watches this set of files from now on (after a reload named other certificate files). */
  update(files: readonly WatchedFile[]): void;
  close(): void;
}

/**
 * Watches the directories of `files` rather than the files: editors
 * replace files by rename and Kubernetes swaps the `..data` symlink of a
 * ConfigMap or Secret mount, both of which a watch on the file itself would
 * miss. Debounced; fires only when the content of one of the files actually
 * changed (read with the same bounds as the loaders, so a special file
 * swapped in can neither block nor exhaust the process). The configuration,
 * the web configuration and its certificate, key and CA files are watched
 * together: a rotated certificate is served without a SIGHUP.
 */
export function watchFiles(initial: readonly WatchedFile[], onChange: () => void, logger: Logger): FileWatch {
  let files = normalise(initial);
  const watchers = new Map<string, FSWatcher>();
  let lastHash: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let generation = 0;

  const hash = async (set: readonly WatchedFile[]): Promise<string> => {
    const h = createHash('sha256');
    for (const f of set) {
      h.update(f.file).update('\0');
      try {
        h.update(createHash('sha256').update(await readBoundedFile(f.file, f.maxBytes)).digest());
      } catch (err) {
        // Unreadable, too large or not a regular file: a change all the same, which the reload reports.
        h.update(`unreadable: ${(err as Error).message}`);
      }
      h.update('\0');
    }
    return h.digest('hex');
  };
  const baseline = (): void => {
    const g = ++generation;
    void hash(files).then((h) => {
      if (g === generation) lastHash = h;
    });
  };
  const check = async (): Promise<void> => {
    const g = generation;
    const h = await hash(files);
    if (closed || g !== generation || h === lastHash) return;
    lastHash = h;
    onChange();
  };
  const onEvent = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), 300);
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
  baseline();
  return {
    update(next) {
      if (closed) return;
      files = normalise(next);
      syncDirectories();
      baseline();
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
