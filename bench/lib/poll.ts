/**
 * Polling, freshness and event loop: the simulator in its own process
 * answering every call 50 ms late, the exporter's pipeline in another (a
 * fresh one per run), a health probe from this one.
 *
 * Runs alternate between two ways of publishing, everything else equal:
 * progressive (the production default: a snapshot at most once a second as
 * answers arrive) and at the cycle's end only (the exporter before
 * progressive publication). Cycle 1 of each run polls every task (and lists
 * the latest scan's machines); it gives how long each answer took to be on
 * /metrics and the exporter's CPU time over the cycle and its final render.
 * The first progressive run goes on: cycles 2 and 3, with terminal tasks
 * not due for a re-check and the complete scan settled, must poll only the
 * active tasks and make no scan-results call; then /metrics is scraped and
 * must show every machine; peak RSS is sampled over the whole run.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CycleStats } from '../../src/poller/observer.js';
import { Child } from './ipc.js';
import { isActive, slidingWindowMax, startSimulatorProcess, writeScenario, type SimulatorCounts, type SimulatorProcess } from './simulator.js';
import { taskId } from './synthetic.js';
import { get, percentile, sleep } from './tools.js';

/** publishIntervalMs longer than any cycle: a snapshot only when the cycle ends. */
export const AT_CYCLE_END_MS = 1e9;

export type PublishMode = 'progressive' | 'cycleEnd';

export interface PollOptions {
  readonly root: string;
  readonly childScript: string;
  readonly dir: string;
  readonly tasks: number;
  readonly targets: number;
  /** Machines of the account's latest scan (0: latest_scan off). */
  readonly machines: number;
  /** ListVirusScanTask page size (latest_scan.page_size). */
  readonly pageSize: number;
  readonly qps: number;
  readonly burst: number;
  readonly concurrency: number;
  readonly latencyMs: number;
  readonly activeEvery: number;
  readonly probeEveryMs: number;
  /** Runs of each publishing mode, alternating (P E, E P, ...). */
  readonly rounds: number;
  readonly log: (line: string) => void;
}

interface Freshness {
  answers: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  scanMs: number | undefined;
  publications: number;
  renders: number;
  renderSumMs: number;
}

interface CycleAnswer {
  stats: CycleStats;
  cycleMs: number;
  renderMs: number;
  renderDoneAtMs: number;
  clientSlidingMax: number;
  cpuMs: number;
  cpuPercent: number;
  eventLoop: { resolutionMs: number; p50Ms: number; p99Ms: number; maxMs: number };
  freshness: Freshness;
  scanCalls: { statistic: number; list: number };
}

type Mem = { rssMb: number; heapUsedMb: number; externalMb: number; arrayBuffersMb: number };

/** One run's cycle 1, as the freshness and CPU rows use it. */
export interface PublishRun {
  readonly mode: PublishMode;
  readonly cycleMs: number;
  readonly apiCalls: number;
  /** CPU time of the exporter's process (all threads) over cycle 1 and its final render. */
  readonly cpuMs: number;
  readonly freshness: Freshness;
  readonly peakRssMb: number;
}

/** Answer-to-/metrics latency over every answer of the mode's runs; CPU and renders: the median of the runs (two: their mean). */
export interface ModeSummary {
  readonly runs: number;
  readonly answers: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The latest scan's listing (its last page) to /metrics, the worst of the runs. */
  readonly scanMaxMs: number | undefined;
  readonly publicationsPerCycle: number;
  readonly cpuMs: number;
  readonly renderSumMs: number;
  readonly peakRssMb: number;
}

export interface ScanCycle {
  /** Scan-results calls the exporter made (GetVirusScanLatestTaskStatistic + ListVirusScanTask pages). */
  readonly exporterCalls: number;
  /** The same, as the simulator counted them. */
  readonly simulatorCalls: number;
}

export interface PollResult {
  readonly budgetQps: number;
  readonly burst: number;
  readonly concurrency: number;
  readonly latencyMs: number;
  readonly machines: number;
  readonly cycle1: { calls: number; tasksPolled: number; failed: number; durationMs: number; achievedQps: number; renderMs: number };
  /** Most calls the simulator saw in one of its fixed one-second buckets during cycle 1. */
  readonly maxPerSecond: number;
  /** Most calls in any sliding one-second window at the simulator (arrival times of the last 10,000 calls). */
  readonly maxSlidingWindow: number;
  /** Most calls in any sliding one-second window as the exporter started them (after the rate limiter). */
  readonly maxSlidingWindowClient: number;
  readonly throttled: number;
  readonly cycle2: { calls: number; tasksPolled: number; durationMs: number; activeTasks: number; simulatorCalls: number };
  readonly cycle3: { calls: number; simulatorCalls: number };
  readonly health: { probes: number; p50Ms: number; p99Ms: number; maxMs: number; failures: number; p99DuringRenderMs: number; probesDuringRender: number };
  readonly eventLoop: CycleAnswer['eventLoop'];
  /** CPU used over cycle 1 + render, in % of one core: the exporter's process and the simulator's (they share the machine). */
  readonly cpuPercent: { exporter: number; simulator: number };
  /** prom-client's nodejs_eventloop_lag_p99_seconds as /metrics showed it after cycle 1 (undefined: absent). */
  readonly promEventLoopLagP99Seconds: number | undefined;
  /** Progressive vs at-cycle-end publication, cycle 1 of every run. */
  readonly publishing: { readonly progressive: ModeSummary; readonly cycleEnd: ModeSummary; readonly cpuRatio: number; readonly runs: readonly PublishRun[] };
  /** The latest scan (machines > 0): calls per cycle, machines on /metrics. */
  readonly scan?: {
    readonly pageSize: number;
    /** 1 + ceil(machines / pageSize): the statistic and every page. */
    readonly expectedFirstCalls: number;
    readonly cycles: readonly ScanCycle[];
    readonly machinesExported: number;
  };
  /**
   * Memory of the first progressive run: peak over the whole run (start,
   * three cycles, scrapes), over its start and cycle 1, and at points.
   */
  readonly memory: { peakRssMb: number; peakCycle1RssMb: number; afterCycle1RssMb: number; afterScrapesRssMb: number; afterGc: Mem; scrapes: number; bodyBytes: { plain: number; gzip: number } };
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

/** The median; with an even count the mean of the middle two (two runs: their mean, not the lower one). */
function centre(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

const SCAN_ACTIONS = ['GetVirusScanLatestTaskStatistic', 'ListVirusScanTask'];
const scanCallsAt = (c: SimulatorCounts) => SCAN_ACTIONS.reduce((a, k) => a + (c.byAction[k]?.total ?? 0), 0);

export async function pollPhase(o: PollOptions): Promise<PollResult> {
  let sim: SimulatorProcess | undefined;
  let child: Child | undefined;
  try {
    const t0 = performance.now();
    const scenario = writeScenario(o.dir, { tasks: o.tasks, targetsPerTask: o.targets, latencyMs: o.latencyMs, activeEvery: o.activeEvery, machines: o.machines });
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
        ...(o.machines > 0 ? [`latest_scan: { enabled: true, machines: true, max_machines: ${o.machines}, page_size: ${o.pageSize} }`] : []),
        'tasks:',
        ...ids,
        '',
      ].join('\n'),
    );
    let active = 0;
    for (let i = 0; i < o.tasks; i++) if (isActive(i, o)) active++;

    const order: PublishMode[] = [];
    for (let r = 0; r < o.rounds; r++) order.push(...(r % 2 === 0 ? (['progressive', 'cycleEnd'] as const) : (['cycleEnd', 'progressive'] as const)));
    const runs: PublishRun[] = [];
    const latencies: Record<PublishMode, number[]> = { progressive: [], cycleEnd: [] };
    let main: Omit<PollResult, 'publishing' | 'budgetQps' | 'burst' | 'concurrency' | 'latencyMs' | 'machines'> | undefined;

    for (const [k, mode] of order.entries()) {
      const isMain = main === undefined && mode === 'progressive';
      child = Child.start(`poll(T=${o.tasks}, ${mode})`, o.childScript, (process.env.BENCH_POLL_EXEC_ARGV ?? '').split(' ').filter(Boolean));
      const init = await child.call<{ url: string; tasks: number }>('init', { configFile: config, ...(mode === 'cycleEnd' ? { publishIntervalMs: AT_CYCLE_END_MS } : {}) });
      await sim.resetCounts();
      // Every run is probed alike, so their CPU times compare; the health row is the first progressive run's.
      const probe = startProbe(`${init.url}/-/healthy`, o.probeEveryMs);
      const sent = performance.now();
      const simCpu0 = sim.cpuSeconds();
      const c1 = await child.call<CycleAnswer & { latencies: number[] }>('cycle');
      const simCpuPercent = ((sim.cpuSeconds() - simCpu0) * 1000 * 100) / (performance.now() - sent);
      await sleep(100);
      const probes = await probe.stop();
      const counts1 = await sim.counts();
      const peakCycle1RssMb = await child.call<number>('peakRss');
      const f = c1.freshness;
      o.log(
        `  run ${k + 1}/${order.length} (${mode}): cycle 1 ${c1.stats.apiCalls} calls in ${(c1.stats.durationMs / 1000).toFixed(1)} s, CPU ${(c1.cpuMs / 1000).toFixed(2)} s; ` +
          `answer -> /metrics p50 ${(f.p50Ms / 1000).toFixed(2)} s, p99 ${(f.p99Ms / 1000).toFixed(2)} s, max ${(f.maxMs / 1000).toFixed(2)} s; ${f.publications} publications, ${f.renders} renders (${f.renderSumMs.toFixed(0)} ms); peak RSS ${peakCycle1RssMb} MB`,
      );
      latencies[mode].push(...c1.latencies);
      runs.push({ mode, cycleMs: c1.cycleMs, apiCalls: c1.stats.apiCalls, cpuMs: c1.cpuMs, freshness: f, peakRssMb: peakCycle1RssMb });

      if (isMain) {
        const metrics = (await get(`${init.url}/metrics`)).body.toString();
        const lag = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? (\S+)$/m.exec(metrics)?.[1];
        const afterCycle1 = await child.call<Mem>('memory', { gc: false });

        await sim.resetCounts();
        const c2 = await child.call<CycleAnswer>('cycle');
        const counts2 = await sim.counts();
        o.log(`  cycle 2: ${c2.stats.apiCalls} calls (${active} active tasks; scan-results calls ${c2.scanCalls.statistic + c2.scanCalls.list}) in ${(c2.stats.durationMs / 1000).toFixed(1)} s`);
        await sim.resetCounts();
        const c3 = await child.call<CycleAnswer>('cycle');
        const counts3 = await sim.counts();
        o.log(`  cycle 3: ${c3.stats.apiCalls} calls (scan-results calls ${c3.scanCalls.statistic + c3.scanCalls.list})`);

        // Scrapes as Prometheus makes them (gzip), a few plain ones, then four at once of each.
        let scrapes = 0;
        const bodyBytes = { plain: 0, gzip: 0 };
        let machinesExported = 0;
        for (let s = 0; s < 3; s++) {
          const plain = await get(`${init.url}/metrics`);
          const gz = await get(`${init.url}/metrics`, { 'Accept-Encoding': 'gzip' });
          if (plain.status !== 200 || gz.status !== 200) throw new Error(`scrape failed: HTTP ${plain.status} / ${gz.status}`);
          bodyBytes.plain = plain.body.length;
          bodyBytes.gzip = gz.body.length;
          machinesExported = plain.body.toString().split('\naliyun_sas_virus_scan_machine_info{').length - 1;
          scrapes += 2;
        }
        await Promise.all(Array.from({ length: 4 }, (_, i) => get(`${init.url}/metrics`, i % 2 ? { 'Accept-Encoding': 'gzip' } : {})));
        scrapes += 4;
        const afterScrapes = await child.call<Mem>('memory', { gc: false });
        const peakRestMb = await child.call<number>('peakRss');
        const afterGc = await child.call<Mem>('memory', { gc: true });
        o.log(`  /metrics: ${machinesExported} machines, ${(bodyBytes.plain / 1e6).toFixed(1)} MB plain; RSS peak ${Math.max(peakCycle1RssMb, peakRestMb)} MB, after scrapes ${afterScrapes.rssMb} MB, after GC ${afterGc.rssMb} MB`);

        const lat = probes.map((p) => p.ms).sort((a, b) => a - b);
        const renderFrom = sent + c1.cycleMs;
        const renderTo = sent + c1.renderDoneAtMs;
        const during = probes.filter((p) => p.at + p.ms >= renderFrom && p.at <= renderTo).map((p) => p.ms).sort((a, b) => a - b);
        main = {
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
          cycle3: { calls: c3.stats.apiCalls, simulatorCalls: counts3.total },
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
          ...(o.machines > 0
            ? {
                scan: {
                  pageSize: o.pageSize,
                  expectedFirstCalls: 1 + Math.ceil(o.machines / o.pageSize),
                  cycles: [
                    { exporterCalls: c1.scanCalls.statistic + c1.scanCalls.list, simulatorCalls: scanCallsAt(counts1) },
                    { exporterCalls: c2.scanCalls.statistic + c2.scanCalls.list, simulatorCalls: scanCallsAt(counts2) },
                    { exporterCalls: c3.scanCalls.statistic + c3.scanCalls.list, simulatorCalls: scanCallsAt(counts3) },
                  ],
                  machinesExported,
                },
              }
            : {}),
          memory: {
            peakRssMb: Math.max(peakCycle1RssMb, peakRestMb),
            peakCycle1RssMb,
            afterCycle1RssMb: afterCycle1.rssMb,
            afterScrapesRssMb: afterScrapes.rssMb,
            afterGc,
            scrapes,
            bodyBytes,
          },
        };
      }
      await child.stop();
      child = undefined;
    }

    const summary = (mode: PublishMode): ModeSummary => {
      const rs = runs.filter((r) => r.mode === mode);
      const lat = latencies[mode].sort((a, b) => a - b);
      const scans = rs.map((r) => r.freshness.scanMs).filter((x): x is number => x !== undefined);
      return {
        runs: rs.length,
        answers: lat.length,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        maxMs: lat[lat.length - 1] ?? NaN,
        scanMaxMs: scans.length ? Math.max(...scans) : undefined,
        publicationsPerCycle: centre(rs.map((r) => r.freshness.publications)),
        cpuMs: centre(rs.map((r) => r.cpuMs)),
        renderSumMs: centre(rs.map((r) => r.freshness.renderSumMs)),
        peakRssMb: Math.max(...rs.map((r) => r.peakRssMb)),
      };
    };
    const progressive = summary('progressive');
    const cycleEnd = summary('cycleEnd');
    return {
      budgetQps: o.qps,
      burst: o.burst,
      concurrency: o.concurrency,
      latencyMs: o.latencyMs,
      machines: o.machines,
      ...main!,
      publishing: { progressive, cycleEnd, cpuRatio: progressive.cpuMs / cycleEnd.cpuMs, runs },
    };
  } finally {
    await child?.stop();
    await sim?.stop();
  }
}
