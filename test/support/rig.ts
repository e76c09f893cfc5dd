/**
 * The end-to-end rig: the simulator in-process, the BUILT exporter as a
 * child process pointed at it over real HTTP through the real SDK, a
 * configuration written to a temp dir, and an environment that holds exactly
 * the credentials the test chose (nothing inherited from the machine).
 *
 * With `secrets: 'distinctive'` the exporter gets a key pair (STS by
 * default) whose secret and token occur nowhere else and runs at debug
 * level; close() then fails the test if either shows up in its output or in
 * a /metrics body it served, or if it reported a bug.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ACTIONS } from '../../src/model/vocabulary.js';
import { buildScenario, DEMO_CREDENTIALS, loadScenarioFile, startSimulator, type Scenario, type ScenarioInput, type SimulatorHandle } from '../../src/simulator/index.js';
import { ExporterProcess, ROOT, tempDir } from './exporter.js';
import { select, type Sample } from './exposition.js';
import { sleep } from './net.js';
import { assertNoLeaks, credentialEnv as envOf, distinctiveCredentials, recordScrapes, scenarioCredential, secretsOf, type TestCredentials } from './secrets.js';

export const SCENARIO_DIR = path.join(ROOT, 'test/fixtures/scenarios');

export function loadFixture(name: 'timeline' | 'faults' | 'throttle' | 'credentials' | (string & {})): Promise<Scenario> {
  return loadScenarioFile(path.join(SCENARIO_DIR, `${name}.yaml`));
}

/** Every ALIBABA_CLOUD_* / ALICLOUD_* variable of the test runner removed, then `vars` applied. */
export function credentialEnv(vars: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (/^(ALIBABA_CLOUD_|ALICLOUD_)/i.test(k)) env[k] = undefined;
  return { ...env, ...vars };
}

/** The simulator's demo pair through the env provider of the default chain. */
export function demoEnv(): Record<string, string | undefined> {
  return credentialEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: DEMO_CREDENTIALS.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEMO_CREDENTIALS.accessKeySecret });
}

/** An overlay that removes every inherited variable: the child sees only `keep`. */
export function emptyEnv(keep: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) env[k] = undefined;
  return { ...env, ...keep };
}

/** A timeline clock the test moves by hand, for the simulator's `now`. */
export class ManualClock {
  private t = 0;
  readonly now = (): number => this.t;
  set(ms: number): void {
    this.t = ms;
  }
}

export interface RigOptions {
  /** A validated scenario, or the YAML shape (snake_case) to validate; none: no simulator. */
  scenario?: Scenario | ScenarioInput;
  /** The exporter configuration, given the simulator's `host:port` (a dead address when there is no simulator). */
  config: (endpoint: string) => string;
  /**
   * `demo` (default): the simulator's demo pair. `distinctive`: a pair
   * of this rig's own (see above), whose leaks close() looks for.
   */
  secrets?: 'demo' | 'distinctive';
  /** With `distinctive`: an STS pair (default) or a plain access key. */
  sts?: boolean;
  /**
   * With `distinctive`: what the service knows of the exporter's key: the
   * same pair (default), nothing (InvalidAccessKeyId.NotFound), the key ID
   * with another secret (SignatureDoesNotMatch) or, for STS, with another token.
   */
  serviceKeys?: 'same' | 'unknown-key' | 'wrong-secret' | 'wrong-token';
  /** Over the credential environment (undefined removes a variable). */
  env?: Record<string, string | undefined>;
  args?: string[];
  /** Default true: the file is not watched (reloads come from the test). */
  noWatch?: boolean;
  waitFor?: 'ready' | 'healthy' | 'none';
  /** The simulator's timeline clock (default real time). */
  now?: () => number;
  /** Called with the simulator before the exporter starts (to clear or set faults). */
  beforeExporter?: (sim: SimulatorHandle) => void;
  /** Names the temp dir and the distinctive credentials. */
  tag?: string;
}

export class Rig {
  /** Every /metrics body served to this rig's scrapes; push hand-made requests' bodies too. */
  readonly scrapes: string[];
  private closed = false;

  private constructor(
    private simulator: SimulatorHandle | undefined,
    readonly exporter: ExporterProcess,
    readonly dir: string,
    readonly configFile: string,
    readonly creds: TestCredentials | undefined,
    private readonly scenario: Scenario | undefined,
  ) {
    this.scrapes = recordScrapes(exporter);
  }

  static async start(o: RigOptions): Promise<Rig> {
    const tag = o.tag ?? 'e2e';
    const dir = await tempDir(`sas-${tag}-`);
    const creds = o.secrets === 'distinctive' ? distinctiveCredentials(tag, { sts: o.sts ?? true }) : undefined;
    let sim: SimulatorHandle | undefined;
    try {
      const scenario = o.scenario === undefined ? undefined : withCredentials(o.scenario, creds, o.serviceKeys, tag);
      if (scenario) sim = await startSimulator({ scenario, host: '127.0.0.1', port: 0, ...(o.now ? { now: o.now } : {}) });
      if (sim) o.beforeExporter?.(sim);
      const configFile = path.join(dir, 'exporter.yaml');
      await writeFile(configFile, o.config(sim?.endpoint ?? '127.0.0.1:9'));
      const args = [`--config.file=${configFile}`, ...(o.noWatch === false ? [] : ['--no-config.watch']), ...(creds ? ['--log.level=debug'] : []), ...(o.args ?? [])];
      const env = creds ? { ...credentialEnv(), ...envOf(creds), ...o.env } : { ...(o.env ?? demoEnv()) };
      const exporter = await ExporterProcess.start({ args, env, waitFor: o.waitFor ?? 'ready' });
      return new Rig(sim, exporter, dir, configFile, creds, scenario);
    } catch (err) {
      await sim?.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The simulator (throws when the rig has none). */
  get sim(): SimulatorHandle {
    if (!this.simulator) throw new Error('this rig runs no simulator');
    return this.simulator;
  }

  get endpoint(): string {
    return this.sim.endpoint;
  }

  get output(): string {
    return this.exporter.output;
  }

  scrape(): Promise<Sample[]> {
    return this.exporter.scrape();
  }

  until(predicate: (s: Sample[]) => boolean, what = 'condition', timeoutMs = 15_000): Promise<Sample[]> {
    return this.exporter.until(predicate, timeoutMs, what);
  }

  /** Replaces the configuration file atomically (so no reader ever sees half of it). */
  async writeConfig(yaml: string): Promise<void> {
    const tmp = `${this.configFile}.tmp-${process.hrtime.bigint()}`;
    await writeFile(tmp, yaml);
    await rename(tmp, this.configFile);
  }

  sighup(): void {
    this.exporter.child.kill('SIGHUP');
  }

  /** How many log lines contain `needle`. */
  count(needle: string): number {
    return this.output.split('\n').filter((l) => l.includes(needle)).length;
  }

  /** Waits until a log line containing `needle` has appeared `n` times in all. */
  async untilLogged(needle: string, n = 1, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(needle) < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} x ${JSON.stringify(needle)} in the log:\n${this.output}`);
      if (this.exporter.exitCode !== null) throw new Error(`exporter exited with ${this.exporter.exitCode}:\n${this.output}`);
      await sleep(25);
    }
  }

  /** Stops the simulator and starts a fresh one (same scenario) on the same port. */
  async restartSimulator(): Promise<void> {
    const port = this.sim.port;
    await this.sim.close();
    this.simulator = await startSimulator({ scenario: this.scenario!, host: '127.0.0.1', port });
  }

  /**
   * Stops the exporter (returns its exit code) and the simulator, removes
   * the temp dir; then, with distinctive credentials, fails if a secret
   * leaked into the output or a served body, or if the exporter reported a bug.
   */
  async close(): Promise<number | null> {
    if (this.closed) return this.exporter.exitCode;
    this.closed = true;
    let code: number | null;
    try {
      code = await this.exporter.stop();
    } finally {
      await this.simulator?.close();
      await rm(this.dir, { recursive: true, force: true });
    }
    if (this.creds) {
      const secrets = secretsOf(this.creds);
      assertNoLeaks('exporter output', [this.exporter.output], secrets);
      assertNoLeaks('/metrics body', this.scrapes, secrets);
      const bugs = this.exporter.output.split('\n').filter((l) => /BUG:|poll cycle crashed|MaxListenersExceeded|UnhandledPromiseRejection/.test(l));
      if (bugs.length > 0) throw new Error(`the exporter reported bugs:\n${bugs.join('\n')}`);
    }
    return code;
  }
}

/** The scenario with the key pair the service should know (the rig's own, or a deliberately wrong one). */
function withCredentials(s: Scenario | ScenarioInput, creds: TestCredentials | undefined, serviceKeys: RigOptions['serviceKeys'], tag: string): Scenario {
  const isBuilt = typeof (s as Scenario).source === 'string' && Array.isArray((s as Scenario).credentials);
  if (!creds) return isBuilt ? (s as Scenario) : buildScenario(s, tag);
  if (isBuilt) throw new Error('distinctive credentials need the scenario in its YAML shape (ScenarioInput)');
  const other = distinctiveCredentials('other');
  const known: TestCredentials =
    serviceKeys === 'unknown-key'
      ? other
      : serviceKeys === 'wrong-secret'
        ? { ...creds, accessKeySecret: other.accessKeySecret }
        : serviceKeys === 'wrong-token'
          ? { ...creds, securityToken: other.securityToken }
          : creds;
  return buildScenario({ ...(s as ScenarioInput), credentials: [scenarioCredential(known)] }, tag);
}

export type StartRig = (o: RigOptions) => Promise<Rig>;

/**
 * A test body with rigs of its own: whatever it started is closed when it
 * ends, pass or fail, and a leak or bug found by close() fails it. Safe for
 * test.concurrent (no shared afterEach).
 */
export function withRigs(body: (start: StartRig) => Promise<void>): () => Promise<void> {
  return async () => {
    const open: Rig[] = [];
    let ok = false;
    try {
      await body(async (o) => {
        const r = await Rig.start(o);
        open.push(r);
        return r;
      });
      ok = true;
    } finally {
      const results = await Promise.allSettled(open.map((r) => r.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      // The body's own failure is the one to report.
      if (ok && failed) throw failed.reason;
    }
  };
}

// --- reading scrapes ---------------------------------------------------------

export const TASK_PREFIX = 'aliyun_sas_scan_task_';

/** The sum of the matching series' values, 0 when there is none (a counter not touched yet). */
export function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return select(samples, name, labels).reduce((n, s) => n + s.value, 0);
}

/** Finished cycles of every result except `skipped`. */
export function cyclesFinished(samples: Sample[]): number {
  return ['success', 'partial', 'failure'].reduce((n, result) => n + sum(samples, 'aliyun_sas_poll_cycles_total', { result }), 0);
}

/** `aliyun_sas_api_requests_total{action="DescribeScanTaskProgress", code}` (0 when absent). */
export function apiCalls(samples: Sample[], code: string): number {
  return sum(samples, 'aliyun_sas_api_requests_total', { action: ACTIONS.describeScanTaskProgress, code });
}

/** Identity of a series (name and sorted labels), for set comparisons. */
export function seriesKey(s: Sample): string {
  return `${s.name}{${Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
    .join(',')}}`;
}

/** Task IDs that carry any per-task series. */
export function taskIdsWithSeries(samples: Sample[]): Set<string> {
  return new Set(samples.filter((s) => s.name.startsWith(TASK_PREFIX)).map((s) => s.labels.task_id!));
}

/** Task IDs of aliyun_sas_scan_task_info. */
export function configuredTaskIds(samples: Sample[]): Set<string> {
  return new Set(samples.filter((s) => s.name === 'aliyun_sas_scan_task_info').map((s) => s.labels.task_id!));
}

/** The per-task series of `taskId`, as `name{labels} value` lines, sorted. */
export function seriesOf(samples: Sample[], taskId: string): string[] {
  return samples
    .filter((s) => s.name.startsWith(TASK_PREFIX) && s.labels.task_id === taskId)
    .map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
    .sort();
}

/** Every per-task series, as lines, sorted. */
export function taskSeries(samples: Sample[]): string[] {
  return samples
    .filter((s) => s.name.startsWith(TASK_PREFIX))
    .map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
    .sort();
}

export function sameSet(a: Set<string>, b: Iterable<string>): boolean {
  const bs = new Set(b);
  return a.size === bs.size && [...a].every((x) => bs.has(x));
}

/** A scenario task: a fixed status, `n` servers. */
export function simTask(id: string, status: 'init' | 'Processing' | 'Success' | 'Failed', targets = 1, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    status,
    targets: Array.from({ length: targets }, (_, i) => ({ type: 'uuid', target: `0000${id}-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `host-${id}-${i}` })),
    ...extra,
  };
}
