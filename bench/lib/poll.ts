/**
 * Polling and event loop: the simulator in its own process answering every
 * call 50 ms late, the exporter's components in another, a health probe from
 * this one. Cycle 1 polls every task; cycle 2, with terminal tasks not due
 * for a re-check, must poll only the active ones.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CycleStats } from '../../src/poller/observer.js';
import { Child } from './ipc.js';
import { isActive, slidingWindowMax, startSimulatorProcess, writeScenario, type SimulatorProcess } from './simulator.js';
import { taskId } from './synthetic.js';
import { get, percentile, sleep } from './tools.js';

export interface PollOptions {
  readonly root: string;
  readonly childScript: string;
  readonly dir: string;
  readonly tasks: number;
  readonly targets: number;
  readonly qps: number;
  readonly burst: number;
  readonly concurrency: number;
  readonly latencyMs: number;
  readonly activeEvery: number;
  readonly probeEveryMs: number;
  readonly log: (line: string) => void;
}

interface CycleAnswer {
  stats: CycleStats;
  cycleMs: number;
  renderMs: number;
  renderDoneAtMs: number;
  clientSlidingMax: number;
  cpuPercent: number;
  eventLoop: { resolutionMs: number; p50Ms: number; p99Ms: number; maxMs: number };
}

export interface PollResult {
  readonly budgetQps: number;
  readonly burst: number;
  readonly concurrency: number;
  readonly latencyMs: number;
  readonly cycle1: { calls: number; tasksPolled: number; failed: number; durationMs: number; achievedQps: number; renderMs: number };
  /** Most calls the simulator saw in one of its fixed one-second buckets during cycle 1. */
  readonly maxPerSecond: number;
  /** Most calls in any sliding one-second window at the simulator (arrival times of the last 10,000 calls). */
  readonly maxSlidingWindow: number;
  /** Most calls in any sliding one-second window as the exporter started them (after the rate limiter). */
  readonly maxSlidingWindowClient: number;
  readonly throttled: number;
  readonly cycle2: { calls: number; tasksPolled: number; durationMs: number; activeTasks: number; simulatorCalls: number };
  readonly health: { probes: number; p50Ms: number; p99Ms: number; maxMs: number; failures: number; p99DuringRenderMs: number; probesDuringRender: number };
  readonly eventLoop: CycleAnswer['eventLoop'];
  /** CPU used over cycle 1 + render, in % of one core: the exporter's process and the simulator's (they share the machine). */
  readonly cpuPercent: { exporter: number; simulator: number };
  /** prom-client's nodejs_eventloop_lag_p99_seconds as /metrics showed it after cycle 1 (undefined: absent). */
  readonly promEventLoopLagP99Seconds: number | undefined;
}

interface Probe {
  at: number;
  ms: number;
  ok: boolean;
}

/** GET /-/healthy every `everyMs` on a new connection each time (as kubelet probes), until stopped. */
function startProbe(url: string, everyMs: number): { stop: () => Promise<Probe[]> } {
  const probes: Probe[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = performance.now();
      let ok = false;
      try {
        ok = (await get(url, {}, 5_000)).status === 200;
      } catch {
        ok = false;
      }
      const ms = performance.now() - at;
      probes.push({ at, ms, ok });
      await sleep(Math.max(0, everyMs - ms));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return probes;
    },
  };
}

export async function pollPhase(o: PollOptions): Promise<PollResult> {
  let sim: SimulatorProcess | undefined;
  let child: Child | undefined;
  try {
    const t0 = performance.now();
    const scenario = writeScenario(o.dir, { tasks: o.tasks, targetsPerTask: o.targets, latencyMs: o.latencyMs, activeEvery: o.activeEvery });
    sim = await startSimulatorProcess(o.root, scenario);
    o.log(`  simulator up in ${((performance.now() - t0) / 1000).toFixed(1)} s at ${sim.url}`);
    const config = path.join(o.dir, 'exporter.yaml');
    const ids: string[] = [];
    for (let i = 0; i < o.tasks; i++) ids.push(`  - ${taskId(i)}`);
    writeFileSync(
      config,
      [
        `endpoint: ${sim.endpoint}`,
        'protocol: http',
        'request_timeout: 10s',
        `concurrency: ${o.concurrency}`,
        `rate_limit: { qps: ${o.qps}, burst: ${o.burst} }`,
        'terminal_recheck_interval: 1h',
        'tasks:',
        ...ids,
        '',
      ].join('\n'),
    );
    child = Child.start(`poll(T=${o.tasks})`, o.childScript, (process.env.BENCH_POLL_EXEC_ARGV ?? '').split(' ').filter(Boolean));
    const init = await child.call<{ url: string; tasks: number }>('init', { configFile: config });
    await sim.resetCounts();

    const probe = startProbe(`${init.url}/-/healthy`, o.probeEveryMs);
    const sent = performance.now();
    const simCpu0 = sim.cpuSeconds();
    const c1 = await child.call<CycleAnswer>('cycle');
    const simCpuPercent = ((sim.cpuSeconds() - simCpu0) * 1000 * 100) / (performance.now() - sent);
    await sleep(100);
    const probes = await probe.stop();
    const counts1 = await sim.counts();
    const metrics = (await get(`${init.url}/metrics`)).body.toString();
    const lag = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? (\S+)$/m.exec(metrics)?.[1];
    o.log(`  cycle 1: ${c1.stats.apiCalls} calls in ${(c1.stats.durationMs / 1000).toFixed(1)} s, render ${c1.renderMs.toFixed(0)} ms`);

    await sim.resetCounts();
    const c2 = await child.call<CycleAnswer>('cycle');
    const counts2 = await sim.counts();
    let active = 0;
    for (let i = 0; i < o.tasks; i++) if (isActive(i, o)) active++;
    o.log(`  cycle 2: ${c2.stats.apiCalls} calls (${active} active tasks) in ${(c2.stats.durationMs / 1000).toFixed(1)} s`);

    const lat = probes.map((p) => p.ms).sort((a, b) => a - b);
    const renderFrom = sent + c1.cycleMs;
    const renderTo = sent + c1.renderDoneAtMs;
    const during = probes.filter((p) => p.at + p.ms >= renderFrom && p.at <= renderTo).map((p) => p.ms).sort((a, b) => a - b);
    return {
      budgetQps: o.qps,
      burst: o.burst,
      concurrency: o.concurrency,
      latencyMs: o.latencyMs,
      cycle1: {
        calls: c1.stats.apiCalls,
        tasksPolled: c1.stats.tasksPolled,
        failed: c1.stats.tasksFailed,
        durationMs: c1.stats.durationMs,
        achievedQps: c1.stats.apiCalls / (c1.stats.durationMs / 1000),
        renderMs: c1.renderMs,
      },
      maxPerSecond: Math.max(0, ...counts1.arrivalsPerSecond.map((s) => s.count)),
      maxSlidingWindow: slidingWindowMax(counts1.recentArrivalsMs),
      maxSlidingWindowClient: c1.clientSlidingMax,
      throttled: (counts1.byOutcome['Throttling.User'] ?? 0) + counts1.throttledByQpsLimit,
      cycle2: { calls: c2.stats.apiCalls, tasksPolled: c2.stats.tasksPolled, durationMs: c2.stats.durationMs, activeTasks: active, simulatorCalls: counts2.total },
      health: {
        probes: probes.length,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        maxMs: lat[lat.length - 1] ?? NaN,
        failures: probes.filter((p) => !p.ok).length,
        p99DuringRenderMs: percentile(during, 99),
        probesDuringRender: during.length,
      },
      eventLoop: c1.eventLoop,
      cpuPercent: { exporter: c1.cpuPercent, simulator: simCpuPercent },
      promEventLoopLagP99Seconds: lag === undefined ? undefined : Number(lag),
    };
  } finally {
    await child?.stop();
    await sim?.stop();
  }
}
