/**
 * The Prometheus stack end to end, on loopback (what CI runs):
 *
 *   simulator (in-process, test/fixtures/scenarios/prometheus-stack.yaml:
 *              four accounts, each with its own key pair: prod and staging
 *              with tasks, archive and dormant with virus scans only; each
 *              account's latest virus scan)
 *     <- the BUILT exporter (child process, real SDK over HTTP, every second,
 *        in the accounts form: each account's key pair from the environment
 *        variables its `credentials:` names; latest_scan enabled)
 *     <- Prometheus, scraping every second with its default Accept header
 *        (OpenMetrics first), evaluating every second the SHIPPED rules
 *        (deploy/prometheus/rules.yml; in a temp copy where only the alerts'
 *        `for:` is divided by 60, so the expressions are exactly the shipped ones)
 *     -> Alertmanager with the SHIPPED configuration (deploy/alertmanager/
 *        alertmanager.yml; receivers' URLs pointed at this test's webhook,
 *        group_wait/group_interval 1s)
 *     -> a node:http webhook in this test, recording every POST and when it came.
 *
 * The simulator's timeline is held at 0 until the whole chain is up, then
 * started: the moment task 3001 of account prod turns Failed is known, and
 * the test measures the alert latency from it to the webhook, against the
 * floor of the intervals (poll schedule + scrape + evaluation + group_wait).
 * Likewise for the scan alerts: the moments a machine of prod's scan turns
 * suspicious, failed or timed out, and a scan started long ago becomes the
 * latest of staging (running) and archive (complete) are known too.
 *
 * A second Prometheus loads deploy/prometheus/rules.yml unmodified, scraping
 * the same exporter, to show the shipped file loads and every rule is healthy
 * on real data.
 *
 * Needs prometheus, promtool and Alertmanager (Debian: apt-get install
 * prometheus prometheus-alertmanager). Outside CI a missing binary skips this
 * file with a printed reason; with CI set it fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMap, isSeq, parse, parseDocument, type YAMLMap } from 'yaml';
import { panelQueries, resolveVariables } from '../../deploy/grafana/dashboard.js';
import {
  accountsOf,
  loadScenarioFile,
  settlesAtMs,
  startSimulator,
  type AccountSpec,
  type MachineSpec,
  type Scenario,
  type ScenarioTask,
  type SimulatorHandle,
  type VirusScanSpec,
} from '../../src/simulator/index.js';
import { ExporterProcess, ROOT } from '../support/exporter.js';
import { startAlertmanager, startPrometheus, toolGate, type AlertmanagerInstance, type PrometheusInstance, type Sample } from '../support/prometheus.js';

const JOB = 'aliyun-sas-exporter';
const SHIPPED_RULES = path.join(ROOT, 'deploy/prometheus/rules.yml');
const SHIPPED_ALERTMANAGER = path.join(ROOT, 'deploy/alertmanager/alertmanager.yml');
const FIXTURE = path.join(ROOT, 'test/fixtures/scenarios/prometheus-stack.yaml');
/** The task that fails (init 2s -> Processing 3s -> Failed), in account prod; staging has a 3001 too, which succeeds. */
const FAILING = '3001';
const FAILING_ACCOUNT = 'prod';
const BIG = '9007199254740993';
/** The alerts on the latest virus scans (deploy/prometheus/rules.yml). */
const SCAN_ALERTS = ['AliyunSasVirusScanSuspiciousMachines', 'AliyunSasVirusScanMachinesFailed', 'AliyunSasVirusScanStale', 'AliyunSasVirusScanRunningTooLong', 'AliyunSasVirusScanPollFailing'];

/**
 * The intervals of the chain, as configured below: the exporter's poll
 * schedule, Prometheus' scrape and evaluation intervals, Alertmanager's
 * group_wait. Their sum is the floor of the alert latency: the worst case of
 * a failure seen just after a poll, polled just after a scrape, scraped just
 * after an evaluation, and a new alert group waiting group_wait.
 */
const SCHEDULE = '*/1 * * * * *';
const SCHEDULE_MS = 1_000;
const SCRAPE_INTERVAL = '1s';
const EVALUATION_INTERVAL = '1s';
const GROUP_WAIT = '1s';
/** The goal (issue: signal latency, measured): failed -> webhook within the floor plus this. */
const LATENCY_SLACK_MS = 5_000;
/** What Prometheus 2.42 sends when it scrapes (scrape.scrapeAcceptHeader). */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const gate = toolGate(['prometheus', 'promtool', 'alertmanager']);
if (gate.skip) console.warn(`[prometheus-stack.test] skipping the Prometheus stack end-to-end test: ${gate.reason}`);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Shortening `for:` without touching anything else.
// ---------------------------------------------------------------------------

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** A Prometheus duration ("1m", "1h30m", "500ms") in milliseconds. */
function durationMs(d: string): number {
  const parts = [...d.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== d) throw new Error(`not a Prometheus duration: ${JSON.stringify(d)}`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}

/** Minutes become seconds (1m -> 1s, 5m -> 5s, 15m -> 15s): the alerts keep their order, and none fires from a start-up blip. */
const shorten = (d: string): string => `${Math.max(1, Math.round(durationMs(d) / 60_000))}s`;

/**
 * The rule file with every `for:` shortened: edited in the parsed YAML
 * document (so expressions, labels, annotations and comments are the
 * original nodes), never by text substitution.
 */
function shortenFor(text: string): string {
  const doc = parseDocument(text);
  const groups = doc.get('groups');
  if (!isSeq(groups)) throw new Error('rules: no groups');
  for (const g of groups.items) {
    const rules = (g as YAMLMap).get('rules');
    if (!isSeq(rules)) throw new Error('rules: a group without rules');
    for (const r of rules.items) {
      if (!isMap(r)) throw new Error('rules: a rule that is not a map');
      const f = r.get('for');
      if (f !== undefined) r.set('for', shorten(String(f)));
    }
  }
  return doc.toString();
}

interface RuleDoc {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rulesOf = (text: string): RuleDoc[] => (parse(text) as { groups: { rules: RuleDoc[] }[] }).groups.flatMap((g) => g.rules);
const withoutFor = (text: string): unknown => {
  const d = parse(text) as { groups: { rules: Record<string, unknown>[] }[] };
  for (const g of d.groups) for (const r of g.rules) delete r.for;
  return d;
};

/**
 * The shipped Alertmanager configuration, unchanged but for every receiver's
 * webhook URL (now `<webhook>/<receiver name>`) and the grouping delays (1s).
 */
function alertmanagerConfigFor(text: string, webhook: string, groupWait: string): string {
  const doc = parseDocument(text);
  const receivers = doc.get('receivers');
  if (!isSeq(receivers)) throw new Error('alertmanager.yml: no receivers');
  for (const rcv of receivers.items as YAMLMap[]) {
    const name = String(rcv.get('name'));
    const other = (rcv.items as { key: unknown }[]).map((p) => String(p.key)).filter((k) => k !== 'name' && k !== 'webhook_configs');
    // Anything but a webhook would reach a real service from the test.
    if (other.length > 0) throw new Error(`alertmanager.yml: receiver ${name} has ${other.join(', ')}: teach this test to redirect them`);
    const hooks = rcv.get('webhook_configs');
    if (!isSeq(hooks)) continue;
    for (const h of hooks.items as YAMLMap[]) h.set('url', `${webhook}/${name}`);
  }
  const setDelays = (route: unknown) => {
    if (!isMap(route)) return;
    if (route.has('group_wait') || route === doc.get('route')) route.set('group_wait', groupWait);
    if (route.has('group_interval') || route === doc.get('route')) route.set('group_interval', '1s');
    const sub = route.get('routes');
    if (isSeq(sub)) sub.items.forEach(setDelays);
  };
  setDelays(doc.get('route'));
  return doc.toString();
}

// ---------------------------------------------------------------------------
// The webhook receiver.
// ---------------------------------------------------------------------------

interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  fingerprint: string;
}
interface Notification {
  path: string;
  /** Date.now() when the request began to arrive. */
  receivedAt: number;
  body: { receiver: string; status: string; alerts: WebhookAlert[] };
}

function startWebhook(): Promise<{ server: Server; url: string; received: Notification[] }> {
  const received: Notification[] = [];
  const server = createServer((req, res) => {
    const receivedAt = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') {
        try {
          received.push({ path: req.url ?? '', receivedAt, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notification['body'] });
        } catch {
          received.push({ path: req.url ?? '', receivedAt, body: { receiver: '<unparseable>', status: '', alerts: [] } });
        }
      }
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}`, received });
    });
  });
}

/** The environment variables the exporter configuration names for an account's key pair. */
const keyEnv = (account: string) => ({ id: `STACK_${account.toUpperCase()}_ACCESS_KEY_ID`, secret: `STACK_${account.toUpperCase()}_ACCESS_KEY_SECRET` });

/** The exporter's environment: nothing ALIBABA_CLOUD_* / ALICLOUD_* from the runner, only each account's key pair under the names its configuration gives. */
function exporterEnv(accounts: readonly AccountSpec[]): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (/^(ALIBABA_CLOUD_|ALICLOUD_)/i.test(k)) env[k] = undefined;
  for (const a of accounts) {
    const pair = a.credentials[0]!;
    env[keyEnv(a.name).id] = pair.accessKeyId;
    env[keyEnv(a.name).secret] = pair.accessKeySecret;
  }
  return env;
}

/**
 * The exporter's configuration: the accounts form, every account on the
 * simulator, the latest virus scan of each; a complete scan (or task) asked
 * about again every cycle, so that a newer scan replacing a complete one is
 * seen at once (the default waits 10 minutes); a rate limit that lets every
 * cycle finish within its one-second tick (the default 5 qps would not, with
 * every task and scan asked about each cycle), since the latency floor
 * counts one poll per tick.
 */
function exporterConfig(accounts: readonly AccountSpec[], endpoint: string): string {
  return [
    `schedule: "${SCHEDULE}"`,
    'latest_scan: { enabled: true }',
    'terminal_recheck_interval: 0s',
    'rate_limit: { qps: 50, burst: 50 }',
    'accounts:',
    ...accounts.flatMap((a) => [
      `  - name: ${a.name}`,
      `    endpoint: "${endpoint}"`,
      '    protocol: http',
      `    credentials: { access_key_id_env: ${keyEnv(a.name).id}, access_key_secret_env: ${keyEnv(a.name).secret} }`,
      ...(a.tasks.length === 0 ? ['    tasks: []'] : ['    tasks:', ...a.tasks.map((t) => `      - { id: "${t.id}", name: ${JSON.stringify(t.name)} }`)]),
    ]),
    '',
  ].join('\n');
}

/**
 * The simulator's timeline clock, held at its start until release(): every
 * task stays in its first step while the stack comes up, then the timeline
 * runs in real time. Returns the wall time of the release.
 */
function heldClock(): { now: () => number; release: () => number } {
  const t0 = Date.now();
  let releasedAt: number | undefined;
  return {
    now: () => (releasedAt === undefined ? t0 : t0 + Date.now() - releasedAt),
    release: () => (releasedAt ??= Date.now()),
  };
}

/** One task of one account. */
interface AccountTask {
  account: string;
  task: ScenarioTask;
}
const tasksOf = (accounts: readonly AccountSpec[]): AccountTask[] => accounts.flatMap((a) => a.tasks.map((task) => ({ account: a.name, task })));
const keyOf = (account: string | undefined, taskId: string | undefined) => `${account}/${taskId}`;

/** The scenario's final status of a task (the last timeline step holds forever). */
const finalStatus = (t: ScenarioTask) => t.timeline.at(-1)!.status;

/** The machines of a scan written out in the scenario (never generated in this fixture). */
function machinesOf(scan: VirusScanSpec): readonly MachineSpec[] {
  if (!Array.isArray(scan.machines)) throw new Error('the stack fixture lists its machines');
  return scan.machines as readonly MachineSpec[];
}
/** When a machine of a scan reaches its last status, on the timeline (ms). */
const machineEndsAtMs = (scan: VirusScanSpec, m: MachineSpec) => scan.atMs + scan.pendingMs + m.timeline.slice(0, -1).reduce((sum, step) => sum + (step.forMs ?? 0), 0);
/** The account's scans, and the one that is its latest in the end. */
const scansOf = (accounts: readonly AccountSpec[], name: string) => accounts.find((a) => a.name === name)!.virusScans;
const lastScanOf = (accounts: readonly AccountSpec[], name: string) => scansOf(accounts, name).at(-1)!;

const TARGET_LABELS = ['account', 'task_id', 'task_name', 'target', 'target_name', 'target_type'] as const;
const pick = (labels: Record<string, string>) =>
  Object.fromEntries(TARGET_LABELS.map((k) => [k, labels[k]])) as Record<(typeof TARGET_LABELS)[number], string | undefined>;
const byTarget = (a: { account?: string; task_id?: string; target?: string }, b: { account?: string; task_id?: string; target?: string }) =>
  `${a.account}/${a.task_id}/${a.target}`.localeCompare(`${b.account}/${b.task_id}/${b.target}`);
const durationS = (d: string) => durationMs(d) / 1_000;

interface RuleHealth {
  name: string;
  type: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  query: string;
  duration?: number;
  state?: string;
  alerts?: { labels: Record<string, string>; state: string }[];
}

async function ruleList(p: PrometheusInstance): Promise<RuleHealth[]> {
  return ((await p.rules()) as { rules: RuleHealth[] }[]).flatMap((g) => g.rules);
}

/** Waits until every rule has been evaluated at least once (health no longer "unknown"). */
async function evaluatedRules(p: PrometheusInstance, timeoutMs = 20_000): Promise<RuleHealth[]> {
  const deadline = Date.now() + timeoutMs;
  let rules = await ruleList(p);
  while (rules.some((r) => r.health === 'unknown') && Date.now() < deadline) {
    await sleep(250);
    rules = await ruleList(p);
  }
  return rules;
}

describe.skipIf(gate.skip)('Prometheus stack: exporter (four accounts) -> Prometheus (shipped rules) -> Alertmanager -> webhook', () => {
  let scenario: Scenario;
  let accounts: readonly AccountSpec[];
  let tasks: AccountTask[];
  let dir: string;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  let am: AlertmanagerInstance;
  let sim: SimulatorHandle;
  let exporter: ExporterProcess;
  let prom: PrometheusInstance;
  let promShipped: PrometheusInstance;
  let shippedRules: string;
  let shortenedRules: string;
  /** When the simulator's timeline started (wall time, ms): time 0 of the fixture. */
  let timelineStart: number;
  /** `account/task ID` -> name, as the scenario gives it and the exporter is configured with. */
  let names: Map<string, string>;

  beforeAll(async () => {
    // In CI a missing binary fails here, with its name.
    for (const tool of ['prometheus', 'promtool', 'alertmanager'] as const) gate.path(tool);

    scenario = await loadScenarioFile(FIXTURE);
    accounts = accountsOf(scenario);
    tasks = tasksOf(accounts);
    names = new Map(tasks.map(({ account, task }) => [keyOf(account, task.id), task.name ?? '']));
    dir = await mkdtemp(path.join(tmpdir(), 'sas-prometheus-stack-'));

    shippedRules = await readFile(SHIPPED_RULES, 'utf8');
    shortenedRules = shortenFor(shippedRules);
    const rulesCopy = path.join(dir, 'rules.yml');
    await writeFile(rulesCopy, shortenedRules);

    webhook = await startWebhook();
    am = await startAlertmanager({ config: alertmanagerConfigFor(await readFile(SHIPPED_ALERTMANAGER, 'utf8'), webhook.url, GROUP_WAIT) });

    const clock = heldClock();
    sim = await startSimulator({ scenario, host: '127.0.0.1', port: 0, now: clock.now });
    const configFile = path.join(dir, 'exporter.yaml');
    await writeFile(configFile, exporterConfig(accounts, sim.endpoint));
    exporter = await ExporterProcess.start({ args: [`--config.file=${configFile}`], env: exporterEnv(accounts) });

    const job = { job: JOB, targets: [`127.0.0.1:${exporter.port}`] };
    const intervals = { scrapeInterval: SCRAPE_INTERVAL, evaluationInterval: EVALUATION_INTERVAL };
    const started = await Promise.allSettled([
      startPrometheus({ scrapeJobs: [job], alertmanagerUrl: am.url, ...intervals }),
      startPrometheus({ scrapeJobs: [job], ruleFiles: [SHIPPED_RULES], ...intervals }),
    ]);
    // Keep whichever started, so afterAll stops it even when the other failed.
    if (started[0].status === 'fulfilled') prom = started[0].value;
    if (started[1].status === 'fulfilled') promShipped = started[1].value;
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    // The shortened rules go in once the exporter has been scraped. Prometheus
    // syncs its scrape targets up to 5 s after start, and until then
    // absent(up{job="aliyun-sas-exporter"}) holds: with the shipped `for: 5m`
    // that is nothing, with the shortened `for: 5s` AliyunSasExporterDown
    // would fire for real, an artefact of the compression.
    await prom.waitFor(`up{job="${JOB}"}`, (s) => s.length === 1 && s[0]!.value === 1, 30_000);
    await prom.reload({ ruleFiles: [rulesCopy] });
    const deadline = Date.now() + 20_000;
    while ((await prom.rules()).length === 0) {
      if (Date.now() > deadline) throw new Error(`Prometheus did not load ${rulesCopy}:\n${prom.logs()}`);
      await sleep(200);
    }
    // And Prometheus must know its Alertmanager (discovered up to 5 s after start).
    while (((await (await fetch(`${prom.url}/api/v1/alertmanagers`)).json()) as { data: { activeAlertmanagers: unknown[] } }).data.activeAlertmanagers.length === 0) {
      if (Date.now() > deadline) throw new Error(`Prometheus did not discover Alertmanager at ${am.url}:\n${prom.logs()}`);
      await sleep(200);
    }
    // Everything is up: start the scan timelines.
    timelineStart = clock.release();
  }, 90_000);

  afterAll(async () => {
    const errors: unknown[] = [];
    const attempt = async (f: () => Promise<unknown> | undefined) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    await Promise.all([attempt(() => prom?.stop()), attempt(() => promShipped?.stop()), attempt(() => am?.stop())]);
    await attempt(() => exporter?.stop());
    await attempt(() => sim?.close());
    await attempt(() =>
      webhook
        ? new Promise<void>((r) => {
            webhook.server.close(() => r());
            webhook.server.closeAllConnections();
          })
        : undefined,
    );
    await attempt(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));
    if (errors.length > 0) throw errors[0];
  }, 60_000);

  it('the fixture: four accounts; one task ends Failed, with servers and a server group; its task ID also in the other account, succeeding', () => {
    expect(accounts.map((a) => a.name)).toEqual(['prod', 'staging', 'archive', 'dormant']);
    const failed = tasks.filter(({ task }) => finalStatus(task) === 'Failed');
    expect(failed.map(({ account, task }) => keyOf(account, task.id))).toEqual([keyOf(FAILING_ACCOUNT, FAILING)]);
    expect(new Set(failed[0]!.task.targets.map((t) => t.type))).toEqual(new Set(['uuid', 'groupId']));
    const twin = tasks.filter(({ account, task }) => task.id === FAILING && account !== FAILING_ACCOUNT);
    expect(twin.map(({ task }) => finalStatus(task))).toEqual(['Success']);
  });

  it('the fixture: prod\'s latest scan ends with a suspicious, a failed and a timed-out machine; staging\'s and archive\'s latest started long ago (one runs, one is complete); dormant never ran one', () => {
    const prod = lastScanOf(accounts, 'prod');
    const ends = (scan: VirusScanSpec) => machinesOf(scan).map((m) => `${m.timeline.at(-1)!.status}${m.alerts > 0 ? `+${m.alerts} ${m.riskLevel}` : ''}`).sort();
    expect(ends(prod)).toEqual(['complete', 'complete+3 high', 'failed', 'timeout']);
    expect(prod.scanTimeMs).toBeUndefined();
    const old = Date.UTC(2025, 0, 1);
    expect([lastScanOf(accounts, 'staging'), lastScanOf(accounts, 'archive')].map((s) => [s.atMs, s.scanTimeMs, ends(s)])).toEqual([
      [1_000, old, ['complete', 'running']],
      [1_000, old, ['complete']],
    ]);
    // Before them, a recent complete scan each: neither stale nor ever without a scan.
    for (const name of ['staging', 'archive']) expect(scansOf(accounts, name).map((s) => [s.atMs, s.scanTimeMs])).toEqual([[0, undefined], [1_000, old]]);
    expect(scansOf(accounts, 'dormant')).toEqual([]);
    expect(accounts.filter((a) => a.tasks.length === 0).map((a) => a.name)).toEqual(['archive', 'dormant']);
  });

  it('the temp rules differ from the shipped ones only in `for:` (minutes -> seconds)', () => {
    expect(withoutFor(shortenedRules)).toEqual(withoutFor(shippedRules));
    const shipped = rulesOf(shippedRules);
    const short = rulesOf(shortenedRules);
    expect(short.map((r) => r.expr)).toEqual(shipped.map((r) => r.expr));
    // A failed task is final: that alert has no `for:` to shorten, in either.
    expect(shipped.find((r) => r.alert === 'AliyunSasScanTaskFailed')?.for).toBeUndefined();
    expect(short.find((r) => r.alert === 'AliyunSasScanTaskFailed')?.for).toBeUndefined();
    for (const [i, r] of shipped.entries()) {
      if (r.for === undefined) expect(short[i]!.for).toBeUndefined();
      else expect(durationMs(short[i]!.for!)).toBe(Math.max(1_000, durationMs(r.for) / 60));
    }
  });

  it('promtool check metrics reports nothing on the live /metrics', async () => {
    // A full body: every task of every account has a status (3001 may still be on its way to failed).
    await exporter.until(
      (s) => tasks.every(({ account, task }) => s.some((x) => x.name === 'aliyun_sas_scan_task_status' && x.labels.account === account && x.labels.task_id === task.id)),
      20_000,
      'a status for every task',
    );
    const res = await fetch(`${exporter.base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    expect(body).toContain(`task_id="${BIG}"`);
    expect(body).toMatch(/^aliyun_sas_account_info\{account="prod",/m);
    const r = spawnSync(gate.path('promtool'), ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 30_000 });
    expect({ code: r.status, output: `${r.stdout}${r.stderr}` }).toEqual({ code: 0, output: '' });
  });

  it('Prometheus scrapes the exporter: up == 1, target healthy, its OpenMetrics answer parsed', async () => {
    const up = await prom.waitFor(`up{job="${JOB}"}`, (s) => s.length === 1 && s[0]!.value === 1, 20_000);
    expect(up[0]!.metric).toMatchObject({ job: JOB, instance: `127.0.0.1:${exporter.port}` });
    // Several scrapes in a row, each one healthy.
    await prom.waitFor(`count_over_time(up{job="${JOB}"}[1m])`, (s) => s.length === 1 && s[0]!.value >= 3, 20_000);
    expect(await prom.query(`min_over_time(up{job="${JOB}"}[1m])`)).toMatchObject([{ value: 1 }]);
    for (const p of [prom, promShipped]) {
      const targets = (await p.targets()).filter((t) => t.labels.job === JOB);
      expect(targets).toHaveLength(1);
      expect(targets[0]).toMatchObject({ health: 'up', lastError: '', scrapeUrl: `http://127.0.0.1:${exporter.port}/metrics` });
    }
    // What the exporter answers to Prometheus' Accept header: OpenMetrics.
    const om = await fetch(`${exporter.base}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT } });
    expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(await om.text()).toMatch(/\n# EOF\n$/);
    // And that is what Prometheus parsed: from OpenMetrics it records a
    // counter's metadata under the family name, without `_total` (from the
    // text format it would be aliyun_sas_api_requests_total).
    const meta = (await (await fetch(`${prom.url}/api/v1/targets/metadata?match_target=${encodeURIComponent(`{job="${JOB}"}`)}&metric=aliyun_sas_api_requests`)).json()) as {
      data: { type: string }[];
    };
    expect(meta.data.map((m) => m.type)).toEqual(['counter']);
    expect(await prom.query(`scrape_samples_post_metric_relabeling{job="${JOB}"} > 0`)).toHaveLength(1);
  });

  it('the recording rules produce series: one per (account, task), one per target, the same task ID apart in each account', async () => {
    const withTargets = tasks.flatMap(({ account, task }) => task.targets.map((g) => ({ account, task, g })));
    const targetStatus = await prom.waitFor(
      'aliyun_sas:scan_task_target_status',
      (s) =>
        s.length === withTargets.length &&
        withTargets.every(({ account, task, g }) => s.some((x) => x.metric.account === account && x.metric.task_id === task.id && x.metric.target === g.target && x.metric.status === finalStatus(task).toLowerCase())),
      20_000,
    );
    expect(targetStatus.map((s) => ({ ...pick(s.metric), status: s.metric.status, value: s.value })).sort(byTarget)).toEqual(
      withTargets
        .map(({ account, task, g }) => ({
          account,
          task_id: task.id,
          task_name: names.get(keyOf(account, task.id)),
          target: g.target,
          target_name: g.name,
          target_type: g.type,
          status: finalStatus(task).toLowerCase(),
          value: 1,
        }))
        .sort(byTarget),
    );
    const current = await prom.query('aliyun_sas:scan_task_current_status');
    expect(Object.fromEntries(current.map((s) => [keyOf(s.metric.account, s.metric.task_id), [s.metric.status, s.metric.task_name]]))).toEqual(
      Object.fromEntries(tasks.map(({ account, task }) => [keyOf(account, task.id), [finalStatus(task).toLowerCase(), names.get(keyOf(account, task.id))]])),
    );
    const inStatus = await prom.query('aliyun_sas:scan_task_time_in_status_seconds');
    expect(inStatus.map((s) => keyOf(s.metric.account, s.metric.task_id)).sort()).toEqual(tasks.map(({ account, task }) => keyOf(account, task.id)).sort());
    for (const s of inStatus) expect(s.value, s.metric.task_id).toBeGreaterThanOrEqual(0);
    // Per account: the API quota is the account's.
    const throttled = await prom.waitFor('aliyun_sas:api_requests_throttled:ratio_rate5m', (s) => s.length === accounts.length, 20_000);
    expect(Object.fromEntries(throttled.map((s) => [s.metric.account, s.value]))).toEqual(Object.fromEntries(accounts.map((a) => [a.name, 0])));
  }, 60_000);

  it('AliyunSasScanTaskFailed fires, one alert per target of the failed (account, task), and reaches the webhook through Alertmanager within the floor of the intervals + 5 s', async () => {
    const failing = tasks.find(({ account, task }) => account === FAILING_ACCOUNT && task.id === FAILING)!.task;
    const expected = failing.targets
      .map((g) => ({ account: FAILING_ACCOUNT, task_id: failing.id, task_name: names.get(keyOf(FAILING_ACCOUNT, FAILING)), target: g.target, target_name: g.name, target_type: g.type }))
      .sort(byTarget);
    expect(expected).toHaveLength(3);

    const isFailedAlert = (a: WebhookAlert) => a.status === 'firing' && a.labels.alertname === 'AliyunSasScanTaskFailed';
    const firedAt = (alerts: WebhookAlert[]) => new Map(alerts.filter(isFailedAlert).map((a) => [a.fingerprint, a]));
    const deadline = Date.now() + 60_000;
    let delivered = new Map<string, WebhookAlert>();
    while (Date.now() < deadline) {
      delivered = firedAt(webhook.received.flatMap((n) => n.body.alerts));
      if (delivered.size >= expected.length) break;
      await sleep(250);
    }
    const alerts = [...delivered.values()];
    expect(alerts.map((a) => pick(a.labels)).sort(byTarget), `webhook got: ${JSON.stringify(webhook.received.map((n) => [n.path, n.body.alerts.map((a) => a.labels)]))}\nPrometheus alerts: ${JSON.stringify(await prom.alerts())}\nAlertmanager log:\n${am.logs()}`).toEqual(expected);
    for (const a of alerts) {
      expect(a.labels).toMatchObject({ alertname: 'AliyunSasScanTaskFailed', severity: 'warning', status: 'failed', job: JOB, account: FAILING_ACCOUNT });
      // One alert for any number of replicas: the rules merge them (max without (instance, pod)).
      expect(a.labels.instance).toBeUndefined();
      expect(a.annotations.summary).toContain(`Virus scan task ${FAILING} (${names.get(keyOf(FAILING_ACCOUNT, FAILING))}) in account ${FAILING_ACCOUNT} failed on`);
      expect(a.annotations.summary).toContain(a.labels.target);
      expect(a.annotations.description).toContain(`(account ${FAILING_ACCOUNT})`);
      expect(a.annotations.runbook_url).toMatch(/#alert-aliyunsasscantaskfailed$/);
    }
    // Routed by the shipped configuration: severity warning -> receiver "ticket".
    const notifications = webhook.received.filter((n) => n.body.alerts.some(isFailedAlert));
    expect([...new Set(notifications.map((n) => `${n.path} ${n.body.receiver}`))]).toEqual(['/ticket ticket']);

    // Latency: from the moment the simulator's timeline turns the task Failed to the first notification.
    const failedAt = timelineStart + settlesAtMs(failing);
    const arrivedAt = Math.min(...notifications.map((n) => n.receivedAt));
    const latencyMs = arrivedAt - failedAt;
    const floorMs = SCHEDULE_MS + durationMs(SCRAPE_INTERVAL) + durationMs(EVALUATION_INTERVAL) + durationMs(GROUP_WAIT);
    console.log(
      `[prometheus-stack.test] alert latency (task Failed in the simulator -> Alertmanager webhook): ${(latencyMs / 1000).toFixed(2)} s; ` +
        `floor ${floorMs / 1000} s = schedule ${SCHEDULE_MS / 1000} s + scrape_interval ${durationS(SCRAPE_INTERVAL)} s + evaluation_interval ${durationS(EVALUATION_INTERVAL)} s + group_wait ${durationS(GROUP_WAIT)} s; ` +
        `bound ${(floorMs + LATENCY_SLACK_MS) / 1000} s`,
    );
    expect(latencyMs, 'the alert cannot come before the failure').toBeGreaterThan(0);
    expect(latencyMs).toBeLessThanOrEqual(floorMs + LATENCY_SLACK_MS);

    // A healthy exporter raises nothing else about tasks, in Prometheus or at the webhook; staging's 3001 (success) nothing at
    // all. (The scan alerts, the next test's, may have begun to fire.)
    const isScanAlert = (name: string | undefined) => name !== undefined && SCAN_ALERTS.includes(name);
    const firing = (await prom.alerts()).filter((a) => a.state === 'firing' && !isScanAlert(a.labels.alertname));
    expect(new Set(firing.map((a) => a.labels.alertname))).toEqual(new Set(['AliyunSasScanTaskFailed']));
    expect(new Set(firing.map((a) => a.labels.account))).toEqual(new Set([FAILING_ACCOUNT]));
    expect(new Set(webhook.received.flatMap((n) => n.body.alerts.map((a) => a.labels.alertname)).filter((n) => !isScanAlert(n)))).toEqual(new Set(['AliyunSasScanTaskFailed']));
  });

  it('the scan alerts fire from the simulator\'s scans and reach the webhook through Alertmanager, each within the floor of the intervals (+ its `for:`) + 5 s', async () => {
    const prod = lastScanOf(accounts, 'prod');
    const machine = (name: string) => machinesOf(prod).find((m) => m.instanceName === name)!;
    const running = lastScanOf(accounts, 'staging');
    const archived = lastScanOf(accounts, 'archive');
    const suspicious = machinesOf(prod).find((m) => m.alerts > 0)!;
    const forMs = (alert: string) => {
      const f = rulesOf(shortenedRules).find((r) => r.alert === alert)!.for;
      return f === undefined ? 0 : durationMs(f);
    };
    /** Each expected alert: its identifying labels, the receiver, and when its condition began on the timeline (undefined: before it started). */
    const expected: { labels: Record<string, string>; receiver: string; sinceMs?: number }[] = [
      {
        labels: { alertname: 'AliyunSasVirusScanSuspiciousMachines', severity: 'critical', account: 'prod', task_id: prod.taskId!, scan_type: 'user', risk_level: suspicious.riskLevel! },
        receiver: 'pager',
        sinceMs: machineEndsAtMs(prod, suspicious),
      },
      ...['db-1', 'batch-1'].map((name) => {
        const m = machine(name);
        return {
          labels: {
            alertname: 'AliyunSasVirusScanMachinesFailed',
            severity: 'warning',
            account: 'prod',
            task_id: prod.taskId!,
            uuid: m.uuid,
            status: m.timeline.at(-1)!.status,
            instance_name: m.instanceName,
            ...(m.internetIp ? { internet_ip: m.internetIp } : {}),
            ...(m.intranetIp ? { intranet_ip: m.intranetIp } : {}),
          },
          receiver: 'ticket',
          sinceMs: machineEndsAtMs(prod, m),
        };
      }),
      { labels: { alertname: 'AliyunSasVirusScanRunningTooLong', severity: 'warning', account: 'staging', task_id: running.taskId!, scan_type: 'system', status: 'running' }, receiver: 'ticket', sinceMs: running.atMs },
      { labels: { alertname: 'AliyunSasVirusScanStale', severity: 'warning', account: 'archive', task_id: archived.taskId!, scan_type: 'system' }, receiver: 'ticket', sinceMs: archived.atMs },
      // Never ran a scan: from the first evaluation, before the timeline started.
      { labels: { alertname: 'AliyunSasVirusScanStale', severity: 'warning', account: 'dormant' }, receiver: 'ticket' },
    ];
    const strip = (l: Record<string, string>) => Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'job' && k !== 'instance'));
    const keyOfAlert = (l: Record<string, string>) => JSON.stringify(Object.entries(strip(l)).sort(([a], [b]) => a.localeCompare(b)));

    // Delivered: the first notification carrying each alert (firing), by its labels.
    const delivered = () => {
      const first = new Map<string, { n: Notification; a: WebhookAlert }>();
      for (const n of webhook.received) for (const a of n.body.alerts) if (a.status === 'firing' && !first.has(keyOfAlert(a.labels))) first.set(keyOfAlert(a.labels), { n, a });
      return first;
    };
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !expected.every((e) => delivered().has(keyOfAlert(e.labels)))) await sleep(250);
    const got = delivered();
    const scanKeys = [...got.entries()].filter(([, { a }]) => SCAN_ALERTS.includes(a.labels.alertname!)).map(([k]) => k);
    expect(scanKeys.sort(), `webhook got: ${JSON.stringify(webhook.received.map((n) => [n.path, n.body.alerts.map((a) => a.labels)]))}\nPrometheus alerts: ${JSON.stringify(await prom.alerts())}`).toEqual(
      expected.map((e) => keyOfAlert(e.labels)).sort(),
    );

    const floorMs = SCHEDULE_MS + durationMs(SCRAPE_INTERVAL) + durationMs(EVALUATION_INTERVAL) + durationMs(GROUP_WAIT);
    const report: string[] = [];
    for (const e of expected) {
      const { n, a } = got.get(keyOfAlert(e.labels))!;
      expect(n.path, e.labels.alertname).toBe(`/${e.receiver}`);
      expect(a.labels.job).toBe(JOB);
      expect(a.labels.instance, 'merged across replicas').toBeUndefined();
      expect(a.annotations.runbook_url).toBe(`README.md#alert-${e.labels.alertname!.toLowerCase()}`);
      const latencyFromStart = n.receivedAt - timelineStart;
      if (e.sinceMs === undefined) {
        report.push(`${e.labels.alertname} ${e.labels.account}: ${(latencyFromStart / 1000).toFixed(2)} s after the timeline started (its condition held from before; for ${forMs(e.labels.alertname!) / 1000} s)`);
        continue;
      }
      const latencyMs = n.receivedAt - (timelineStart + e.sinceMs);
      const bound = floorMs + forMs(e.labels.alertname!);
      report.push(`${e.labels.alertname} ${e.labels.account}${e.labels.instance_name ? ` ${e.labels.instance_name}` : ''}: ${(latencyMs / 1000).toFixed(2)} s (floor ${bound / 1000} s)`);
      expect(latencyMs, `${e.labels.alertname} cannot come before its cause`).toBeGreaterThan(0);
      expect(latencyMs, e.labels.alertname).toBeLessThanOrEqual(bound + LATENCY_SLACK_MS);
    }
    console.log(`[prometheus-stack.test] scan alert latency (its cause in the simulator -> Alertmanager webhook):\n  ${report.join('\n  ')}`);

    // What they say, with the simulator's names (quotes, backslash and non-ASCII intact).
    const text = (alertname: string, account: string, extra: (a: WebhookAlert) => boolean = () => true) =>
      [...got.values()].map(({ a }) => a).find((a) => a.labels.alertname === alertname && a.labels.account === account && extra(a))!.annotations;
    expect(text('AliyunSasVirusScanSuspiciousMachines', 'prod').summary).toBe(`Virus scan ${prod.taskId} in account prod found suspicious files on 1 machine (risk level high).`);
    expect(text('AliyunSasVirusScanMachinesFailed', 'prod', (a) => a.labels.instance_name === 'db-1').summary).toBe(
      `Virus scan ${prod.taskId} in account prod failed on machine db-1 (${machine('db-1').uuid}, ${machine('db-1').intranetIp}).`,
    );
    expect(text('AliyunSasVirusScanMachinesFailed', 'prod', (a) => a.labels.instance_name === 'batch-1').summary).toBe(`Virus scan ${prod.taskId} in account prod timed out on machine batch-1 (${machine('batch-1').uuid}).`);
    expect(text('AliyunSasVirusScanRunningTooLong', 'staging').summary).toMatch(new RegExp(`^Virus scan ${running.taskId} in account staging has been running for \\d+d \\d+h \\d+m \\d+s\\.$`));
    // Ages from the API's ScanTime (in ms) through the exporter's seconds: days, not thousands of years or none.
    const days = Math.floor((Date.now() - archived.scanTimeMs!) / 86_400_000);
    expect(text('AliyunSasVirusScanStale', 'archive').summary).toMatch(new RegExp(`^The latest virus scan of account archive ran (${days}|${days - 1})d \\d+h \\d+m \\d+s ago\\.$`));
    expect(text('AliyunSasVirusScanStale', 'dormant').summary).toBe('No virus scan has ever run in account dormant.');

    // Nothing else about scans: not staging's running scan as stale, nor its running machine as failed; no poll failing.
    const firing = (await prom.alerts()).filter((a) => a.state === 'firing' && SCAN_ALERTS.includes(a.labels.alertname!));
    expect(firing.map((a) => keyOfAlert(a.labels)).sort()).toEqual(expected.map((e) => keyOfAlert(e.labels)).sort());
  }, 90_000);

  it('the shipped rules file, unmodified, loads and every rule is healthy on real data', async () => {
    await promShipped.waitFor(`aliyun_sas:scan_task_target_status{account="${FAILING_ACCOUNT}", task_id="${FAILING}", status="failed"}`, (s) => s.length === 3, 30_000);
    const rules = await evaluatedRules(promShipped);
    const shipped = rulesOf(shippedRules);
    // The API lists groups by name: compare as sets.
    expect(rules.map((r) => r.name).sort()).toEqual(shipped.map((r) => (r.record ?? r.alert)!).sort());
    for (const r of rules) expect({ rule: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ rule: r.name, health: 'ok', lastError: '' });
    // The same expression as in the shortened copy, without `for:` in either: the failed task's targets are firing alerts.
    const failed = rules.find((r) => r.name === 'AliyunSasScanTaskFailed')!;
    const failing = tasks.find(({ account, task }) => account === FAILING_ACCOUNT && task.id === FAILING)!.task;
    const deadline = Date.now() + 10_000;
    let active = failed.alerts ?? [];
    while (active.length < failing.targets.length && Date.now() < deadline) {
      await sleep(250);
      active = (await ruleList(promShipped)).find((r) => r.name === 'AliyunSasScanTaskFailed')!.alerts ?? [];
    }
    expect(active.map((a) => `${a.labels.account}/${a.labels.target}`).sort()).toEqual(failing.targets.map((g) => `${FAILING_ACCOUNT}/${g.target}`).sort());
    expect(active.every((a) => a.state === 'firing')).toBe(true);
    // And the shortened copy is healthy too.
    for (const r of await evaluatedRules(prom)) expect({ rule: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ rule: r.name, health: 'ok', lastError: '' });
  });

  it('every dashboard panel query returns data (account = All, task = All, the dashboard own windows)', async () => {
    const queries = panelQueries().map((q) => ({ ...q, resolved: resolveVariables(q.expr, { account: '.*', task: '.*' }) }));
    expect(queries.length).toBeGreaterThan(10);
    const results = new Map<string, Sample[]>();
    const deadline = Date.now() + 60_000;
    let empty: string[] = [];
    do {
      empty = [];
      for (const q of queries) {
        const s = await prom.query(q.resolved);
        results.set(`${q.panel}/${q.refId}`, s);
        if (s.length === 0) empty.push(`${q.panel} (${q.refId}): ${q.resolved}`);
      }
      if (empty.length === 0) break;
      await sleep(500);
    } while (Date.now() < deadline);
    expect(empty).toEqual([]);

    // The numbers make sense for the scenario, not only "something came back".
    const one = (panel: string, refId = 'A') => {
      const s = results.get(`${panel}/${refId}`)!;
      expect(s, panel).toHaveLength(1);
      return s[0]!.value;
    };
    const count = (status: string) => tasks.filter(({ task }) => finalStatus(task).toLowerCase() === status).length;
    expect({
      configured: one('Configured tasks'),
      init: one('Init'),
      processing: one('Processing'),
      success: one('Success'),
      failed: one('Failed'),
      unknown: one('Unknown'),
      notPolled: one('Not polled yet'),
      pollsFailing: one('Polls failing'),
      up: one('Exporter up'),
      config: one('Configuration'),
    }).toEqual({
      configured: tasks.length,
      init: 0,
      processing: count('processing'),
      success: count('success'),
      failed: 1,
      unknown: 0,
      notPolled: 0,
      pollsFailing: 0,
      up: 1,
      config: 1,
    });
    for (const refId of ['A', 'B', 'C', 'D', 'E', 'F']) {
      expect(results.get(`Scan tasks/${refId}`)!.map((s) => keyOf(s.metric.account, s.metric.task_id)).sort(), `Scan tasks ${refId}`).toEqual(tasks.map(({ account, task }) => keyOf(account, task.id)).sort());
    }
    expect(results.get('Targets of failed tasks/A')!.map((s) => s.metric).sort(byTarget)).toEqual(
      tasks
        .find(({ account, task }) => account === FAILING_ACCOUNT && task.id === FAILING)!
        .task.targets.map((g) => ({ account: FAILING_ACCOUNT, task_id: FAILING, task_name: names.get(keyOf(FAILING_ACCOUNT, FAILING)), target: g.target, target_name: g.name, target_type: g.type }))
        .sort(byTarget),
    );
    expect(results.get('API requests by account and code/A')!.map((s) => `${s.metric.account} ${s.metric.code}`).sort()).toEqual(accounts.map((a) => `${a.name} OK`).sort());
    // The accounts table: each account with the endpoint it polls (the simulator) and its number of tasks.
    expect(results.get('Accounts/A')!.map((s) => `${s.metric.account} ${s.metric.endpoint}`).sort()).toEqual(accounts.map((a) => `${a.name} ${sim.endpoint}`).sort());
    expect(Object.fromEntries(results.get('Accounts/B')!.map((s) => [s.metric.account, s.value]))).toEqual(
      Object.fromEntries(accounts.filter((a) => a.tasks.length > 0).map((a) => [a.name, a.tasks.length])),
    );
    // The Latest virus scan row: prod's findings and failed machines, every account's latest scan, dormant's poll only.
    expect({ suspicious: one('Suspicious machines'), alerts: one('Scan alerts'), failed: one('Failed or timed out') }).toEqual({ suspicious: 1, alerts: 3, failed: 2 });
    expect(Object.fromEntries(results.get('Latest virus scan by account/B')!.map((s) => [s.metric.account, s.metric.status]))).toEqual({ prod: 'complete', staging: 'running', archive: 'complete' });
    expect(results.get('Latest virus scan by account/L')!.map((s) => `${s.metric.account} ${s.value}`).sort()).toEqual(accounts.map((a) => `${a.name} 1`).sort());
    expect(
      results
        .get('Machines whose scan failed or timed out/A')!
        .map((s) => `${s.metric.account} ${s.metric.instance_name} ${s.metric.status}`)
        .sort(),
    ).toEqual(['prod batch-1 timeout', 'prod db-1 failed']);
  });
});
