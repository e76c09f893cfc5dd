/**
 * Performance bench of the exporter: `npm run bench [-- --ci | --large]`.
 *
 *   --ci        reduced: one column, T=1,000 + 1,000 machines, short runs;
 *               checks every phase works (exit 0 whatever the speed,
 *               non-zero on any error)
 *   (default)   T=1,000; T=10,000; T=10,000 + 10,000 machines (the account's
 *               latest scan). Goals judged at T=10,000 and, with the
 *               machines, at the third column
 *   --large     adds T=50,000 (render, scrape and memory phases)
 *   --client=autocannon / --baseline=node   force the fallbacks
 *   --duration=S --rounds=N --qps=N --burst=N --concurrency=N   override
 *   --poll-rounds=N   runs of each publishing mode in the poll phase (default 3, CI 1)
 *   --strict    exit 1 when a goal fails
 *   --block-sweep   only the publish phase, at the judged size, for several
 *               block sizes of the incremental exposition (how the defaults
 *               were chosen); writes bench/results/blocks.json
 *
 * Each size runs five phases, each in fresh child processes: render vs
 * prom-client, publishing changed snapshots through the incremental
 * exposition vs a full render + gzip, scrape load vs a static-file
 * baseline, memory under continuous scraping, and (T=1,000 and the column
 * with machines) poll cycles against the simulator process with a health
 * probe: progressive publication vs publication at the cycle's end
 * (answer-to-/metrics latency, CPU), the latest scan's calls per cycle, and
 * the polling exporter's memory. Prints one markdown
 * table and writes JSON to bench/results/latest.json (bench/results/ci.json
 * with --ci).
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nginxAvailable } from './lib/baseline.js';
import { detectClient } from './lib/load.js';
import { pollPhase } from './lib/poll.js';
import { publishPhase, type PublishResult } from './lib/publish.js';
import { renderPhase } from './lib/render.js';
import { columnName, evaluate, table, type Machine, type SizeResult } from './lib/report.js';
import { rssPhase } from './lib/rss.js';
import { scrapePhase } from './lib/scrape.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../..');
const SERVE_CHILD = path.join(here, 'lib/serveChild.js');
const POLL_CHILD = path.join(here, 'lib/pollChild.js');
const TARGETS = 10;
/** ListVirusScanTask page size: the API's maximum, the exporter's default. */
const PAGE_SIZE = 100;

/** One column of the table: its sizes, and whether the poll phase runs there. */
interface Column {
  readonly tasks: number;
  readonly machines: number;
  readonly poll: boolean;
}

const { values: flags } = parseArgs({
  options: {
    ci: { type: 'boolean', default: false },
    large: { type: 'boolean', default: false },
    client: { type: 'string' },
    baseline: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    qps: { type: 'string' },
    burst: { type: 'string' },
    concurrency: { type: 'string' },
    'poll-rounds': { type: 'string' },
    strict: { type: 'boolean', default: false },
    'block-sweep': { type: 'boolean', default: false },
  },
  strict: true,
});

const num = (v: string | undefined, dflt: number, what: string): number => {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`--${what} must be a positive number, got ${v}`);
  return x;
};

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const ci = flags.ci!;
  if (flags.client !== undefined && flags.client !== 'wrk' && flags.client !== 'autocannon') throw new Error('--client must be wrk or autocannon');
  if (flags.baseline !== undefined && flags.baseline !== 'nginx' && flags.baseline !== 'node') throw new Error('--baseline must be nginx or node');
  // CI: one column with everything (machines, poll phase), small. Default: the judged T=10,000
  // as before, and the same with the account's latest scan of 10,000 machines (issue #11).
  const columns: Column[] = ci
    ? [{ tasks: 1_000, machines: 1_000, poll: true }]
    : [
        { tasks: 1_000, machines: 0, poll: true },
        { tasks: 10_000, machines: 0, poll: false },
        { tasks: 10_000, machines: 10_000, poll: true },
        ...(flags.large ? [{ tasks: 50_000, machines: 0, poll: false }] : []),
      ];
  const goalTasks = ci ? 1_000 : 10_000;
  const pollRounds = num(flags['poll-rounds'], ci ? 1 : 3, 'poll-rounds');
  const durationS = num(flags.duration, ci ? 2 : 5, 'duration');
  const goalRounds = num(flags.rounds, ci ? 1 : 3, 'rounds');
  const qps = num(flags.qps, 400, 'qps');
  const burst = num(flags.burst, 20, 'burst');
  const concurrency = num(flags.concurrency, 40, 'concurrency');

  const client = detectClient(flags.client as 'wrk' | 'autocannon' | undefined);
  const ngx = flags.baseline === 'node' ? undefined : nginxAvailable();
  const cpus = os.cpus();
  const machine: Machine = {
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadClient: client.description,
    baseline: ngx
      ? `nginx ${ngx.version} static file (1 worker, sendfile, gzip_static)`
      : `minimal node:http static server of the same bytes (${flags.baseline === 'node' ? 'forced by --baseline=node' : 'fallback: nginx not installed'})`,
  };
  log(`bench: ${ci ? 'CI (reduced)' : flags.large ? 'large' : 'default'} mode; ${columns.map((c) => columnName({ ...c, targets: TARGETS })).join('; ')}; ${machine.loadClient}; ${machine.baseline}`);

  if (flags['block-sweep']) return blockSweep(goalTasks, ci ? 3 : goalRounds + 2);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sas-bench-'));
  const results: SizeResult[] = [];
  const started = Date.now();
  try {
    for (const col of columns) {
      const { tasks, machines } = col;
      const shape = { tasks, targets: TARGETS, machines };
      const name = columnName(shape);
      const t0 = Date.now();
      log(`\n== ${name}: render vs prom-client`);
      const render = await renderPhase(SERVE_CHILD, shape, tasks >= 50_000 ? 3 : ci ? 5 : 7);
      log(`  ours ${render.oursRenderMs.toFixed(0)} ms, prom-client metrics() ${render.promMetricsMs.toFixed(0)} ms, ${render.series} series, byte-equal ${render.equivalence.byteEqual}`);

      log(`== ${name}: publishing changed snapshots vs a full render + gzip`);
      const publish = await publishPhase(SERVE_CHILD, shape, tasks >= 50_000 ? 3 : ci ? 3 : 5);
      log(
        `  1 % contiguous ${publish.contiguous.cpuMs.toFixed(1)} ms CPU (${(100 * publish.ratio.contiguous).toFixed(1)} % of ${publish.full.cpuMs.toFixed(0)} ms), ` +
          `scattered ${(100 * publish.ratio.scatter).toFixed(1)} %, every task x${publish.ratio.all.toFixed(2)}, progressive cycle x${publish.ratio.progressive.toFixed(2)}`,
      );

      log(`== ${name}: scrape load (${durationS} s per case)`);
      const scrape = await scrapePhase({
        childScript: SERVE_CHILD,
        tasks,
        targets: TARGETS,
        machines,
        client,
        ...(flags.baseline ? { baseline: flags.baseline as 'nginx' | 'node' } : {}),
        connections: [1, 4],
        durationS,
        rounds: tasks <= 10_000 ? goalRounds : 1,
        warmupS: ci ? 1 : 2,
        log,
      });

      log(`== ${name}: memory under continuous scraping`);
      const rss = await rssPhase({ childScript: SERVE_CHILD, tasks, targets: TARGETS, machines, client, cycles: ci ? 3 : 6, intervalS: ci ? 1 : 2, log });

      let poll;
      if (col.poll) {
        log(
          `== ${name}: poll cycles against the simulator process (${qps} qps, burst ${burst}, concurrency ${concurrency}, 50 ms latency${machines > 0 ? `, latest scan page ${PAGE_SIZE}` : ''}); ` +
            `${pollRounds} run(s) each of progressive publication and publication at cycle end`,
        );
        const dir = path.join(tmp, `poll-${tasks}-${machines}`);
        mkdirSync(dir);
        poll = await pollPhase({
          root: ROOT,
          childScript: POLL_CHILD,
          dir,
          tasks,
          targets: TARGETS,
          machines,
          pageSize: PAGE_SIZE,
          qps,
          burst,
          concurrency,
          latencyMs: 50,
          activeEvery: 10,
          probeEveryMs: 20,
          rounds: pollRounds,
          log,
        });
      }
      results.push({ tasks, targets: TARGETS, machines, render, publish, scrape, rss, ...(poll ? { poll } : {}) });
      log(`== ${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const judged = results.find((r) => r.tasks === goalTasks && r.machines === (ci ? 1_000 : 0))!;
  const withMachines = results.find((r) => r.tasks === goalTasks && r.machines > 0)!;
  const goals = evaluate(judged, results, withMachines);
  const note = [
    `Goals judged at ${columnName(judged)}${withMachines !== judged ? ` and ${columnName(withMachines)}` : ''}, scrape ratios at every size up to T=10,000${ci ? ' (CI mode: reduced sizes and durations, indicative only; exit code ignores speed)' : ''}. `,
    `Publish: CPU time of the child process (all threads), 1 % of the tasks replaced by their next poll's state, medians; full = render + one gzip member of the whole body, as before the incremental exposition. `,
    `Scrape cases: ${durationS} s a side and round, after a warm-up, ours and baseline taking turns in 1-s slices; ${goalRounds} round(s) at the judged sizes (median). `,
    `Ours = ExpositionCache + request listener + startServer in a child process; answers include the self-metrics. `,
    `Poll: simulator in its own process, 50 ms per call, ${qps} qps budget, burst ${burst}, concurrency ${concurrency}; 1 task in 10 active, the rest terminal (re-check interval 1 h); ` +
      `with machines, the account's latest scan is complete, listed ${PAGE_SIZE} a page. Every run is a fresh exporter process; ${pollRounds} run(s) of each publishing mode, alternating; ` +
      `answer -> /metrics: from the answer's arrival at the exporter to the render of the first snapshot holding it becoming the one served; CPU: process.cpuUsage() (all threads) over cycle 1 and its final render. `,
    `Total ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  ].join('');
  process.stdout.write(`\n${table(machine, results, judged, withMachines, goals, note)}`);
  for (const g of goals) process.stdout.write(`- ${g.pass ? 'PASS' : 'FAIL'} ${g.id}: ${g.goal} — ${g.measured}\n`);

  const outDir = path.join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, ci ? 'ci.json' : 'latest.json');
  const json = {
    generatedAt: new Date().toISOString(),
    mode: ci ? 'ci' : flags.large ? 'large' : 'default',
    machine,
    options: { columns, targetsPerTask: TARGETS, durationS, goalRounds, pollRounds, qps, burst, concurrency, goalTasks, pageSize: PAGE_SIZE },
    results,
    goals,
  };
  // Written aside and renamed: a reader never sees half a file.
  writeFileSync(`${file}.tmp`, JSON.stringify(json, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
  process.stdout.write(`\nJSON: ${path.relative(process.cwd(), file) || file}\n`);
  const failed = goals.filter((g) => !g.pass);
  if (failed.length && flags.strict) return 1;
  return 0;
}

/** The publish phase for several block sizes: gzip size against re-rendering and re-compression costs. */
async function blockSweep(tasks: number, rounds: number): Promise<number> {
  const configs = [
    { blockBytes: 16 * 1024, maxBlockObjects: 256 },
    { blockBytes: 32 * 1024, maxBlockObjects: 64 },
    { blockBytes: 32 * 1024, maxBlockObjects: 256 },
    { blockBytes: 32 * 1024, maxBlockObjects: 1024 },
    { blockBytes: 64 * 1024, maxBlockObjects: 256 },
    { blockBytes: 128 * 1024, maxBlockObjects: 256 },
  ];
  const out: { config: (typeof configs)[number]; result: PublishResult }[] = [];
  const lines = [
    `| block bytes / max objects (T=${tasks.toLocaleString('en-US')}) | blocks | gzip vs one member | 1 % contiguous | 1 % scattered | every task | cycle in 25 publications |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const config of configs) {
    log(`== block sweep: ${config.blockBytes / 1024} KiB, ${config.maxBlockObjects} objects`);
    const r = await publishPhase(SERVE_CHILD, { tasks, targets: TARGETS, machines: 0 }, rounds, config);
    out.push({ config, result: r });
    const p = (x: number) => `${(100 * x).toFixed(1)} %`;
    lines.push(
      `| ${config.blockBytes / 1024} KiB / ${config.maxBlockObjects} | ${r.firstPublish.stats.blocks} | x${(r.gzipBytes / r.singleGzipBytes).toFixed(3)} | ${p(r.ratio.contiguous)} | ${p(r.ratio.scatter)} | ${p(r.ratio.all)} | x${r.ratio.progressive.toFixed(2)} |`,
    );
  }
  process.stdout.write(`\n${lines.join('\n')}\n\nCPU time vs a full render + gzip (medians of ${rounds} rounds, ${3 * rounds} publications).\n`);
  const file = path.join(ROOT, 'bench/results/blocks.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify({ generatedAt: new Date().toISOString(), tasks, targetsPerTask: TARGETS, rounds, sweep: out }, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
