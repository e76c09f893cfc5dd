/**
 * Rendering one snapshot: ours (renderTaskFamilies, as the cache runs it) vs
 * prom-client's registry.metrics() for the same series, in a fresh child
 * with --expose-gc so every timing starts from a collected heap.
 */
import { Child } from './ipc.js';
import type { Equivalence } from './promclient.js';

export interface RenderResult {
  readonly series: number;
  readonly plainBytes: number;
  readonly gzipBytes: number;
  /** The cache's render (renderTaskFamilyChunks: async, yielding), median of the rounds. */
  readonly oursRenderMs: number;
  readonly oursRenderSyncMs: number;
  /** zlib.gzip level 6 of the plain bytes (runs in the thread pool). */
  readonly gzipMs: number;
  /** Building the registry (Gauge.set of every series): not part of the comparison. */
  readonly promSetMs: number;
  readonly promMetricsMs: number;
  /** ours / prom-client metrics() (<= 0.25 is the goal). */
  readonly ratio: number;
  readonly rounds: Record<string, number[]>;
  readonly equivalence: Equivalence;
}

export interface Shape {
  readonly tasks: number;
  readonly targets: number;
  /** Machines of the account's latest scan (0: none). */
  readonly machines: number;
}

export async function renderPhase(childScript: string, shape: Shape, rounds: number): Promise<RenderResult> {
  const child = Child.start(`render(T=${shape.tasks}, M=${shape.machines})`, childScript);
  try {
    const r = await child.call<Omit<RenderResult, 'ratio'>>('renderCompare', { ...shape, rounds });
    if (!r.equivalence.sameSeries) throw new Error(`prom-client and ours differ: ${r.equivalence.firstDifference ?? ''}`);
    return { ...r, ratio: r.oursRenderMs / r.promMetricsMs };
  } finally {
    await child.stop();
  }
}
