/**
 * Publishing a changed snapshot through the incremental exposition vs a full
 * render + gzip of it (the cache's work per snapshot before), in a fresh
 * child with --expose-gc. Costs are the child's CPU time (all its threads:
 * the gzip worker and the thread pool count), and wall time.
 */
import type { IncrementalOptions } from '../../src/metrics/incremental.js';
import { Child } from './ipc.js';
import type { Shape } from './render.js';
import type { PublishCost } from './serveChild.js';

interface Cost {
  readonly wallMs: number;
  readonly cpuMs: number;
}

export interface PublishResult {
  readonly tasks: number;
  /** Tasks changed by a 1 % publication. */
  readonly changed: number;
  /** Engine options other than the defaults (the block size sweep). */
  readonly engine: IncrementalOptions;
  /** Full render + one gzip member of the whole body (median). */
  readonly full: Cost;
  /** Gzip body size: one member for all vs the engine's one member a block. */
  readonly singleGzipBytes: number;
  readonly gzipBytes: number;
  /** The engine's first publication (everything rendered and compressed; starts the worker), once. */
  readonly firstPublish: PublishCost;
  /** 1 % of the tasks changed in one run, as a cycle polls them (median). */
  readonly contiguous: PublishCost;
  /** 1 % of the tasks changed at random places (median). */
  readonly scatter: PublishCost;
  /** Every task changed at once (median). */
  readonly all: PublishCost;
  /** A whole cycle published progressively: every task once, 4 % a publication (totals; the median of three cycles). */
  readonly progressive: Cost & { publications: number };
  /** CPU ms of every round, interleaved: full, contiguous, scatter, all. */
  readonly rounds: { full: Cost[]; contiguous: number[]; scatter: number[]; all: number[] };
  /** CPU time ratios to `full` (the goal: contiguous <= 0.05). */
  readonly ratio: { contiguous: number; scatter: number; all: number; progressive: number };
}

export async function publishPhase(childScript: string, shape: Shape, rounds: number, engine?: IncrementalOptions): Promise<PublishResult> {
  const child = Child.start(`publish(T=${shape.tasks}, M=${shape.machines})`, childScript);
  try {
    const r = await child.call<Omit<PublishResult, 'ratio'>>('publishCompare', { ...shape, rounds, ...(engine ? { engine } : {}) });
    const f = r.full.cpuMs;
    return { ...r, ratio: { contiguous: r.contiguous.cpuMs / f, scatter: r.scatter.cpuMs / f, all: r.all.cpuMs / f, progressive: r.progressive.cpuMs / f } };
  } finally {
    await child.stop();
  }
}
