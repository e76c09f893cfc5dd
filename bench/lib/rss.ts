/**
 * Memory under continuous scraping: a fresh serving child, two load clients
 * (plain and gzip) running the whole time, and a new snapshot published
 * every interval, as poll cycles would. Per cycle: peak RSS (sampled every
 * 50 ms in the child), RSS and heap after a full GC.
 */
import { Child, type memory } from './ipc.js';
import { runLoad, type LoadClient, type LoadResult } from './load.js';
import { sleep } from './tools.js';

export interface RssOptions {
  readonly childScript: string;
  readonly tasks: number;
  readonly targets: number;
  /** Machines of the account's latest scan (0: none); they change every cycle too. */
  readonly machines: number;
  readonly client: LoadClient;
  readonly cycles: number;
  readonly intervalS: number;
  readonly log: (line: string) => void;
}

export interface RssCycle {
  readonly cycle: number;
  readonly renderMs: number;
  readonly peakRssMb: number;
  readonly rssAfterGcMb: number;
  readonly heapUsedAfterGcMb: number;
  readonly arrayBuffersAfterGcMb: number;
}

export interface RssResult {
  readonly cycles: RssCycle[];
  readonly maxPeakRssMb: number;
  /** Least-squares slope of the peak RSS over the cycles after the first (MB per cycle). */
  readonly peakSlopeMbPerCycle: number;
  /** Last cycle minus the second (the first one warms up), after GC. */
  readonly rssGrowthMb: number;
  readonly heapGrowthMb: number;
  /** Heap after GC within 5 MB over the steady cycles, and peak RSS not climbing (slope <= 3 MB a cycle). */
  readonly flat: boolean;
  readonly scrapes: number;
  /** Task-family renders over the phase: one per published snapshot, however many scrapes. */
  readonly renders: number;
  readonly load: { plain: LoadResult; gzip: LoadResult };
}

type Mem = ReturnType<typeof memory>;

export async function rssPhase(o: RssOptions): Promise<RssResult> {
  const child = Child.start(`serve-rss(T=${o.tasks})`, o.childScript);
  try {
    const init = await child.call<{ url: string }>('init', { tasks: o.tasks, targets: o.targets, machines: o.machines });
    const durationS = Math.ceil(o.cycles * (o.intervalS + 1.5) + 3);
    const before = await child.call<{ exposes: number; renders: number }>('counters');
    const loads = Promise.all([
      runLoad(o.client, { url: init.url, connections: 2, durationS }),
      runLoad(o.client, { url: init.url, connections: 2, durationS, headers: { 'Accept-Encoding': 'gzip' } }),
    ]);
    let failed: unknown;
    loads.catch((e: unknown) => (failed = e));
    await sleep(1_000);
    await child.call('peakRss');
    const cycles: RssCycle[] = [];
    for (let c = 1; c <= o.cycles; c++) {
      if (failed) throw failed;
      const pub = await child.call<{ renderMs: number }>('publish', { cycle: c });
      await sleep(o.intervalS * 1000);
      const peakRssMb = await child.call<number>('peakRss');
      const m = await child.call<Mem>('memory', { gc: true });
      cycles.push({ cycle: c, renderMs: pub.renderMs, peakRssMb, rssAfterGcMb: m.rssMb, heapUsedAfterGcMb: m.heapUsedMb, arrayBuffersAfterGcMb: m.arrayBuffersMb });
      o.log(`  cycle ${c}: render ${pub.renderMs.toFixed(0)} ms, peak RSS ${peakRssMb} MB, after GC: RSS ${m.rssMb} MB, heap ${m.heapUsedMb} MB, buffers ${m.arrayBuffersMb} MB`);
    }
    const [plain, gzip] = await loads;
    const after = await child.call<{ exposes: number; renders: number }>('counters');
    if (plain.errors + plain.non2xx + gzip.errors + gzip.non2xx > 0) throw new Error('scrapes failed during the memory phase');
    const steady = cycles.length > 1 ? cycles.slice(1) : cycles;
    const second = steady[0]!;
    const last = cycles[cycles.length - 1]!;
    const rssGrowthMb = last.rssAfterGcMb - second.rssAfterGcMb;
    const heapGrowthMb = last.heapUsedAfterGcMb - second.heapUsedAfterGcMb;
    const heaps = steady.map((c) => c.heapUsedAfterGcMb);
    const peakSlopeMbPerCycle = slope(steady.map((c) => c.peakRssMb));
    return {
      cycles,
      maxPeakRssMb: Math.max(...cycles.map((x) => x.peakRssMb)),
      peakSlopeMbPerCycle,
      rssGrowthMb,
      heapGrowthMb,
      flat: Math.max(...heaps) - Math.min(...heaps) <= 5 && peakSlopeMbPerCycle <= 3,
      scrapes: after.exposes - before.exposes,
      renders: after.renders - before.renders,
      load: { plain, gzip },
    };
  } finally {
    await child.stop();
  }
}

function slope(ys: readonly number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}
