/**
 * Child process for the polling phase: the exporter's pipeline as the
 * daemon runs it (src/pipeline.ts: SasClient through the real SDK -> Poller
 * -> ExpositionCache, served by src/http/serve.ts), against the simulator
 * process. Cycles are started by the parent (no cron), so each is measured
 * whole; the render that follows a cycle is awaited and timed too.
 *
 * Freshness: the client is wrapped to note when each answer arrives; the
 * poller's snapshots are noted as they are published and the cache's
 * renders as they become the one served (onRendered, in the tick a scrape
 * would first see them). An answer is in every snapshot published after it
 * arrived (the poller applies it in the same tick, before any later
 * publication), so its latency to /metrics is: the first rendered
 * generation at or after the first snapshot published after it, minus its
 * arrival. Exact, without scraping.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../../src/config/load.js';
import { startHttp } from '../../src/http/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { Pipeline } from '../../src/pipeline.js';
import { SasClient } from '../../src/sas/client.js';
import { staticCredential } from '../../src/sas/credentials.js';
import type { ListVirusScanTaskRequest } from '../../src/sas/types.js';
import { DEMO_CREDENTIALS } from '../../src/simulator/index.js';
import type { ServingHandle } from '../../src/web/server.js';
import { memory, serve } from './ipc.js';
import { slidingWindowMax } from './simulator.js';

let pipeline: Pipeline | undefined;
let server: ServingHandle | undefined;
const renders = new Map<number, number>();
let callTimes: number[] = [];
const waiters = new Map<number, (ms: number) => void>();
const RESOLUTION_MS = 1;
const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });

/** performance.now() of each DescribeScanTaskProgress answer of the cycle being measured, in arrival order. */
let answers: number[] = [];
/** The latest ListVirusScanTask answer of the cycle (the listing's last page: the scan is applied right after it). */
let lastListAt: number | undefined;
/** Scan-results calls made by the exporter in the cycle being measured. */
let scanCalls = { statistic: 0, list: 0 };
/** Snapshots as the poller published them: generation and performance.now(). */
let published: { generation: number; at: number }[] = [];
/** Renders as they became the one served: generation, performance.now(), wall ms of the update. */
let served: { generation: number; at: number; ms: number }[] = [];

/** Peak RSS since the last reset, sampled every 50 ms (and at each read). */
let peakRss = 0;
const sampleRss = () => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
};
const sampler = setInterval(sampleRss, 50);
sampler.unref();

function rendered(generation: number): Promise<number> {
  const ms = renders.get(generation);
  if (ms !== undefined) return Promise.resolve(ms);
  return new Promise((resolve) => waiters.set(generation, resolve));
}

/**
 * `publishIntervalMs`: the Pipeline option (least time between two
 * publications within a cycle); absent: the production default (1 s). A
 * value longer than any cycle publishes at the cycle's end only, as the
 * exporter did before progressive publication.
 */
async function init(a: { configFile: string; publishIntervalMs?: number }) {
  sampleRss();
  const config = await loadConfig(a.configFile);
  const account = config.accounts[0]!;
  const credential = staticCredential(DEMO_CREDENTIALS.accessKeyId, DEMO_CREDENTIALS.accessKeySecret);
  const source = new SasClient({ endpoint: account.endpoint, protocol: account.protocol, region: account.region, requestTimeoutMs: account.requestTimeoutMs, credential });
  // Warm-up calls outside the poller (its task states stay untouched): the
  // SDK's first calls load and JIT-compile code, a one-off start-up cost that
  // would otherwise land in the measured cycle. The parent resets the
  // simulator's counters afterwards.
  const ids = account.tasks.slice(0, 200).map((t) => t.id);
  await Promise.all(
    Array.from({ length: 10 }, async (_, w) => {
      for (let i = w; i < ids.length; i += 10) {
        const r = await source.describeScanTaskProgress(ids[i]!);
        if (!r.ok) throw new Error(`warm-up call failed: ${r.error.code} ${r.error.message}`);
      }
    }),
  );
  // Call start times as the exporter sees them (after the rate limiter), to
  // tell the limiter's own spacing from jitter added on the way to the
  // simulator; answer times for freshness; scan-results calls counted.
  const timed = {
    describeScanTaskProgress: async (id: string) => {
      callTimes.push(performance.now());
      const r = await source.describeScanTaskProgress(id);
      answers.push(performance.now());
      return r;
    },
    getVirusScanLatestTaskStatistic: () => {
      callTimes.push(performance.now());
      scanCalls.statistic++;
      return source.getVirusScanLatestTaskStatistic();
    },
    listVirusScanTask: async (request: ListVirusScanTaskRequest) => {
      callTimes.push(performance.now());
      scanCalls.list++;
      const r = await source.listVirusScanTask(request);
      lastListAt = performance.now();
      return r;
    },
  };
  // The production wiring; cycles are started by the parent (runOnce), not by cron.
  const p = new Pipeline(config, {
    logger: silentLogger,
    makeSource: () => timed,
    self: new SelfMetrics({ version: 'bench', revision: 'bench' }),
    ...(a.publishIntervalMs !== undefined ? { publishIntervalMs: a.publishIntervalMs } : {}),
  });
  pipeline = p;
  // Registered after the Pipeline's own listener: called in the same publish(), same tick.
  p.poller.onSnapshot((snap) => published.push({ generation: snap.generation, at: performance.now() }));
  p.cache.onRendered((g, ms) => {
    served.push({ generation: g, at: performance.now(), ms });
    renders.set(g, ms);
    waiters.get(g)?.(ms);
    waiters.delete(g);
  });
  server = await startHttp({ listen: { host: '127.0.0.1', port: 0 }, telemetryPath: '/metrics', cache: p.cache, self: p.self, isReady: () => p.ready, logger: silentLogger });
  await rendered(p.poller.current().generation);
  return {
    url: `http://127.0.0.1:${server.address.port}`,
    tasks: account.tasks.length,
    latestScan: account.latestScan.enabled,
    qps: account.rateLimit.qps,
    burst: account.rateLimit.burst,
    concurrency: account.concurrency,
  };
}

const pct = (sorted: readonly number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN);

/** How long after arriving each answer was on /metrics (see the file's comment). */
function latencies(times: readonly number[]): number[] {
  const out: number[] = [];
  let p = 0;
  let s = 0;
  for (const t of times) {
    while (p < published.length && published[p]!.at < t) p++;
    const gen = published[p]?.generation;
    if (gen === undefined) throw new Error('an answer was never published');
    while (s < served.length && served[s]!.generation < gen) s++;
    const r = served[s];
    if (!r) throw new Error(`snapshot ${gen} was never rendered`);
    out.push(r.at - t);
  }
  return out;
}

/** One whole cycle, then the render of its snapshot; event-loop delay, CPU and freshness over both. */
async function cycle() {
  eld.reset();
  eld.enable();
  callTimes = [];
  answers = [];
  lastListAt = undefined;
  scanCalls = { statistic: 0, list: 0 };
  published = [];
  served = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const stats = await pipeline!.poller.runOnce();
  const cycleEnd = performance.now();
  const renderMs = await rendered(pipeline!.poller.current().generation);
  const totalMs = performance.now() - t0;
  eld.disable();
  const cpu = process.cpuUsage(cpu0);
  const lat = latencies(answers).sort((a, b) => a - b);
  const scanLatencyMs = lastListAt === undefined ? undefined : latencies([lastListAt])[0];
  const renderSumMs = served.reduce((a, r) => a + r.ms, 0);
  return {
    stats,
    cycleMs: cycleEnd - t0,
    renderMs,
    renderDoneAtMs: totalMs,
    clientSlidingMax: slidingWindowMax(callTimes),
    /** CPU time of this process (all threads) over cycle + render, in ms and in % of one core. */
    cpuMs: (cpu.user + cpu.system) / 1000,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / totalMs) * 100,
    eventLoop: { resolutionMs: RESOLUTION_MS, p50Ms: eld.percentile(50) / 1e6, p99Ms: eld.percentile(99) / 1e6, maxMs: eld.max / 1e6 },
    freshness: {
      answers: lat.length,
      p50Ms: pct(lat, 50),
      p90Ms: pct(lat, 90),
      p99Ms: pct(lat, 99),
      maxMs: lat[lat.length - 1] ?? NaN,
      /** The latest scan's listing, from its last page's answer to /metrics. */
      scanMs: scanLatencyMs,
      publications: published.length,
      renders: served.length,
      /** Wall time of the renders that became the one served, summed. */
      renderSumMs,
    },
    scanCalls,
    /** Every answer's latency, ms, sorted (the parent pools the runs of a mode). */
    latencies: lat.map((x) => Math.round(x * 10) / 10),
  };
}

serve({
  init,
  cycle,
  memory: (a: { gc: boolean }) => memory(a.gc),
  /** Peak RSS (MB) since the last call, then resets it. */
  peakRss: () => {
    sampleRss();
    const mb = Math.round((peakRss / 1048576) * 10) / 10;
    peakRss = 0;
    return mb;
  },
  close: async () => {
    clearInterval(sampler);
    await pipeline?.stop(1_000);
    await server?.close(1_000);
  },
});
