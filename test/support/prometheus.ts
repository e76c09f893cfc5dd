/**
 * Real Prometheus and Alertmanager for tests: find the binaries, start them
 * on free loopback ports with generated configurations in a temp dir, query
 * them, stop them.
 *
 * Binaries come from PATH or /usr/bin (Debian: `apt-get install prometheus
 * prometheus-alertmanager`, which names the Alertmanager binary
 * prometheus-alertmanager). Tests use toolGate() to skip outside CI when a
 * binary is missing, and to fail in CI (CI set) where they are required; the
 * other Debian tools the tests need (systemd-analyze, ..., chromium for the
 * landing page) go through the same gate.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort, sleep } from './net.js';

export type ToolName = 'prometheus' | 'promtool' | 'alertmanager' | 'amtool' | 'systemd-analyze' | 'systemd-sysusers' | 'chromium';

/** Executable names tried for each tool, in order. */
const CANDIDATES: Record<ToolName, readonly string[]> = {
  prometheus: ['prometheus'],
  promtool: ['promtool'],
  alertmanager: ['alertmanager', 'prometheus-alertmanager'],
  amtool: ['amtool'],
  'systemd-analyze': ['systemd-analyze'],
  'systemd-sysusers': ['systemd-sysusers'],
  chromium: ['chromium'],
};

/** The Debian package that installs each tool. */
const DEBIAN_PACKAGE: Record<ToolName, string> = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  alertmanager: 'prometheus-alertmanager',
  amtool: 'prometheus-alertmanager',
  'systemd-analyze': 'systemd',
  'systemd-sysusers': 'systemd',
  chromium: 'chromium',
};

const EXTRA_DIRS = ['/usr/bin', '/usr/local/bin', '/bin'];

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of the tool, or undefined. `<TOOL>_BIN` (e.g. PROMTOOL_BIN, SYSTEMD_ANALYZE_BIN) overrides the search. */
export function findBinary(tool: ToolName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const override = env[`${tool.toUpperCase().replace(/-/g, '_')}_BIN`];
  if (override) return isExecutable(override) ? override : undefined;
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const name of CANDIDATES[tool]) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      if (isExecutable(file)) return file;
    }
  }
  return undefined;
}

export interface ToolGate {
  /** Every tool was found. */
  readonly available: boolean;
  /** The tools are required (CI): a missing one must fail, not skip. */
  readonly required: boolean;
  /** Skip the tests: tools missing and not required. */
  readonly skip: boolean;
  readonly paths: Partial<Record<ToolName, string>>;
  readonly missing: readonly ToolName[];
  /** Why the tests are skipped (or would be, outside CI); empty when available. */
  readonly reason: string;
  /** The path of a tool; throws (failing the test) when it is missing. */
  path(tool: ToolName): string;
}

/**
 * Decides whether tests that need `tools` run. Outside CI a missing tool
 * means skip (print `reason`); with CI set the tests run and fail on
 * `gate.path(tool)`.
 */
export function toolGate(tools: readonly ToolName[], env: NodeJS.ProcessEnv = process.env): ToolGate {
  const paths: Partial<Record<ToolName, string>> = {};
  const missing: ToolName[] = [];
  for (const t of tools) {
    const p = findBinary(t, env);
    if (p) paths[t] = p;
    else missing.push(t);
  }
  const required = Boolean(env.CI) && env.CI !== 'false' && env.CI !== '0';
  const available = missing.length === 0;
  const reason = available
    ? ''
    : `${missing.join(', ')} not found on PATH or in /usr/bin (apt-get install ${[...new Set(missing.map((t) => DEBIAN_PACKAGE[t]))].join(' ')})` +
      (required ? ': required because CI is set' : ': skipped outside CI');
  return {
    available,
    required,
    skip: !available && !required,
    paths,
    missing,
    reason,
    path(tool) {
      const p = paths[tool] ?? findBinary(tool, env);
      if (!p) throw new Error(`${tool} not found on PATH or in /usr/bin${required ? ' (required in CI)' : ''}`);
      return p;
    },
  };
}

/** Runs a tool to completion. */
export function runTool(file: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(file, args, { cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}


/** Children still running: killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** A started server process with its temp dir and captured output. */
class ManagedProcess {
  private output = '';
  private exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly child: ChildProcess,
    readonly dir: string,
  ) {
    const keep = (b: Buffer) => {
      this.output += b.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        live.delete(child);
        this.exitCode = code;
        resolve(code);
      });
      child.once('error', (err) => {
        live.delete(child);
        this.output += `\nspawn error: ${err.message}`;
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  logs(): string {
    return this.output;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** SIGTERM, then SIGKILL after graceMs; removes the temp dir. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function waitHttpOk(url: string, proc: ManagedProcess, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${what} exited (${proc.exitCode}) before it was ready:\n${proc.logs()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready at ${url} after ${timeoutMs} ms (${last}):\n${proc.logs()}`);
}

async function getJson(url: string, init?: RequestInit): Promise<unknown> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url}: HTTP ${r.status}, not JSON: ${text.slice(0, 500)}`);
  }
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}: ${text.slice(0, 1000)}`);
  return body;
}

// ---------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------

export interface ScrapeJob {
  /** job_name, e.g. "aliyun-sas-exporter". */
  job: string;
  /** host:port targets. */
  targets: string[];
  metricsPath?: string;
  /** Defaults to the instance's scrapeInterval. */
  scrapeInterval?: string;
  scrapeTimeout?: string;
  labels?: Record<string, string>;
}

export interface PrometheusOptions {
  /** Scrape jobs; `selfScrape: true` adds job "prometheus" scraping this Prometheus. */
  scrapeJobs?: ScrapeJob[];
  selfScrape?: boolean;
  /** Rule files (absolute paths, or relative to the working directory); copied by reference. */
  ruleFiles?: string[];
  /** Alertmanager base URL, e.g. http://127.0.0.1:9093. */
  alertmanagerUrl?: string;
  /** Default 1s. */
  scrapeInterval?: string;
  /** Default: scrapeInterval. */
  scrapeTimeout?: string;
  /** Default 1s. */
  evaluationInterval?: string;
  /** Extra command-line flags. */
  extraArgs?: string[];
  /** Default 30 s. */
  readyTimeoutMs?: number;
  /** Prometheus binary; found with findBinary by default. */
  binary?: string;
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
  /** Unix seconds. */
  timestamp: number;
}

export interface AlertState {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  value: string;
  activeAt?: string;
}

export interface PrometheusInstance {
  readonly url: string;
  readonly port: number;
  /** Temp dir holding prometheus.yml and the TSDB; removed by stop(). */
  readonly dir: string;
  readonly configFile: string;
  /** Instant query; returns the vector (a scalar comes back as one sample without labels). Throws on a PromQL error. */
  query(expr: string, time?: number): Promise<Sample[]>;
  /** The raw `data` of /api/v1/query. */
  queryRaw(expr: string, time?: number): Promise<{ resultType: string; result: unknown }>;
  /** Polls query(expr) until `until(samples)` is true; returns the last result. */
  waitFor(expr: string, until: (samples: Sample[]) => boolean, timeoutMs?: number): Promise<Sample[]>;
  /** Active alerts (pending and firing) from /api/v1/alerts. */
  alerts(): Promise<AlertState[]>;
  /** Rule groups from /api/v1/rules (health and lastError of every rule). */
  rules(): Promise<unknown[]>;
  /** Targets from /api/v1/targets (activeTargets). */
  targets(): Promise<{ labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string }[]>;
  /** POST /-/reload after rewriting the config with new options (merged over the original ones). */
  reload(opts?: Partial<PrometheusOptions>): Promise<void>;
  logs(): string;
  stop(): Promise<void>;
}

export function prometheusConfig(opts: PrometheusOptions, selfAddress: string): Record<string, unknown> {
  const scrapeInterval = opts.scrapeInterval ?? '1s';
  const jobs: ScrapeJob[] = [...(opts.selfScrape ? [{ job: 'prometheus', targets: [selfAddress] }] : []), ...(opts.scrapeJobs ?? [])];
  const config: Record<string, unknown> = {
    global: {
      scrape_interval: scrapeInterval,
      // Prometheus rejects a timeout above the interval (its default is 10s).
      scrape_timeout: opts.scrapeTimeout ?? scrapeInterval,
      evaluation_interval: opts.evaluationInterval ?? '1s',
    },
    rule_files: (opts.ruleFiles ?? []).map((f) => path.resolve(f)),
    scrape_configs: jobs.map((j) => ({
      job_name: j.job,
      metrics_path: j.metricsPath ?? '/metrics',
      ...(j.scrapeInterval ? { scrape_interval: j.scrapeInterval } : {}),
      ...(j.scrapeTimeout ? { scrape_timeout: j.scrapeTimeout } : {}),
      static_configs: [{ targets: j.targets, ...(j.labels ? { labels: j.labels } : {}) }],
    })),
  };
  if (opts.alertmanagerUrl) {
    const u = new URL(opts.alertmanagerUrl);
    config.alerting = {
      alertmanagers: [
        {
          scheme: u.protocol.replace(':', ''),
          ...(u.pathname !== '/' ? { path_prefix: u.pathname } : {}),
          static_configs: [{ targets: [u.host] }],
        },
      ],
    };
  }
  return config;
}

function toSamples(data: { resultType: string; result: unknown }): Sample[] {
  if (data.resultType === 'vector') {
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      metric: r.metric,
      value: Number(r.value[1]),
      timestamp: r.value[0],
    }));
  }
  if (data.resultType === 'scalar') {
    const [ts, v] = data.result as [number, string];
    return [{ metric: {}, value: Number(v), timestamp: ts }];
  }
  throw new Error(`unexpected resultType ${data.resultType}`);
}

/** A daemon of the Prometheus family started by launchOnFreePort. */
interface Launched {
  readonly proc: ManagedProcess;
  readonly url: string;
  readonly port: number;
  readonly address: string;
  readonly dir: string;
  readonly configFile: string;
}

/**
 * Starts `binary` on a free loopback port in a temp dir with its config file
 * written there, and waits until /-/ready answers 200. A port taken between
 * choosing it and binding it is retried on another (three tries).
 */
async function launchOnFreePort(
  what: string,
  binary: string,
  config: (address: string) => string,
  args: (address: string, dir: string, configFile: string) => string[],
  readyTimeoutMs = 30_000,
): Promise<Launched> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const dir = mkdtempSync(path.join(tmpdir(), `${what}-test-`));
    const configFile = path.join(dir, `${what}.yml`);
    writeFileSync(configFile, config(address));
    const child = spawn(binary, args(address, dir, configFile), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new ManagedProcess(child, dir);
    const url = `http://${address}`;
    try {
      await waitHttpOk(`${url}/-/ready`, proc, readyTimeoutMs, what);
      return { proc, url, port, address, dir, configFile };
    } catch (e) {
      lastError = e;
      await proc.stop(2_000);
      if (/address already in use/i.test(String(e))) continue;
      throw e;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** Starts Prometheus on a free loopback port and waits until /-/ready answers 200. */
export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusInstance> {
  const binary = opts.binary ?? findBinary('prometheus');
  if (!binary) throw new Error('prometheus not found on PATH or in /usr/bin');
  let current: PrometheusOptions = { ...opts };
  const { proc, url, port, address, dir, configFile } = await launchOnFreePort(
    'prometheus',
    binary,
    (addr) => stringify(prometheusConfig(current, addr)),
    (addr, dir, configFile) => [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=${addr}`,
      '--web.enable-lifecycle',
      // Alertmanager discovery lags the first evaluations by a few
      // seconds; resend firing alerts every second instead of every minute.
      '--rules.alert.resend-delay=1s',
      '--log.level=warn',
      ...(opts.extraArgs ?? []),
    ],
    opts.readyTimeoutMs,
  );
  const queryRaw = async (expr: string, time?: number) => {
    const params = new URLSearchParams({ query: expr });
    if (time !== undefined) params.set('time', String(time));
    const body = (await getJson(`${url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
    })) as { status: string; data: { resultType: string; result: unknown }; error?: string };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error ?? body.status}`);
    return body.data;
  };
  const query = async (expr: string, time?: number) => toSamples(await queryRaw(expr, time));

  const instance: PrometheusInstance = {
    url,
    port,
    dir,
    configFile,
    queryRaw,
    query,
    async waitFor(expr, until, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Sample[] = [];
      while (Date.now() < deadline) {
        last = await query(expr);
        if (until(last)) return last;
        await sleep(250);
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting on ${expr}; last result: ${JSON.stringify(last)}`);
    },
    async alerts() {
      const body = (await getJson(`${url}/api/v1/alerts`)) as { data: { alerts: AlertState[] } };
      return body.data.alerts;
    },
    async rules() {
      const body = (await getJson(`${url}/api/v1/rules`)) as { data: { groups: unknown[] } };
      return body.data.groups;
    },
    async targets() {
      const body = (await getJson(`${url}/api/v1/targets`)) as {
        data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string }[] };
      };
      return body.data.activeTargets;
    },
    async reload(next) {
      current = { ...current, ...next };
      writeFileSync(configFile, stringify(prometheusConfig(current, address)));
      const r = await fetch(`${url}/-/reload`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
      if (!r.ok) throw new Error(`reload: HTTP ${r.status}: ${await r.text()}`);
    },
    logs: () => proc.logs(),
    stop: () => proc.stop(),
  };
  return instance;
}

// ---------------------------------------------------------------------------
// Alertmanager
// ---------------------------------------------------------------------------

export interface AlertmanagerOptions {
  /** Route every alert to this webhook (group_wait/interval 1s, send_resolved). Ignored when `config` is given. */
  webhookUrl?: string;
  /** A complete alertmanager.yml text to use instead. */
  config?: string;
  /** Default 30 s. */
  readyTimeoutMs?: number;
  extraArgs?: string[];
  binary?: string;
}

export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; inhibitedBy: string[]; silencedBy: string[] };
  receivers: { name: string }[];
  fingerprint: string;
}

export interface AlertmanagerInstance {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly configFile: string;
  /** POST /api/v2/alerts. */
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  /** GET /api/v2/alerts (active, silenced and inhibited ones included). */
  alerts(): Promise<AlertmanagerAlert[]>;
  logs(): string;
  stop(): Promise<void>;
}

/** The configuration startAlertmanager uses for `webhookUrl`. */
export function webhookAlertmanagerConfig(webhookUrl: string): string {
  return stringify({
    route: { receiver: 'webhook', group_by: ['...'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
    receivers: [{ name: 'webhook', webhook_configs: [{ url: webhookUrl, send_resolved: true }] }],
  });
}

/** Starts Alertmanager on a free loopback port, clustering off, and waits until /-/ready answers 200. */
export async function startAlertmanager(opts: AlertmanagerOptions): Promise<AlertmanagerInstance> {
  const binary = opts.binary ?? findBinary('alertmanager');
  if (!binary) throw new Error('alertmanager (or prometheus-alertmanager) not found on PATH or in /usr/bin');
  if (!opts.config && !opts.webhookUrl) throw new Error('startAlertmanager: give webhookUrl or config');
  const { proc, url, port, dir, configFile } = await launchOnFreePort(
    'alertmanager',
    binary,
    () => opts.config ?? webhookAlertmanagerConfig(opts.webhookUrl as string),
    (addr, dir, configFile) => [
      `--config.file=${configFile}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=${addr}`,
      '--cluster.listen-address=',
      '--log.level=warn',
      ...(opts.extraArgs ?? []),
    ],
    opts.readyTimeoutMs,
  );
  return {
    url,
    port,
    dir,
    configFile,
    async postAlerts(alerts) {
      const r = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
        signal: AbortSignal.timeout(10_000),
      });
      if (!r.ok) throw new Error(`POST /api/v2/alerts: HTTP ${r.status}: ${await r.text()}`);
    },
    async alerts() {
      return (await getJson(`${url}/api/v2/alerts`)) as AlertmanagerAlert[];
    },
    logs: () => proc.logs(),
    stop: () => proc.stop(),
  };
}
