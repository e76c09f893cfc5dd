/**
 * One built exporter against one in-process simulator, for the reload and
 * hardening end-to-end tests: distinctive credentials (see secrets.ts), debug
 * logging, every scrape recorded, and a close() that stops both, removes the
 * temp dir and then fails the test if a secret leaked or the exporter
 * reported a bug.
 */
import { rm, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { buildScenario, startSimulator, type ScenarioInput, type SimulatorHandle } from '../../src/simulator/index.js';
import { ExporterProcess, tempDir } from './exporterProcess.js';
import { value, type Sample } from './exposition.js';
import { assertNoLeaks, credentialEnv, distinctiveCredentials, recordScrapes, scenarioCredential, secretsOf, type TestCredentials } from './secrets.js';

/** Cron for "practically never" (Jan 1st, 00:00): only the first cycle and reload-triggered polls run. */
export const NEVER = '0 0 1 1 *';
export const EVERY_SECOND = '*/1 * * * * *';

export type TaskEntry = string | { id: string; name: string };

export interface ExporterYaml {
  endpoint: string;
  protocol?: 'http' | 'https';
  schedule?: string;
  tasks: readonly TaskEntry[];
  /** Further top-level YAML, appended verbatim. */
  extra?: string;
}

/** A short-timeout exporter configuration. */
export function exporterYaml(c: ExporterYaml): string {
  const tasks = c.tasks.map((t) => (typeof t === 'string' ? `  - ${t}` : `  - { id: ${t.id}, name: ${JSON.stringify(t.name)} }`)).join('\n');
  return [
    `endpoint: ${JSON.stringify(c.endpoint)}`,
    `protocol: ${c.protocol ?? 'http'}`,
    `schedule: ${JSON.stringify(c.schedule ?? EVERY_SECOND)}`,
    c.extra ?? 'request_timeout: 1s\nretry: { max_attempts: 2, initial_backoff: 20ms, max_backoff: 100ms }',
    `tasks:\n${tasks}`,
    '',
  ].join('\n');
}

export interface HarnessOptions {
  /** Scenario without credentials (the harness adds the distinctive pair); none: no simulator. */
  scenario?: ScenarioInput;
  /** The configuration, given the simulator's endpoint. */
  config: (endpoint: string) => string;
  args?: string[];
  /** STS pair (default) or a plain access key. */
  sts?: boolean;
  /**
   * What the service knows of the exporter's key: the same pair (default),
   * nothing (InvalidAccessKeyId.NotFound), the key ID with another secret
   * (SignatureDoesNotMatch) or, for STS, with another token.
   */
  serviceKeys?: 'same' | 'unknown-key' | 'wrong-secret' | 'wrong-token';
  waitFor?: 'ready' | 'healthy' | 'none';
  /** Over the credential environment (undefined removes a variable). */
  env?: Record<string, string | undefined>;
  tag: string;
}

export class Harness {
  scrapes: string[] = [];
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly configFile: string,
    readonly creds: TestCredentials,
    public sim: SimulatorHandle | undefined,
    readonly exporter: ExporterProcess,
    private readonly scenarioInput: ScenarioInput | undefined,
  ) {
    this.scrapes = recordScrapes(exporter);
  }

  static async start(o: HarnessOptions): Promise<Harness> {
    const dir = await tempDir(`sas-${o.tag}-`);
    const creds = distinctiveCredentials(o.tag, { sts: o.sts ?? true });
    let sim: SimulatorHandle | undefined;
    let scenarioInput: ScenarioInput | undefined;
    try {
      if (o.scenario) {
        const other = distinctiveCredentials('other');
        const known: TestCredentials =
          o.serviceKeys === 'unknown-key'
            ? other
            : o.serviceKeys === 'wrong-secret'
              ? { ...creds, accessKeySecret: other.accessKeySecret }
              : o.serviceKeys === 'wrong-token'
                ? { ...creds, securityToken: other.securityToken }
                : creds;
        scenarioInput = { ...o.scenario, credentials: [scenarioCredential(known)] };
        sim = await startSimulator({ scenario: buildScenario(scenarioInput, o.tag), host: '127.0.0.1', port: 0 });
      }
      const configFile = path.join(dir, 'exporter.yaml');
      await writeFile(configFile, o.config(sim?.endpoint ?? '127.0.0.1:9'));
      const exporter = await ExporterProcess.start({
        args: [`--config.file=${configFile}`, '--log.level=debug', ...(o.args ?? [])],
        env: { ...credentialEnv(creds), ...o.env },
        waitFor: o.waitFor ?? 'ready',
      });
      return new Harness(dir, configFile, creds, sim, exporter, scenarioInput);
    } catch (err) {
      await sim?.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get endpoint(): string {
    return this.sim!.endpoint;
  }

  get output(): string {
    return this.exporter.output;
  }

  scrape(): Promise<Sample[]> {
    return this.exporter.scrape();
  }

  until(predicate: (s: Sample[]) => boolean, timeoutMs = 10_000, what?: string): Promise<Sample[]> {
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
  async untilLogged(needle: string, n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(needle) < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} x ${JSON.stringify(needle)} in the log:\n${this.output}`);
      if (this.exporter.exitCode !== null) throw new Error(`exporter exited with ${this.exporter.exitCode}:\n${this.output}`);
      await sleep(25);
    }
  }

  /** Stops the simulator and starts a fresh one (same scenario) on the same port. */
  async restartSimulator(): Promise<void> {
    const port = this.sim!.port;
    await this.sim!.close();
    this.sim = await startSimulator({ scenario: buildScenario(this.scenarioInput!, 'restarted'), host: '127.0.0.1', port });
  }

  /**
   * Stops everything, then fails if a secret leaked into the output or a
   * recorded scrape, or if the exporter logged a bug.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.exporter.stop();
    } finally {
      await this.sim?.close();
      await rm(this.dir, { recursive: true, force: true });
    }
    const secrets = secretsOf(this.creds);
    assertNoLeaks('exporter output', [this.exporter.output], secrets);
    assertNoLeaks('/metrics body', this.scrapes, secrets);
    const bugs = this.exporter.output.split('\n').filter((l) => /BUG:|poll cycle crashed|MaxListenersExceeded|UnhandledPromiseRejection/.test(l));
    if (bugs.length > 0) throw new Error(`the exporter reported bugs:\n${bugs.join('\n')}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export type StartHarness = (o: HarnessOptions) => Promise<Harness>;

/**
 * A test body with its own harnesses: whatever it started is closed when it
 * ends, pass or fail, and a leak or bug found by close() fails it. Safe for
 * test.concurrent (no shared afterEach).
 */
export function withHarnesses(body: (start: StartHarness) => Promise<void>): () => Promise<void> {
  return async () => {
    const pool = new HarnessPool();
    let ok = false;
    try {
      await body((o) => pool.start(o));
      ok = true;
    } finally {
      const closing = pool.closeAll();
      if (ok) await closing;
      else await closing.catch(() => undefined); // the body's own failure is the one to report
    }
  };
}

/** Closes every harness a test opened, and fails the test if any close() found a problem. */
export class HarnessPool {
  private open: Harness[] = [];

  async start(o: HarnessOptions): Promise<Harness> {
    const h = await Harness.start(o);
    this.open.push(h);
    return h;
  }

  async closeAll(): Promise<void> {
    const hs = this.open;
    this.open = [];
    const results = await Promise.allSettled(hs.map((h) => h.close()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) throw failed[0]!.reason;
  }
}

// --- reading scrapes ---------------------------------------------------------

export const TASK_PREFIX = 'aliyun_sas_scan_task_';

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

export function num(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return value(samples, name, labels) ?? 0;
}

/** Finished cycles of any result (skipped ticks left out). */
export function cycles(samples: Sample[]): number {
  return ['success', 'partial', 'failure'].reduce((n, result) => n + num(samples, 'aliyun_sas_poll_cycles_total', { result }), 0);
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
