/**
 * Child process for the rendering, publishing and serving phases. It holds
 * what the exporter holds: a snapshot, the ExpositionCache (the incremental
 * exposition), the self-metrics registry, and the real express app behind
 * startServer. The parent publishes synthetic snapshots and reads counters
 * over IPC.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { startHttp } from '../../src/http/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { ExpositionCache } from '../../src/metrics/cache.js';
import { IncrementalExposition, type IncrementalOptions, type UpdateStats } from '../../src/metrics/incremental.js';
import { renderTaskFamilies, renderTaskFamiliesSync, renderTaskFamilyChunks } from '../../src/metrics/render.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { snapshotLayout } from '../../src/metrics/layout.js';
import { allTasks, type Snapshot, type TaskState } from '../../src/model/snapshot.js';
import type { ServingHandle } from '../../src/web/server.js';
import { mulberry32 } from '../../src/simulator/prng.js';
import { memory, serve } from './ipc.js';
import { buildRegistry, compareExpositions } from './promclient.js';
import { syntheticSnapshot, syntheticTask } from './synthetic.js';

const gzip = promisify(zlib.gzip);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

interface Shape {
  tasks: number;
  targets: number;
  /** Machines of the account's latest scan (absent or 0: none). */
  machines?: number;
}

async function timed<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/**
 * Ours vs prom-client for the same series, each timed after a full GC,
 * interleaved round by round (the order alternating) so that whatever else
 * the machine does weighs on both alike; medians of `rounds`.
 */
async function renderCompare(a: Shape & { rounds: number }) {
  const snap = syntheticSnapshot({ tasks: a.tasks, targetsPerTask: a.targets, machines: a.machines ?? 0 });
  const [registry, setMs] = await timed(() => buildRegistry(snap));
  // Warm-up (JIT) of both, not counted; also the outputs to compare.
  const oursText = (await renderTaskFamilies(snap)).toString();
  let promText = await registry.metrics();
  const eq = compareExpositions(oursText, promText);
  const plainBytes = Buffer.byteLength(oursText);
  promText = '';
  const ours: number[] = [];
  const prom: number[] = [];
  for (let r = 0; r < a.rounds; r++) {
    const runOurs = async () => {
      gc();
      ours.push((await timed(() => renderTaskFamilyChunks(snap)))[1]);
    };
    const runProm = async () => {
      gc();
      prom.push((await timed(() => registry.metrics()))[1]);
    };
    if (r % 2 === 0) {
      await runOurs();
      await runProm();
    } else {
      await runProm();
      await runOurs();
    }
  }
  const oursSync: number[] = [];
  const gz: number[] = [];
  let gzBytes = 0;
  for (let r = 0; r < a.rounds; r++) {
    gc();
    const [buf, ms] = await timed(() => renderTaskFamiliesSync(snap));
    oursSync.push(ms);
    gc();
    const [z, zms] = await timed(() => gzip(buf, { level: 6 }));
    gz.push(zms);
    gzBytes = z.length;
  }
  return {
    series: eq.oursSeries,
    plainBytes,
    gzipBytes: gzBytes,
    oursRenderMs: medianOf(ours),
    oursRenderSyncMs: medianOf(oursSync),
    gzipMs: medianOf(gz),
    promSetMs: setMs,
    promMetricsMs: medianOf(prom),
    rounds: { ours, oursSync, gzip: gz, prom },
    equivalence: eq,
  };
}

/** Wall time and CPU time of the whole process (all threads: the thread pool and the gzip worker count too). */
async function cost<T>(f: () => Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wallMs, cpuMs: (c.user + c.system) / 1000 };
}

/** One gzip member of all the chunks, in the thread pool: what the cache did once per snapshot before the incremental engine. */
function gzipChunks(chunks: readonly Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const z = zlib.createGzip({ level: 6, chunkSize: 256 * 1024 });
    const out: Buffer[] = [];
    z.on('data', (d: Buffer) => out.push(d));
    z.on('end', () => resolve(Buffer.concat(out)));
    z.on('error', reject);
    for (const c of chunks) z.write(c);
    z.end();
  });
}

export interface PublishCost {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly stats: UpdateStats;
}

/**
 * Publishing through the incremental engine vs a full render + gzip of the
 * same snapshot (the cache's work per snapshot before). Changes: 1 % of the
 * tasks replaced by their next poll's state, in one contiguous run (as a
 * cycle polls them, in configuration order) or scattered at random; every
 * task changed at once; and whole cycles published progressively, 25
 * publications of 4 % each (the median of three). Each kind is timed in a run of its own, in the
 * steady state of a running exporter (no forced GC: after one, V8 runs the
 * next few ms of work slower and sweeps on other threads, which would
 * weigh on small publications most); full renders are timed before and
 * after the publications; medians. Every publication's bytes are checked
 * against a full render. CPU time is the whole process's (the gzip worker
 * and the thread pool included).
 */
async function publishCompare(a: Shape & { rounds: number; engine?: IncrementalOptions }) {
  const snap = syntheticSnapshot({ tasks: a.tasks, targetsPerTask: a.targets, machines: a.machines ?? 0 });
  const rng = mulberry32(20_251_130);
  const layout = snapshotLayout();
  const eng = new IncrementalExposition(layout.sections, a.engine ?? {});
  let tasks: TaskState[] = [...allTasks(snap)];
  /** The synthetic snapshot with `ts` as its (single account's) tasks; its latest scan, if any, unchanged. */
  const snapOf = (ts: readonly TaskState[]): Snapshot => ({ ...snap, accounts: [{ ...snap.accounts[0]!, tasks: ts }] });
  const check = (what: string) => {
    const pub = eng.current;
    const want = renderTaskFamiliesSync(snapOf(tasks));
    if (!Buffer.concat(pub.plain).equals(want)) throw new Error(`publish ${what}: plain bytes differ from a full render`);
    if (!zlib.gunzipSync(Buffer.concat(pub.gzip)).equals(want)) throw new Error(`publish ${what}: gzip bytes differ from a full render`);
  };
  let cycle = 0;
  const publishSome = async (indices: readonly number[] | 'all'): Promise<PublishCost> => {
    cycle++;
    tasks = [...tasks];
    if (indices === 'all') for (let i = 0; i < tasks.length; i++) tasks[i] = syntheticTask(i, a.targets, cycle);
    else for (const i of indices) tasks[i] = syntheticTask(i, a.targets, cycle);
    const c = await cost(() => eng.update(layout.objects(snapOf(tasks))));
    return { wallMs: c.wallMs, cpuMs: c.cpuMs, stats: c.value.stats };
  };
  const full: { wallMs: number; cpuMs: number }[] = [];
  const fullRenders = async (k: number) => {
    for (let r = 0; r < k; r++) {
      const f = await cost(async () => gzipChunks(await renderTaskFamilyChunks(snapOf(tasks))));
      full.push({ wallMs: f.wallMs, cpuMs: f.cpuMs });
    }
  };
  // Warm-up of both paths (JIT, the worker), not counted.
  const singleGzipBytes = (await gzipChunks(await renderTaskFamilyChunks(snap))).length;
  gc();
  const first = await cost(() => eng.update(layout.objects(snapOf(tasks))));
  check('from scratch');
  const firstPublish: PublishCost = { wallMs: first.wallMs, cpuMs: first.cpuMs, stats: first.value.stats };
  const gzipBytes = first.value.gzipLength;
  for (let w = 0; w < 3; w++) await publishSome([w]);
  const n = Math.max(1, Math.round(a.tasks / 100));
  const runs = 3 * a.rounds;
  await fullRenders(a.rounds);
  const contiguous: PublishCost[] = [];
  for (let r = 0; r < runs; r++) {
    const start = Math.floor(rng() * (a.tasks - n + 1));
    contiguous.push(await publishSome(Array.from({ length: n }, (_, j) => start + j)));
  }
  check('1 % contiguous');
  const scatter: PublishCost[] = [];
  for (let r = 0; r < runs; r++) {
    const picked = new Set<number>();
    while (picked.size < n) picked.add(Math.floor(rng() * a.tasks));
    scatter.push(await publishSome([...picked]));
  }
  check('1 % scattered');
  const all: PublishCost[] = [];
  for (let r = 0; r < a.rounds; r++) all.push(await publishSome('all'));
  check('every task');
  // A cycle published progressively: every task once, in order, 4 % a publication; three cycles, the median one.
  const steps = 25;
  const cycles: { wallMs: number; cpuMs: number }[] = [];
  for (let c = 0; c < 3; c++) {
    const total = { wallMs: 0, cpuMs: 0 };
    for (let s = 0; s < steps; s++) {
      const from = Math.floor((s * a.tasks) / steps);
      const to = Math.floor(((s + 1) * a.tasks) / steps);
      const p = await publishSome(Array.from({ length: to - from }, (_, j) => from + j));
      total.wallMs += p.wallMs;
      total.cpuMs += p.cpuMs;
    }
    cycles.push(total);
  }
  const progressive = { ...[...cycles].sort((x, y) => x.cpuMs - y.cpuMs)[1]!, publications: steps };
  check('progressive cycle');
  await fullRenders(a.rounds);
  await eng.close();
  const med = (xs: readonly { wallMs: number; cpuMs: number }[]) => ({ wallMs: medianOf(xs.map((x) => x.wallMs)), cpuMs: medianOf(xs.map((x) => x.cpuMs)) });
  const pick = (xs: PublishCost[]) => {
    const m = med(xs);
    // The stats of the round nearest the median CPU time.
    const near = [...xs].sort((p, q) => Math.abs(p.cpuMs - m.cpuMs) - Math.abs(q.cpuMs - m.cpuMs))[0]!;
    return { ...m, stats: near.stats };
  };
  return {
    tasks: a.tasks,
    changed: n,
    engine: a.engine ?? {},
    full: med(full),
    singleGzipBytes,
    gzipBytes,
    firstPublish,
    contiguous: pick(contiguous),
    scatter: pick(scatter),
    all: pick(all),
    progressive,
    rounds: { full, contiguous: contiguous.map((c) => c.cpuMs), scatter: scatter.map((c) => c.cpuMs), all: all.map((c) => c.cpuMs) },
  };
}

let server: ServingHandle | undefined;
let cache: ExpositionCache | undefined;
let shape: Shape = { tasks: 0, targets: 0 };
let renders = 0;
let lastRenderMs = 0;
let exposes = 0;
let peakRss = 0;
let sampler: NodeJS.Timeout | undefined;
const eld = monitorEventLoopDelay({ resolution: 5 });

function sampleRss(): void {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
}

async function publish(cycle: number): Promise<{ buildMs: number; updateMs: number; renderMs: number }> {
  const [snap, buildMs] = await timed<Snapshot>(() => syntheticSnapshot({ tasks: shape.tasks, targetsPerTask: shape.targets, machines: shape.machines ?? 0, cycle, generation: cycle + 1 }));
  const [, updateMs] = await timed(() => cache!.update(snap));
  return { buildMs, updateMs, renderMs: lastRenderMs };
}

async function init(a: Shape) {
  shape = a;
  const self = new SelfMetrics({ version: 'bench', revision: 'bench' }); // process metrics on, as in production
  cache = new ExpositionCache(() => self.renderParts());
  cache.onRendered((_g, ms) => {
    renders++;
    lastRenderMs = ms;
  });
  // Counts scrapes that reached the cache: with `renders`, shows scrapes never render task series.
  const c = cache;
  const expose = c.expose.bind(c);
  c.expose = (n) => {
    exposes++;
    return expose(n);
  };
  server = await startHttp({ listen: { host: '127.0.0.1', port: 0 }, telemetryPath: '/metrics', cache, self, isReady: () => true, logger: silentLogger });
  const first = await publish(0);
  sampler = setInterval(sampleRss, 50);
  sampler.unref();
  eld.enable();
  return { url: `http://127.0.0.1:${server.address.port}/metrics`, ...first };
}

serve({
  renderCompare,
  publishCompare,
  init,
  publish: (a: { cycle: number }) => publish(a.cycle),
  counters: () => ({ renders, exposes, generation: cache?.generation }),
  memory: (a: { gc: boolean }) => memory(a.gc),
  /** Peak RSS since the last call (sampled every 50 ms), then resets it. */
  peakRss: () => {
    sampleRss();
    const mb = Math.round((peakRss / 1048576) * 10) / 10;
    peakRss = 0;
    return mb;
  },
  eventLoop: () => {
    const r = { p99Ms: eld.percentile(99) / 1e6, maxMs: eld.max / 1e6 };
    eld.reset();
    return r;
  },
  close: async () => {
    clearInterval(sampler);
    await server?.close(1_000);
  },
});
