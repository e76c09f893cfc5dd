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

export interface FileWatch {
  close(): void;
}

/**
 * Watches the directory rather than the file: editors replace files by
 * rename and Kubernetes swaps a ConfigMap's `..data` symlink, both of which
 * a watch on the file itself would miss. Debounced; fires only when the
 * content actually changed (read with the same bounds as the loader, so a
 * special file swapped in can neither block nor exhaust the process).
 */
export function watchFile(file: string, maxBytes: number, onChange: () => void, logger: Logger): FileWatch {
  const dir = path.dirname(path.resolve(file));
  let lastHash: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const hash = async (): Promise<string> => {
    try {
      return createHash('sha256').update(await readBoundedFile(file, maxBytes)).digest('hex');
    } catch (err) {
      // Unreadable, too large or not a regular file: a change all the same, which the reload reports.
      return `unreadable: ${(err as Error).message}`;
    }
  };
  void hash().then((h) => (lastHash = h));
  const check = async (): Promise<void> => {
    const h = await hash();
    if (closed || h === lastHash) return;
    lastHash = h;
    onChange();
  };
  let w: FSWatcher | undefined;
  try {
    w = watch(dir, { persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void check(), 300);
    });
    w.on('error', (err) => logger.warn('configuration watch failed; SIGHUP still reloads', { err: err.message }));
  } catch (err) {
    logger.warn('cannot watch the configuration file; SIGHUP still reloads', { err: (err as Error).message });
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      w?.close();
    },
  };
}
