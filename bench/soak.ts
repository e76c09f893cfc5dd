/**
 * Soak of the exporter: `npm run soak [-- --ci | --cycles=N ...]`.
 *
 * The real components in this process (SasClient through the real SDK,
 * Poller, ExpositionCache, SelfMetrics, createRequestListener, startServer),
 * the simulator CLI as a separate process with thousands of tasks whose
 * statuses keep moving, and:
 *   - poll cycles back to back (Poller.runOnce), hundreds of them;
 *   - churn: every `--churn-every` cycles a reload (the YAML file rewritten,
 *     loadConfig, Poller.configure, as a SIGHUP does) removes and adds a few
 *     hundred tasks, renames some and reorders the new ones;
 *   - a scraper in parallel (keep-alive; gzip, plain and OpenMetrics in turn);
 *   - after every cycle a check scrape: the series of each task family must be
 *     EXACTLY what the configuration says (series.ts, pool.ts), no series of
 *     a removed task, no duplicates, no unexplained poll errors; every
 *     `--sample-every` cycles, global.gc() and a memory sample.
 *
 * Memory samples wait out request_timeout first: the SDK leaves a timer of
 * that length behind every API call (httpx's read timer, which tea-util's
 * body reader never clears), and it holds the call's request and response
 * until it fires. Bounded (calls per request_timeout), not a leak, but
 * sampled right after a cycle it adds MBs of noise.
 *
 * Healthy tasks failing with a timeout or network error (a loaded machine)
 * are not a failure: they are counted, shown, and the expected series are
 * adjusted exactly (they keep the status they had; one added by this very
 * reload has none yet). Any other unexpected poll error is a failure.
 *
 * Exit 1 on any series mismatch, failed scrape, error logged by the exporter
 * components, or heap after GC growing more than 20 % from the 25 % mark to
 * the end (medians over windows of cycles, so one sample cannot decide).
 * Prints a table; writes bench/results/soak.json (soak-ci.json with --ci).
 *
 *   --ci                 short: 2,000 tasks, 40 cycles, churn every 4 (about 2 minutes)
 *   (default)            3,000 tasks, 300 cycles, churn every 10
 *   --tasks=N --targets=N --cycles=N --churn-every=N --churn-size=N
 *   --concurrency=N      API calls in flight (default 32)
 *   --scrape-interval=MS (default 250)
 *   --request-timeout=MS the exporter's request_timeout (default 2000); each
 *                        memory sample waits it out (see below)
 *   --sample-every=N     memory sample every N cycles (default 2 with --ci, else 3;
 *                        the first and last cycle always); series are checked every cycle
 *   --max-heap-growth=F  (default 0.2)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import type { AccountConfig } from '../src/config/schema.js';
import { startHttp } from '../src/http/serve.js';
import { createLogger } from '../src/log/logger.js';
import { SelfMetrics } from '../src/metrics/self.js';
import { Pipeline } from '../src/pipeline.js';
import { SasClient } from '../src/sas/client.js';
import { staticCredential } from '../src/sas/credentials.js';
import { DEMO_CREDENTIALS } from '../src/simulator/index.js';
import { VERSION } from '../src/version.js';
import { buildPool, expected, scenarioYaml, type PoolTask } from './soak/pool.js';
import { mulberry32 as prng } from '../src/simulator/prng.js';
import { get, startScraper } from './soak/scraper.js';
import { census, mismatches, scrapeInconsistencies } from './soak/series.js';
import { startSimulatorProcess } from './lib/simulator.js';
import { mb, median, quantile, slope, table } from './soak/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/bench/soak.js -> the package root
const ROOT = path.resolve(here, '../..');

const { values: flags } = parseArgs({
  options: {
    ci: { type: 'boolean', default: false },
    tasks: { type: 'string' },
    targets: { type: 'string' },
    cycles: { type: 'string' },
    'churn-every': { type: 'string' },
    'churn-size': { type: 'string' },
    concurrency: { type: 'string' },
    'scrape-interval': { type: 'string' },
    'request-timeout': { type: 'string' },
    'sample-every': { type: 'string' },
    'max-heap-growth': { type: 'string' },
  },
  strict: true,
});

const int = (v: string | undefined, dflt: number, what: string): number => {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isInteger(x) || x <= 0) throw new Error(`--${what} must be a positive integer, got ${v}`);
  return x;
};

const CI = flags.ci;
const TASKS = int(flags.tasks, CI ? 2_000 : 3_000, 'tasks');
const TARGETS = int(flags.targets, 5, 'targets');
const CYCLES = int(flags.cycles, CI ? 40 : 300, 'cycles');
const CHURN_EVERY = int(flags['churn-every'], CI ? 4 : 10, 'churn-every');
const CHURN_SIZE = int(flags['churn-size'], CI ? 150 : 300, 'churn-size');
const CONCURRENCY = int(flags.concurrency, 32, 'concurrency');
const SCRAPE_INTERVAL_MS = int(flags['scrape-interval'], 250, 'scrape-interval');
const REQUEST_TIMEOUT_MS = int(flags['request-timeout'], 2_000, 'request-timeout');
const SAMPLE_EVERY = int(flags['sample-every'], CI ? 2 : 3, 'sample-every');
const MAX_HEAP_GROWTH = flags['max-heap-growth'] === undefined ? 0.2 : Number(flags['max-heap-growth']);
/** Tasks never churned out: the rest of the initial set and the spare pool rotate. */
const CORE = Math.floor(TASKS * 0.7);
const POOL = TASKS + 2 * CHURN_SIZE;
const FLAKY_FROM_MS = 30_000;

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Sample {
  cycle: number;
  tasks: number;
  series: number;
  cycleMs: number;
  checkMs: number;
  statusChanges: number;
}

interface MemSample {
  cycle: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

async function main(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    log('soak: run with node --expose-gc (npm run soak does)');
    return 2;
  }
  const started = Date.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sas-soak-'));
  const problems: string[] = [];
  const fail = (msg: string) => {
    if (problems.length < 50) problems.push(msg);
    log(`soak: FAIL ${msg}`);
  };

  // --- the pool and the simulator process
  const horizonMs = CYCLES * 4_000 + 300_000;
  const pool = buildPool({ size: POOL, core: CORE, targets: TARGETS, horizonMs, flakyFromMs: FLAKY_FROM_MS });
  const scenarioFile = path.join(dir, 'scenario.yaml');
  writeFileSync(scenarioFile, scenarioYaml(pool, { size: POOL, core: CORE, targets: TARGETS, horizonMs, flakyFromMs: FLAKY_FROM_MS }));
  log(`soak: ${CI ? 'CI' : 'full'} run: ${TASKS} tasks (pool ${POOL}, ${CORE} never churned) x ${TARGETS} targets, ${CYCLES} cycles, churn every ${CHURN_EVERY} cycles of up to ${CHURN_SIZE} tasks`);
  const sim = await startSimulatorProcess(ROOT, scenarioFile, ['--max-old-space-size=2048']);
  log(`soak: simulator process ${sim.pid} on ${sim.endpoint}`);

  // --- the exporter's pipeline, as the daemon runs it (cycles started here, not by cron)
  let errorsLogged = 0;
  let firstError = '';
  const logger = createLogger({
    level: 'error',
    write: (line) => {
      errorsLogged++;
      firstError ||= line;
      log(`exporter: ${line}`);
    },
  });
  const credential = staticCredential(DEMO_CREDENTIALS.accessKeyId, DEMO_CREDENTIALS.accessKeySecret);
  const makeSource = (c: AccountConfig) => new SasClient({ endpoint: c.endpoint, protocol: c.protocol, region: c.region, requestTimeoutMs: c.requestTimeoutMs, credential });

  // --- configuration: a real YAML file, loaded as a reload loads it
  const configFile = path.join(dir, 'exporter.yaml');
  const rnd = prng(20_240_601);
  let configured: PoolTask[] = pool.slice(0, TASKS);
  const names = new Map<string, string>();
  const writeAndLoad = async () => {
    const lines = [
      `endpoint: "${sim.endpoint}"`,
      'protocol: http',
      'schedule: "*/1 * * * * *"',
      `request_timeout: ${REQUEST_TIMEOUT_MS}ms`,
      `concurrency: ${CONCURRENCY}`,
      'retry: { max_attempts: 3, initial_backoff: 20ms, max_backoff: 100ms, max_retries_per_cycle: 10000 }',
      'rate_limit: { qps: 10000, burst: 10000 }',
      'terminal_recheck_interval: 0s',
      'tasks:',
      ...configured.map((t) => {
        const name = names.get(t.id);
        return name === undefined ? `  - ${t.id}` : `  - { id: ${t.id}, name: ${JSON.stringify(name)} }`;
      }),
      '',
    ];
    writeFileSync(configFile, lines.join('\n'));
    return loadConfig(configFile);
  };
  const pipeline = new Pipeline(await writeAndLoad(), { logger, makeSource, self: new SelfMetrics({ version: VERSION, revision: 'soak' }) });
  const { poller, cache } = pipeline;
  const serving = await startHttp({ listen: { host: '127.0.0.1', port: 0 }, telemetryPath: '/metrics', cache, self: pipeline.self, isReady: () => pipeline.ready, logger: logger.child({ component: 'http' }) });
  const metricsUrl = `${serving.url}metrics`;
  // Every parallel scrape is checked too, mid-cycle ones included: answers are published as they
  // arrive, and each publication must hold whole tasks of one configuration.
  // (From the first rendered snapshot on: before it, /metrics has no task series at all, and is not ready.)
  while (cache.generation < 1) await new Promise((r) => setTimeout(r, 5));
  let previousIds = new Set(configured.map((t) => t.id));
  let currentIds = previousIds;
  const scraper = startScraper(metricsUrl, SCRAPE_INTERVAL_MS, (body) => scrapeInconsistencies(body, [currentIds, previousIds]));
  const checkAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  // --- churn
  let churnEvents = 0;
  let renameCount = 0;
  let addedTotal = 0;
  let removedTotal = 0;
  const churn = async (): Promise<void> => {
    const inConfig = new Set(configured.map((t) => t.id));
    const removable = configured.filter((t) => t.index >= CORE);
    const spare = pool.filter((t) => !inConfig.has(t.id));
    const lo = Math.ceil(CHURN_SIZE / 2);
    const pick = () => lo + Math.floor(rnd() * (CHURN_SIZE - lo + 1));
    // Keep the configured count within TASKS +- CHURN_SIZE.
    let nRemove = Math.min(pick(), removable.length);
    let nAdd = Math.min(pick(), spare.length);
    if (configured.length - nRemove + nAdd > TASKS + CHURN_SIZE) nAdd = Math.max(0, TASKS + CHURN_SIZE - configured.length + nRemove);
    if (configured.length - nRemove + nAdd < TASKS - CHURN_SIZE) nRemove = Math.max(0, configured.length + nAdd - (TASKS - CHURN_SIZE));
    const shuffle = <T>(xs: T[]): T[] => {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [xs[i], xs[j]] = [xs[j]!, xs[i]!];
      }
      return xs;
    };
    const removeIds = new Set(shuffle(removable).slice(0, nRemove).map((t) => t.id));
    const adds = shuffle(spare).slice(0, nAdd);
    const next = configured.filter((t) => !removeIds.has(t.id));
    for (const t of adds) next.splice(Math.floor(rnd() * (next.length + 1)), 0, t); // new tasks anywhere in the order
    for (const id of removeIds) names.delete(id);
    // Renames: the old task_name series must go with the old name.
    for (let k = 0; k < 20; k++) {
      const t = next[Math.floor(rnd() * next.length)]!;
      names.set(t.id, `soak-${t.index}-v${churnEvents}`);
      renameCount++;
    }
    configured = next;
    previousIds = currentIds;
    currentIds = new Set(next.map((t) => t.id));
    const { added, removed } = pipeline.apply(await writeAndLoad());
    if (added.length !== adds.length || removed.length !== removeIds.size) {
      fail(`reload ${churnEvents + 1}: configure() reported +${added.length} -${removed.length}, the file changed +${adds.length} -${removeIds.size}`);
    }
    churnEvents++;
    addedTotal += adds.length;
    removedTotal += removeIds.size;
  };

  // --- cycles
  const samples: Sample[] = [];
  const mem: MemSample[] = [];
  let lastStatus = new Map<string, string>();
  let mismatchCycles = 0;
  /** Healthy tasks whose last poll failed with a timeout or network error, by class/code (summed over checks). */
  const transientFailures = new Map<string, number>();
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    if (cycle > 1 && (cycle - 1) % CHURN_EVERY === 0) await churn();
    const t0 = performance.now();
    const stats = await poller.runOnce();
    const cycleMs = performance.now() - t0;
    if (!stats) fail(`cycle ${cycle}: runOnce returned nothing (crashed)`);
    // The snapshot of this cycle, rendered and served.
    while (cache.generation !== poller.current().generation) await new Promise((r) => setTimeout(r, 5));

    const t1 = performance.now();
    // In a function of its own: the exposition text and the census are
    // garbage by the time the heap is measured.
    const { seriesCount, statusChanges } = await (async () => {
      const r = await get(checkAgent, metricsUrl);
      if (r.status !== 200) fail(`cycle ${cycle}: check scrape answered ${r.status}`);
      const c = census(r.body.toString('utf8'));
      const configuredIds = new Set(configured.map((t) => t.id));
      const faulty = new Set(configured.filter((t) => t.cls === 'denied' || t.cls === 'flaky').map((t) => t.id));
      // A healthy task failing for the machine's sake (timeout, network) is
      // accounted for exactly: it keeps the status it had, or has none only
      // if it had none at the previous check either (just added).
      const transient = new Map<string, boolean>();
      for (const [id, cc] of c.errorOf) {
        if (faulty.has(id) || !configuredIds.has(id) || !/^(timeout|network)\//.test(cc)) continue;
        transient.set(id, !lastStatus.has(id) && !c.statusOf.has(id));
        transientFailures.set(cc, (transientFailures.get(cc) ?? 0) + 1);
      }
      const bad = mismatches(c, expected(configured, transient), configuredIds, (id) => faulty.has(id) || transient.has(id));
      if (bad.length > 0) {
        mismatchCycles++;
        for (const b of bad) fail(`cycle ${cycle}: ${b}`);
      }
      let changes = 0;
      for (const [id, s] of c.statusOf) if (lastStatus.has(id) && lastStatus.get(id) !== s) changes++;
      lastStatus = c.statusOf;
      return { seriesCount: c.taskSeries, statusChanges: changes };
    })();
    const checkMs = performance.now() - t1;

    samples.push({ cycle, tasks: configured.length, series: seriesCount, cycleMs, checkMs, statusChanges });
    if (cycle === 1 || cycle % SAMPLE_EVERY === 0 || cycle === CYCLES) {
      // The SDK's stale timers (see the top) fire meanwhile; the scraper keeps scraping.
      await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 250));
      gc();
      gc();
      const m = process.memoryUsage();
      mem.push({ cycle, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
    }
    if (cycle === 1 || cycle % 10 === 0 || cycle === CYCLES) {
      const m = mem[mem.length - 1]!;
      log(
        `soak: cycle ${cycle}/${CYCLES}: ${configured.length} tasks, ${seriesCount} series, ${stats?.apiCalls ?? '?'} calls in ${Math.round(cycleMs)} ms (${stats?.result}), ` +
          `${statusChanges} status changes, heap ${mb(m.heapUsed)} and rss ${mb(m.rss)} at cycle ${m.cycle}, scrapes ${scraper.stats.scrapes}`,
      );
    }
  }

  await scraper.stop();
  checkAgent.destroy();
  const simCounts = await sim.counts().catch(() => undefined);
  await poller.stop(2_000);
  await serving.close(1_000);
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });

  // --- judgement
  const heap = mem.map((s) => s.heapUsed);
  const at = (frac: number) => Math.min(mem.length - 1, Math.floor(mem.length * frac));
  const window = (from: number, to: number) => heap.slice(at(from), Math.max(at(to), at(from) + 1));
  const heapAt25 = median(window(0.2, 0.3));
  const heapEnd = median(window(0.9, 1.0001));
  const growth = heapEnd / heapAt25 - 1;
  const half = mem.slice(Math.floor(mem.length / 2));
  const heapSlope = slope(
    half.map((s) => s.cycle),
    half.map((s) => s.heapUsed),
  );
  const rssSlope = slope(
    half.map((s) => s.cycle),
    half.map((s) => s.rss),
  );
  if (!(growth <= MAX_HEAP_GROWTH)) fail(`heap after GC grew ${(growth * 100).toFixed(1)} % from the 25 % mark to the end (limit ${(MAX_HEAP_GROWTH * 100).toFixed(0)} %)`);
  if (scraper.stats.failures > 0) fail(`${scraper.stats.failures} of ${scraper.stats.scrapes} parallel scrapes failed, first: ${scraper.stats.firstFailure}`);
  if (scraper.stats.inconsistent > 0) fail(`${scraper.stats.inconsistent} of ${scraper.stats.checked} parallel scrapes were not consistent, first: ${scraper.stats.firstInconsistency}`);
  if (errorsLogged > 0) fail(`the exporter logged ${errorsLogged} errors, first: ${firstError}`);
  const totalChanges = samples.reduce((n, s) => n + s.statusChanges, 0);
  if (totalChanges === 0) fail('no task ever changed status: the timelines did not move');

  const series = samples.map((s) => s.series);
  const cycleMsAll = samples.map((s) => s.cycleMs);
  const lat = scraper.stats.latenciesMs;
  const durationS = (Date.now() - started) / 1000;
  const first = mem[0]!;
  const last = mem[mem.length - 1]!;
  const rows: Array<[string, string]> = [
    ['mode', CI ? 'ci' : 'full'],
    ['cycles', String(samples.length)],
    ['tasks (initial / min / max)', `${TASKS} / ${Math.min(...samples.map((s) => s.tasks))} / ${Math.max(...samples.map((s) => s.tasks))}`],
    ['targets per task', String(TARGETS)],
    ['churn events (tasks added / removed / renamed)', `${churnEvents} (${addedTotal} / ${removedTotal} / ${renameCount})`],
    ['API calls (simulator)', simCounts ? String(simCounts.total) : '?'],
    ['status changes seen', String(totalChanges)],
    ['series per cycle (min / max)', `${Math.min(...series)} / ${Math.max(...series)}`],
    ['cycles with a series mismatch', String(mismatchCycles)],
    ['healthy tasks failing (timeout/network), summed over checks', transientFailures.size === 0 ? '0' : [...transientFailures].map(([k, v]) => `${v} ${k}`).join(', ')],
    ['cycle ms (median / p95 / max)', `${Math.round(median(cycleMsAll))} / ${Math.round(quantile(cycleMsAll, 0.95))} / ${Math.round(Math.max(...cycleMsAll))}`],
    ['parallel scrapes (failed)', `${scraper.stats.scrapes} (${scraper.stats.failures})`],
    ['parallel scrapes checked for whole tasks of one configuration (not)', `${scraper.stats.checked} (${scraper.stats.inconsistent})`],
    ['scrape ms (p50 / p99 / max)', `${quantile(lat, 0.5).toFixed(1)} / ${quantile(lat, 0.99).toFixed(1)} / ${Math.max(...lat).toFixed(1)}`],
    ['memory samples (after GC)', `${mem.length} (every ${SAMPLE_EVERY} cycles)`],
    ['RSS (first / last / max)', `${mb(first.rss)} / ${mb(last.rss)} / ${mb(Math.max(...mem.map((s) => s.rss)))}`],
    ['RSS slope, 2nd half', `${(rssSlope / 1024).toFixed(1)} KB/cycle`],
    ['heap after GC (first / last)', `${mb(first.heapUsed)} / ${mb(last.heapUsed)}`],
    ['heap after GC (median at 25 % / at end)', `${mb(heapAt25)} / ${mb(heapEnd)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %, limit ${(MAX_HEAP_GROWTH * 100).toFixed(0)} %)`],
    ['heap slope, 2nd half', `${(heapSlope / 1024).toFixed(1)} KB/cycle (${((heapSlope * 100) / 1024 / 1024).toFixed(2)} MB per 100 cycles)`],
    ['external / arrayBuffers (last)', `${mb(last.external)} / ${mb(last.arrayBuffers)}`],
    ['duration', `${durationS.toFixed(0)} s`],
    ['verdict', problems.length === 0 ? 'PASS' : `FAIL (${problems.length} problems)`],
  ];
  process.stdout.write(`\n${table(rows)}\n`);
  if (problems.length > 0) process.stdout.write(`\nProblems:\n${problems.map((p) => `- ${p}`).join('\n')}\n`);

  const resultsDir = path.join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const out = path.join(resultsDir, CI ? 'soak-ci.json' : 'soak.json');
  writeFileSync(
    out,
    JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        mode: CI ? 'ci' : 'full',
        machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}` },
        options: { tasks: TASKS, targets: TARGETS, cycles: CYCLES, churnEvery: CHURN_EVERY, churnSize: CHURN_SIZE, core: CORE, pool: POOL, concurrency: CONCURRENCY, scrapeIntervalMs: SCRAPE_INTERVAL_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, sampleEvery: SAMPLE_EVERY, maxHeapGrowth: MAX_HEAP_GROWTH },
        summary: {
          pass: problems.length === 0,
          problems,
          cycles: samples.length,
          churnEvents,
          tasksAdded: addedTotal,
          tasksRemoved: removedTotal,
          tasksRenamed: renameCount,
          apiCalls: simCounts?.total,
          statusChanges: totalChanges,
          seriesMin: Math.min(...series),
          seriesMax: Math.max(...series),
          mismatchCycles,
          transientFailures: Object.fromEntries(transientFailures),
          scrapes: scraper.stats.scrapes,
          scrapeFailures: scraper.stats.failures,
          scrapesChecked: scraper.stats.checked,
          scrapesInconsistent: scraper.stats.inconsistent,
          scrapeP99Ms: quantile(lat, 0.99),
          rssFirst: first.rss,
          rssLast: last.rss,
          rssMax: Math.max(...mem.map((s) => s.rss)),
          heapFirst: first.heapUsed,
          heapLast: last.heapUsed,
          heapAt25: heapAt25,
          heapEnd,
          heapGrowth: growth,
          heapSlopeBytesPerCycle: heapSlope,
          rssSlopeBytesPerCycle: rssSlope,
          durationS,
        },
        table: rows,
        samples,
        memory: mem,
      },
      null,
      1,
    ) + '\n',
  );
  log(`soak: wrote ${path.relative(ROOT, out)}`);
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
