/** The one markdown table, the goals with PASS/FAIL, and the JSON written next to it. */
import type { PollResult } from './poll.js';
import type { PublishResult } from './publish.js';
import type { RenderResult } from './render.js';
import type { RssResult } from './rss.js';
import type { ScrapeResult } from './scrape.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly platform: string;
  readonly loadClient: string;
  readonly baseline: string;
}

export interface SizeResult {
  readonly tasks: number;
  readonly targets: number;
  /** Machines of the account's latest scan in every phase of this column (0: none). */
  readonly machines: number;
  readonly render: RenderResult;
  readonly publish: PublishResult;
  readonly scrape: ScrapeResult;
  readonly rss: RssResult;
  readonly poll?: PollResult;
}

export interface Goal {
  readonly id: string;
  readonly goal: string;
  readonly measured: string;
  readonly pass: boolean;
}

const THRESHOLDS = {
  renderRatio: 0.25,
  publishRatio: 0.05,
  rpsRatio: 1.0,
  p99Ratio: 1.5,
  rssMb: 250,
  /** With the latest scan's machines too (issue #12: 10,000 tasks x 10 targets plus 10,000 machines). */
  rssWithMachinesMb: 300,
  qpsShare: 0.95,
  healthP99Ms: 50,
  /** Answer to /metrics, p99, during a rate-limited cycle, progressive publication. */
  freshnessP99Ms: 2_000,
  /** Exporter CPU over a cycle + render, progressive / at cycle end. */
  cycleCpuRatio: 1.0,
} as const;

const n = (x: number, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : String(x));
const mb = (bytes: number) => (bytes >= 1e6 ? `${n(bytes / 1e6, 1)} MB` : `${n(bytes / 1e3, 0)} KB`);
const ms = (x: number) => `${n(x, x < 10 ? 1 : 0)} ms`;
const sign = (x: number) => `${x >= 0 ? '+' : ''}${n(x, 1)}`;
const pf = (b: boolean) => (b ? '**PASS**' : '**FAIL**');

/** Sizes whose scrape ratios are judged (those of them that ran). */
export const SCRAPE_GOAL_SIZES = [1_000, 10_000] as const;

const pct = (x: number) => `${n(100 * x, 1)} %`;
const sec = (msv: number) => `${n(msv / 1000, msv < 10_000 ? 2 : 1)} s`;

/** A column's name: `T=10,000 x 10`, `+ 10,000 machines` when it has a latest scan. */
export const columnName = (r: Pick<SizeResult, 'tasks' | 'targets' | 'machines'>) => `T=${n(r.tasks)} x ${r.targets}${r.machines > 0 ? ` + ${n(r.machines)} machines` : ''}`;
/** Goal ID suffix of a column with machines. */
const mSuffix = (r: Pick<SizeResult, 'machines'>) => (r.machines > 0 ? `-M${r.machines}` : '');
const rssLimit = (r: Pick<SizeResult, 'machines'>) => (r.machines > 0 ? THRESHOLDS.rssWithMachinesMb : THRESHOLDS.rssMb);

/**
 * Goals: everything at the judged column `r`; the same (render, publish,
 * scrapes, memory) at `m`, the column with the latest scan's machines, when
 * it is another one; scrape ratios at every size in SCRAPE_GOAL_SIZES that
 * ran; polling, freshness, cycle CPU and the scan's calls and memory from
 * the poll phase with the machines (`m`'s, else `r`'s).
 */
export function evaluate(r: SizeResult, all: readonly SizeResult[] = [r], m: SizeResult = r): Goal[] {
  const goals: Goal[] = [];
  for (const col of m === r ? [r] : [r, m]) goals.push(...columnGoals(col));
  for (const size of all.filter((x) => (SCRAPE_GOAL_SIZES as readonly number[]).includes(x.tasks) || x === r || x === m)) {
    for (const c of size.scrape.cases) {
      goals.push({
        id: scrapeGoalId(c.encoding, c.connections, size),
        goal: `${columnName(size)} ${c.encoding} c=${c.connections}: req/s >= ${THRESHOLDS.rpsRatio}x baseline, p99 <= ${THRESHOLDS.p99Ratio}x`,
        measured: `req/s x${n(c.rpsRatio, 2)}, p99 x${n(c.p99Ratio, 2)}`,
        pass: c.rpsRatio >= THRESHOLDS.rpsRatio && c.p99Ratio <= THRESHOLDS.p99Ratio,
      });
    }
  }
  const p = m.poll ?? r.poll;
  if (p) goals.push(...pollGoals(p));
  return goals;
}

/** Render, publish, render-once and memory of one column. */
function columnGoals(r: SizeResult): Goal[] {
  const goals: Goal[] = [];
  const sc = r.scrape;
  const pu = r.publish;
  const sfx = mSuffix(r);
  const at = r.machines > 0 ? ` (${columnName(r)})` : '';
  goals.push({
    id: `publish-1pct${sfx}`,
    goal: `publishing 1 % changed tasks (contiguous) costs <= ${pct(THRESHOLDS.publishRatio)} of a full render + gzip (CPU time)${at}`,
    measured: `${pct(pu.ratio.contiguous)} (${ms(pu.contiguous.cpuMs)} vs ${ms(pu.full.cpuMs)}); scattered ${pct(pu.ratio.scatter)}; every task changed ${pct(pu.ratio.all)}; a cycle in 25 publications x${n(pu.ratio.progressive, 2)}`,
    pass: pu.ratio.contiguous <= THRESHOLDS.publishRatio,
  });
  goals.push({
    id: `render-once${sfx}`,
    goal: `task series rendered once per snapshot, never per scrape${at}`,
    measured: `${sc.rendersDuringLoad} renders during ${n(sc.scrapesServed)} scrapes; ${r.rss.renders} renders for ${r.rss.cycles.length} snapshots during ${n(r.rss.scrapes)} scrapes`,
    pass: sc.rendersDuringLoad === 0 && sc.scrapesServed > 0 && r.rss.renders === r.rss.cycles.length,
  });
  goals.push({
    id: `render-vs-prom-client${sfx}`,
    goal: `render <= ${THRESHOLDS.renderRatio} x prom-client metrics(), same series${at}`,
    measured: `x${n(r.render.ratio, 2)}, ${r.render.equivalence.byteEqual ? 'byte-equal' : r.render.equivalence.sameSeries ? 'same series' : 'DIFFERENT'}`,
    pass: r.render.ratio <= THRESHOLDS.renderRatio && r.render.equivalence.sameSeries,
  });
  goals.push({
    id: `rss${sfx}`,
    goal: `RSS under scraping <= ${rssLimit(r)} MB, flat across cycles${at}`,
    measured: `peak ${n(r.rss.maxPeakRssMb)} MB; peak slope ${n(r.rss.peakSlopeMbPerCycle, 1)} MB/cycle; after GC ${sign(r.rss.rssGrowthMb)} MB RSS, ${sign(r.rss.heapGrowthMb)} MB heap (cycle 2 -> last)`,
    pass: r.rss.maxPeakRssMb <= rssLimit(r) && r.rss.flat,
  });
  return goals;
}

/** The poll phase's goals: rate, terminal tasks, health; freshness and cycle CPU; the latest scan's calls and memory. */
function pollGoals(p: PollResult): Goal[] {
  const goals: Goal[] = [];
  {
    const limit = p.budgetQps + p.burst;
    goals.push({
      id: 'poll-qps',
      goal: `cycle >= ${THRESHOLDS.qpsShare * 100}% of ${p.budgetQps} qps, no 1-s bucket > ${limit}`,
      measured: `${n(p.cycle1.achievedQps, 1)} qps (${n((100 * p.cycle1.achievedQps) / p.budgetQps, 1)}%), max ${p.maxPerSecond}/s, ${p.throttled} throttled`,
      pass: p.cycle1.achievedQps >= THRESHOLDS.qpsShare * p.budgetQps && p.maxPerSecond <= limit && p.throttled === 0 && p.cycle1.failed === 0,
    });
    goals.push({
      id: 'poll-terminal',
      goal: 'next cycle polls only the active tasks',
      measured: `${n(p.cycle2.calls)} calls for ${n(p.cycle2.activeTasks)} active tasks`,
      pass: p.cycle2.calls === p.cycle2.activeTasks && p.cycle2.simulatorCalls === p.cycle2.activeTasks,
    });
    goals.push({
      id: 'health',
      goal: `/-/healthy p99 < ${THRESHOLDS.healthP99Ms} ms during a cycle + render; lag metric exported`,
      measured: `p99 ${ms(p.health.p99Ms)} (${p.health.probes} probes, ${p.health.failures} failed); nodejs_eventloop_lag_p99_seconds ${p.promEventLoopLagP99Seconds === undefined ? 'ABSENT' : 'present'}`,
      pass: p.health.p99Ms < THRESHOLDS.healthP99Ms && p.health.failures === 0 && p.promEventLoopLagP99Seconds !== undefined,
    });
  }
  const pr = p.publishing.progressive;
  const ce = p.publishing.cycleEnd;
  goals.push({
    id: 'answer-to-metrics',
    goal: `an answer is on /metrics within ${sec(THRESHOLDS.freshnessP99Ms)} (p99) during a rate-limited cycle (${n(p.cycle1.calls)} calls at ${p.budgetQps} qps)`,
    measured: `progressive: p50 ${sec(pr.p50Ms)}, p99 ${sec(pr.p99Ms)}, max ${sec(pr.maxMs)} over ${n(pr.answers)} answers; at cycle end: p50 ${sec(ce.p50Ms)}, p99 ${sec(ce.p99Ms)}, max ${sec(ce.maxMs)}`,
    pass: pr.p99Ms <= THRESHOLDS.freshnessP99Ms && pr.answers > 0,
  });
  goals.push({
    id: 'cycle-cpu',
    goal: `exporter CPU over a cycle + render, progressive publication <= x${n(THRESHOLDS.cycleCpuRatio, 1)} publication at cycle end`,
    measured: `x${n(p.publishing.cpuRatio, 3)} (${sec(pr.cpuMs)} vs ${sec(ce.cpuMs)}, median of ${pr.runs} runs each; runs ${runsOf(p, 'progressive')} vs ${runsOf(p, 'cycleEnd')})`,
    pass: p.publishing.cpuRatio <= THRESHOLDS.cycleCpuRatio,
  });
  if (p.scan) {
    const s = p.scan;
    const [first, ...rest] = s.cycles;
    goals.push({
      id: 'scan-calls',
      goal: `latest scan of ${n(p.machines)} machines, complete: its first listing ${s.expectedFirstCalls} calls (page ${s.pageSize}), then 0 per cycle until terminal_recheck_interval`,
      measured: `${s.cycles.map((c) => c.exporterCalls).join(' -> ')} calls (simulator: ${s.cycles.map((c) => c.simulatorCalls).join(' -> ')}); ${n(s.machinesExported)} machines on /metrics`,
      pass: first!.exporterCalls === s.expectedFirstCalls && first!.simulatorCalls === s.expectedFirstCalls && rest.every((c) => c.exporterCalls === 0 && c.simulatorCalls === 0) && s.machinesExported === p.machines,
    });
    goals.push({
      id: 'scan-rss',
      goal: `peak RSS of the polling exporter <= ${THRESHOLDS.rssWithMachinesMb} MB with ${n(p.cycle1.tasksPolled)} tasks x 10 targets + ${n(p.machines)} machines`,
      measured: `peak ${n(p.memory.peakRssMb)} MB over the run (start, 3 cycles, ${p.memory.scrapes} scrapes); ${n(p.memory.afterScrapesRssMb)} MB after the scrapes, ${n(p.memory.afterGc.rssMb)} MB after GC`,
      pass: p.memory.peakRssMb <= THRESHOLDS.rssWithMachinesMb,
    });
  }
  return goals;
}

/** CPU seconds of each run of a publishing mode, in run order. */
const runsOf = (p: PollResult, mode: 'progressive' | 'cycleEnd') =>
  p.publishing.runs
    .filter((r) => r.mode === mode)
    .map((r) => sec(r.cpuMs))
    .join(', ');

const scrapeGoalId = (encoding: string, connections: number, size: Pick<SizeResult, 'tasks' | 'machines'>) => `scrape-${encoding}-c${connections}-T${size.tasks}${mSuffix(size)}`;

/**
 * The table: one column per size; `judged` is the column most goals are
 * judged at, `withMachines` the column with the latest scan's machines
 * (the same one in CI mode).
 */
export function table(machine: Machine, results: readonly SizeResult[], judged: SizeResult, withMachines: SizeResult, goals: readonly Goal[], note: string): string {
  const cols = results.map(columnName);
  const goal = (id: string) => goals.find((g) => g.id === id);
  const rows: string[][] = [];
  const row = (label: string, values: (r: SizeResult) => string, goalText: string, goalId?: string | readonly string[]) => {
    const gs = (typeof goalId === 'string' ? [goalId] : (goalId ?? [])).map(goal).filter((g): g is Goal => g !== undefined);
    rows.push([label, ...results.map(values), goalText, gs.map((g) => pf(g.pass)).join(' / ')]);
  };
  /** The ID of a per-column goal at the judged column and the one with machines. */
  const both = (id: string) => [...new Set([`${id}${mSuffix(judged)}`, `${id}${mSuffix(withMachines)}`])];
  const info = (label: string, value: string) => rows.push([label, value, ...results.slice(1).map(() => ''), '', '']);
  info('Machine', `${machine.cpu}, ${machine.cores} cores, ${machine.platform}, Node ${machine.node}`);
  info('Load client', machine.loadClient);
  info('Baseline', machine.baseline);
  row('Series (task and scan families)', (r) => n(r.render.series), '');
  row('Payload plain / gzip', (r) => `${mb(r.render.plainBytes)} / ${mb(r.render.gzipBytes)}`, '');
  row(
    'Render one snapshot: ours / prom-client `metrics()` (ratio)',
    (r) => `${ms(r.render.oursRenderMs)} / ${ms(r.render.promMetricsMs)} (x${n(r.render.ratio, 2)}); ${r.render.equivalence.byteEqual ? 'byte-equal' : 'same series'}`,
    `<= x${THRESHOLDS.renderRatio}, same series`,
    both('render-vs-prom-client'),
  );
  row('  + gzip -6 (thread pool); prom-client `set()` of all series', (r) => `${ms(r.render.gzipMs)}; ${ms(r.render.promSetMs)}`, '');
  row(
    'Task-series renders caused by scrapes',
    (r) => `${r.scrape.rendersDuringLoad} in ${n(r.scrape.scrapesServed)} scrapes; ${r.rss.renders} for ${r.rss.cycles.length} snapshots`,
    '0; 1 per snapshot',
    both('render-once'),
  );
  const pub = (f: (p: PublishResult) => string) => (r: SizeResult) => f(r.publish);
  const changed = (p: PublishResult) => `${n(p.changed)} tasks`;
  row(
    'Publish 1 % changed tasks, contiguous (as polled): CPU ours / full render + gzip (ratio)',
    pub((p) => `${changed(p)}: ${ms(p.contiguous.cpuMs)} / ${ms(p.full.cpuMs)} (${pct(p.ratio.contiguous)})`),
    `<= ${pct(THRESHOLDS.publishRatio)}`,
    both('publish-1pct'),
  );
  row('Publish 1 % changed tasks, random scatter: CPU (ratio)', pub((p) => `${ms(p.scatter.cpuMs)} (${pct(p.ratio.scatter)}); ${pct(p.scatter.stats.objectRenders / (p.scatter.stats.objects * 8))} of task x family renders`), '(reported)');
  row('Publish every task changed: CPU (ratio); first publication', pub((p) => `${ms(p.all.cpuMs)} (x${n(p.ratio.all, 2)}); first ${ms(p.firstPublish.cpuMs)}`), '(reported)');
  row('A cycle published progressively, 25 x 4 %: CPU in all (ratio)', pub((p) => `${ms(p.progressive.cpuMs)} (x${n(p.ratio.progressive, 2)})`), '(reported; in a real cycle: see "Exporter CPU" below)');
  row('Gzip body: a member per block / one member', pub((p) => `${mb(p.gzipBytes)} / ${mb(p.singleGzipBytes)} (x${n(p.gzipBytes / p.singleGzipBytes, 3)})`), '');
  const caseIds = results[0]?.scrape.cases.map((c) => [c.encoding, c.connections] as const) ?? [];
  const judgedSizes = results.filter((r) => (SCRAPE_GOAL_SIZES as readonly number[]).includes(r.tasks) || r === judged || r === withMachines);
  for (const [enc, c] of caseIds) {
    row(
      `Scrape ${enc}, ${c} conn: req/s ours / baseline (ratio)`,
      (r) => {
        const k = r.scrape.cases.find((x) => x.encoding === enc && x.connections === c)!;
        return `${n(k.ours.rps)} / ${n(k.baseline.rps)} (x${n(k.rpsRatio, 2)})`;
      },
      '',
    );
    row(
      `Scrape ${enc}, ${c} conn: p50, p99 ours / baseline (p99 ratio)`,
      (r) => {
        const k = r.scrape.cases.find((x) => x.encoding === enc && x.connections === c)!;
        return `p50 ${ms(k.ours.p50Ms)} / ${ms(k.baseline.p50Ms)}; p99 ${ms(k.ours.p99Ms)} / ${ms(k.baseline.p99Ms)} (x${n(k.p99Ratio, 2)})`;
      },
      `>= x${THRESHOLDS.rpsRatio}, p99 <= x${THRESHOLDS.p99Ratio} at ${judgedSizes.map(columnName).join('; ')}`,
      judgedSizes.map((t) => scrapeGoalId(enc, c, t)),
    );
  }
  row(
    'RSS under continuous scraping: peak per snapshot cycle',
    (r) => `${r.rss.cycles.map((c) => n(c.peakRssMb)).join(', ')} MB (slope ${sign(r.rss.peakSlopeMbPerCycle)} MB/cycle)`,
    `<= ${THRESHOLDS.rssMb} MB, ${THRESHOLDS.rssWithMachinesMb} MB with machines; flat`,
    both('rss'),
  );
  row('  after GC per cycle: RSS; heap used', (r) => `${r.rss.cycles.map((c) => n(c.rssAfterGcMb)).join(', ')} MB; ${r.rss.cycles.map((c) => n(c.heapUsedAfterGcMb)).join(', ')} MB`, '');
  const pollGoal = withMachines.poll ? withMachines : judged;
  const poll = (f: (p: PollResult) => string) => (r: SizeResult) => (r.poll ? f(r.poll) : r.tasks > 10_000 ? 'n/a (poll phase at T <= 10,000)' : 'n/a (poll phase in the column with machines)');
  row(
    'Poll cycle: QPS achieved / budget (max per 1-s bucket; sliding)',
    poll(
      (p) =>
        `${n(p.cycle1.achievedQps, 1)} / ${p.budgetQps} (${n((100 * p.cycle1.achievedQps) / p.budgetQps, 1)}%); max ${p.maxPerSecond}/s; sliding 1 s: ${p.maxSlidingWindowClient} sent, ${p.maxSlidingWindow} arrived; ` +
        `cycle 1 of every run: ${p.publishing.runs.map((r) => n(r.cycleMs / 1000, 1)).join(', ')} s`,
    ),
    `>= ${THRESHOLDS.qpsShare * 100}%, <= budget+burst (${columnName(pollGoal)})`,
    'poll-qps',
  );
  row(
    'Poll: API calls cycle 1 -> cycle 2 (active tasks)',
    poll((p) => `${n(p.cycle1.calls)} in ${n(p.cycle1.durationMs / 1000, 1)} s -> ${n(p.cycle2.calls)} (${n(p.cycle2.activeTasks)} active)`),
    'cycle 2 = active',
    'poll-terminal',
  );
  row(
    'Answer -> /metrics, every answer of cycle 1: p50 / p99 / max; progressive (1 s) vs at cycle end',
    poll((p) => {
      const pr = p.publishing.progressive;
      const ce = p.publishing.cycleEnd;
      const scan = pr.scanMaxMs !== undefined && ce.scanMaxMs !== undefined ? `; scan listing -> /metrics ${sec(pr.scanMaxMs)} vs ${sec(ce.scanMaxMs)}` : '';
      return `${sec(pr.p50Ms)} / ${sec(pr.p99Ms)} / ${sec(pr.maxMs)} vs ${sec(ce.p50Ms)} / ${sec(ce.p99Ms)} / ${sec(ce.maxMs)} (p99 x${n(pr.p99Ms / ce.p99Ms, 2)})${scan}`;
    }),
    `p99 <= ${sec(THRESHOLDS.freshnessP99Ms)} progressive`,
    'answer-to-metrics',
  );
  row(
    'Exporter CPU over cycle 1 + final render: progressive vs at cycle end (ratio)',
    (r) => {
      const p = r.poll;
      if (!p) return poll(() => '')(r);
      const pr = p.publishing.progressive;
      const ce = p.publishing.cycleEnd;
      // The publications alone, from this column's publish phase (synthetic, same process otherwise idle): what progressive costs more.
      const extra = r.publish.progressive.cpuMs - r.publish.all.cpuMs;
      return (
        `${sec(pr.cpuMs)} vs ${sec(ce.cpuMs)} (x${n(p.publishing.cpuRatio, 3)}); runs ${runsOf(p, 'progressive')} vs ${runsOf(p, 'cycleEnd')}; ` +
        `${n(pr.publicationsPerCycle)} publications vs 1 (render wall ${ms(pr.renderSumMs)} vs ${ms(ce.renderSumMs)}); ` +
        `publish phase: 25 x 4 % ${ms(r.publish.progressive.cpuMs)} vs all at once ${ms(r.publish.all.cpuMs)} CPU, ${extra >= 0 ? '+' : ''}${pct(extra / ce.cpuMs)} of the cycle`
      );
    },
    `<= x${n(THRESHOLDS.cycleCpuRatio, 1)}`,
    'cycle-cpu',
  );
  row(
    'Latest scan, complete (page 100): scan-results calls cycle 1 -> 2 -> 3; machines on /metrics',
    poll((p) => (p.scan ? `${p.scan.cycles.map((c) => c.exporterCalls).join(' -> ')} (simulator ${p.scan.cycles.map((c) => c.simulatorCalls).join(' -> ')}); ${n(p.scan.machinesExported)} machines` : 'no scan')),
    `first ${withMachines.poll?.scan?.expectedFirstCalls ?? '1 + M/100'}, then 0`,
    'scan-calls',
  );
  row(
    'Polling exporter RSS: peak over the run; after cycle 1; after scrapes; after GC',
    poll((p) => `${n(p.memory.peakRssMb)} MB; ${n(p.memory.afterCycle1RssMb)}; ${n(p.memory.afterScrapesRssMb)}; ${n(p.memory.afterGc.rssMb)} MB (cycle end only: peak ${n(p.publishing.cycleEnd.peakRssMb)} MB)`),
    `<= ${THRESHOLDS.rssWithMachinesMb} MB with machines`,
    'scan-rss',
  );
  row(
    'Event-loop delay during cycle + render: p99 / max',
    poll((p) => `${ms(p.eventLoop.p99Ms)} / ${ms(p.eventLoop.maxMs)}; render ${ms(p.cycle1.renderMs)}; CPU exporter ${n(p.cpuPercent.exporter)}%, simulator ${n(p.cpuPercent.simulator)}% of a core`),
    '(monitorEventLoopDelay, 1 ms resolution)',
  );
  row(
    '/-/healthy during cycle + render: p50 / p99 / max',
    poll((p) => `${ms(p.health.p50Ms)} / ${ms(p.health.p99Ms)} / ${ms(p.health.maxMs)} (${p.health.probes} probes)`),
    `p99 < ${THRESHOLDS.healthP99Ms} ms`,
    'health',
  );
  row(
    '`nodejs_eventloop_lag_p99_seconds` on /metrics',
    poll((p) => (p.promEventLoopLagP99Seconds === undefined ? 'absent' : `present (${n(p.promEventLoopLagP99Seconds, 4)} s)`)),
    'present',
  );
  const head = ['Measure', ...cols, `Goal (judged at ${columnName(judged)}${withMachines !== judged ? ` and ${columnName(withMachines)}` : ''}; scrapes at each size named)`, 'Result'];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)];
  return `${lines.join('\n')}\n\n${note}\n`;
}
