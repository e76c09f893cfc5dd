/**
 * Child process for the rendering and serving phases. It holds what the
 * exporter holds: a snapshot, the ExpositionCache (plain + gzip buffers), the
 * self-metrics registry, and the real express app behind startServer. The
 * parent publishes synthetic snapshots and reads counters over IPC.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { startHttp } from '../../src/http/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { ExpositionCache } from '../../src/metrics/cache.js';
import { renderTaskFamilies, renderTaskFamiliesSync, renderTaskFamilyChunks } from '../../src/metrics/render.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import type { ServingHandle } from '../../src/web/server.js';
import { memory, serve } from './ipc.js';
import { buildRegistry, compareExpositions } from './promclient.js';
import { syntheticSnapshot } from './synthetic.js';

const gzip = promisify(zlib.gzip);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

interface Shape {
  tasks: number;
  targets: number;
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
  const snap = syntheticSnapshot({ tasks: a.tasks, targetsPerTask: a.targets });
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
  const [snap, buildMs] = await timed<Snapshot>(() => syntheticSnapshot({ tasks: shape.tasks, targetsPerTask: shape.targets, cycle, generation: cycle + 1 }));
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
