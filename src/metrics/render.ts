/**
 * The reference full render of a snapshot (every section of layout.ts), what
 * the incremental engine's output is checked against and the benchmark
 * compares with prom-client. Runs once
 * per snapshot, not per scrape, and yields to the event loop every few ms so
 * health checks and scrapes stay fast while a large snapshot renders.
 *
 * Lines are gathered in short strings (~64 KB) that are UTF-8 encoded
 * straight into 1 MB output chunks, which the cache serves as they are: no
 * per-slice buffers, no concatenation into one 22 MB buffer, no rope of a
 * whole family to flatten. At 10,000 tasks x 10 targets (210k series, 22 MB)
 * this is ~4-6x faster than prom-client's registry.metrics() for the same
 * series (see bench/).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Snapshot, TaskState } from '../model/snapshot.js';
import { escapeHelp, formatValue } from './exposition.js';
import type { Family } from './family.js';
import type { LabelLimits } from './labels.js';
import { snapshotLayout } from './layout.js';

/**
 * Work between two yields to the event loop, checked every 16 tasks: long
 * enough that the yields themselves cost little (a render of 210k series
 * yields ~40 times), short enough that a health check or scrape never waits
 * behind a render for more than a few ms.
 */
const SLICE_MS = 5;
/** Lines are encoded into the output once this many characters are pending. */
const FLUSH_CHARS = 64 * 1024;

export interface RenderOptions {
  /** The task families (default TASK_FAMILIES). */
  readonly families?: readonly Family<TaskState>[];
  /** Also yield after this many tasks (default: by time only, every ~5 ms). */
  readonly yieldEvery?: number;
  /** Bounds on API-provided label values (default: bounds that count nothing). */
  readonly labels?: LabelLimits;
}

function header(f: Family<unknown>): string {
  return `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
}

/** Output chunk size: big enough for few writes per scrape, small enough to be reused by the allocator. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * Strings are UTF-8 encoded into fixed-size chunks. A string is never split
 * (they hold whole lines), so each chunk ends on a line boundary. No size
 * estimate, no buffer grown by copying, no allocation the size of the whole
 * exposition.
 */
class Sink {
  readonly chunks: Buffer[] = [];
  private buf: Buffer | undefined;
  private len = 0;

  write(s: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 code unit.
    if (!this.buf || (this.len + s.length * 3 > this.buf.length && this.len + Buffer.byteLength(s) > this.buf.length)) {
      this.seal();
      this.buf = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, Buffer.byteLength(s)));
      this.len = 0;
    }
    this.len += this.buf.write(s, this.len);
  }

  seal(): void {
    if (this.buf && this.len > 0) this.chunks.push(this.buf.subarray(0, this.len));
    this.buf = undefined;
  }
}

function* render(snapshot: Snapshot, opts: RenderOptions, sink: Sink): Generator<void, void, void> {
  const slice = Math.max(1, opts.yieldEvery ?? Infinity);
  let out = '';
  let sliceStart = performance.now();
  let inSlice = 0;
  const layout = snapshotLayout(opts.families, opts.labels);
  const lists = layout.objects(snapshot);
  for (const [i, section] of layout.sections.entries()) {
    const objects = lists[i]!;
    const prefixes = objects.map((o) => section.labelPrefix(o));
    for (const f of section.families as readonly Family<object>[]) {
      // A family without samples is left out whole: HELP/TYPE alone would only add noise.
      let head: string | undefined = header(f);
      const name = f.name;
      const emit = (labels: string, value: number): void => {
        if (head !== undefined) {
          out += head;
          head = undefined;
        }
        out += (labels === '' ? name : `${name}{${labels}}`) + ' ' + formatValue(value) + '\n';
      };
      for (let i = 0; i < objects.length; i++) {
        f.samples(objects[i], prefixes[i]!, emit);
        if (out.length >= FLUSH_CHARS) {
          sink.write(out);
          out = '';
        }
        if (++inSlice >= slice || ((inSlice & 15) === 0 && performance.now() - sliceStart >= SLICE_MS)) {
          yield;
          inSlice = 0;
          sliceStart = performance.now();
        }
      }
    }
  }
  if (out) sink.write(out);
}

/** The exposition as chunks (each ends on a line boundary): what the cache keeps and serves. */
export async function renderTaskFamilyChunks(snapshot: Snapshot, opts: RenderOptions = {}): Promise<Buffer[]> {
  const sink = new Sink();
  for (const _ of render(snapshot, opts, sink)) await yieldToLoop();
  sink.seal();
  return sink.chunks;
}

/** Synchronous form, for tests and small snapshots. */
export function renderTaskFamiliesSync(snapshot: Snapshot, opts: RenderOptions = {}): Buffer {
  const sink = new Sink();
  for (const _ of render(snapshot, { ...opts, yieldEvery: Infinity }, sink));
  sink.seal();
  return Buffer.concat(sink.chunks);
}

export async function renderTaskFamilies(snapshot: Snapshot, opts: RenderOptions = {}): Promise<Buffer> {
  return Buffer.concat(await renderTaskFamilyChunks(snapshot, opts));
}
