/**
 * Child process for the polling phase: the exporter's pipeline as the
 * daemon runs it (src/pipeline.ts: SasClient through the real SDK -> Poller
 * -> ExpositionCache, served by src/http/serve.ts), against the simulator
 * process. Cycles are started by the parent (no cron), so each is measured
 * whole; the render that follows a cycle is awaited and timed too.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../../src/config/load.js';
import { startHttp } from '../../src/http/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { Pipeline } from '../../src/pipeline.js';
import { SasClient } from '../../src/sas/client.js';
import { staticCredential } from '../../src/sas/credentials.js';
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

function rendered(generation: number): Promise<number> {
  const ms = renders.get(generation);
  if (ms !== undefined) return Promise.resolve(ms);
  return new Promise((resolve) => waiters.set(generation, resolve));
}

async function init(a: { configFile: string }) {
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
  // tell the limiter's own spacing from jitter added on the way to the simulator.
  const timed = {
    describeScanTaskProgress: (id: string) => {
      callTimes.push(performance.now());
      return source.describeScanTaskProgress(id);
    },
  };
  // The production wiring; cycles are started by the parent (runOnce), not by cron.
  const p = new Pipeline(config, { logger: silentLogger, makeSource: () => timed, self: new SelfMetrics({ version: 'bench', revision: 'bench' }) });
  pipeline = p;
  p.cache.onRendered((g, ms) => {
    renders.set(g, ms);
    waiters.get(g)?.(ms);
    waiters.delete(g);
  });
  server = await startHttp({ listen: { host: '127.0.0.1', port: 0 }, telemetryPath: '/metrics', cache: p.cache, self: p.self, isReady: () => p.ready, logger: silentLogger });
  await rendered(p.poller.current().generation);
  return { url: `http://127.0.0.1:${server.address.port}`, tasks: account.tasks.length, qps: account.rateLimit.qps, burst: account.rateLimit.burst, concurrency: account.concurrency };
}

/** One whole cycle, then the render of its snapshot; event-loop delay over both. */
async function cycle() {
  eld.reset();
  eld.enable();
  callTimes = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const stats = await pipeline!.poller.runOnce();
  const cycleEnd = performance.now();
  const renderMs = await rendered(pipeline!.poller.current().generation);
  const totalMs = performance.now() - t0;
  eld.disable();
  const cpu = process.cpuUsage(cpu0);
  return {
    stats,
    cycleMs: cycleEnd - t0,
    renderMs,
    renderDoneAtMs: totalMs,
    clientSlidingMax: slidingWindowMax(callTimes),
    /** CPU time of this process over cycle + render, in % of one core. */
    cpuPercent: ((cpu.user + cpu.system) / 1000 / totalMs) * 100,
    eventLoop: { resolutionMs: RESOLUTION_MS, p50Ms: eld.percentile(50) / 1e6, p99Ms: eld.percentile(99) / 1e6, maxMs: eld.max / 1e6 },
  };
}

serve({
  init,
  cycle,
  memory: (a: { gc: boolean }) => memory(a.gc),
  close: async () => {
    await pipeline?.stop(1_000);
    await server?.close(1_000);
  },
});
