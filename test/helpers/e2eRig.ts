/**
 * Shared set-up of the end-to-end suite (test/e2e/{timeline,faults,retries,
 * signature,startup,demo}.test.ts): the simulator in-process, the BUILT
 * exporter as a child process pointed at it over real HTTP through the real
 * SDK, a configuration written to a temp dir, and an environment that holds
 * exactly the credentials a test chose (nothing inherited from the machine).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DEMO_CREDENTIALS, loadScenarioFile, startSimulator, type Scenario, type SimulatorHandle } from '../../src/simulator/index.js';
import { ExporterProcess, ROOT, tempDir, writeConfig } from './exporterProcess.js';
import { select, type Sample } from './exposition.js';

export const SCENARIO_DIR = path.join(ROOT, 'test/fixtures/scenarios');
export const ACTION = 'DescribeScanTaskProgress';
/** 6-field cron: every second. */
export const EVERY_SECOND = '*/1 * * * * *';
/** Midnight of January 1st: in practice only the first cycle (run at start) ever happens. */
export const NEVER = '0 0 1 1 *';

export function loadFixture(name: 'timeline' | 'faults' | 'throttle' | 'credentials' | (string & {})): Promise<Scenario> {
  return loadScenarioFile(path.join(SCENARIO_DIR, `${name}.yaml`));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * An environment overlay for ExporterProcess.start: every ALIBABA_CLOUD_* /
 * ALICLOUD_* variable the test runner has is removed, then `vars` applied.
 */
export function credentialEnv(vars: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (/^(ALIBABA_CLOUD_|ALICLOUD_)/i.test(k)) env[k] = undefined;
  return { ...env, ...vars };
}

/** The simulator's demo pair through the env provider of the default chain. */
export function demoEnv(): Record<string, string | undefined> {
  return credentialEnv({
    ALIBABA_CLOUD_ACCESS_KEY_ID: DEMO_CREDENTIALS.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEMO_CREDENTIALS.accessKeySecret,
  });
}

/** An overlay that removes every inherited variable: the child sees only `keep`. */
export function emptyEnv(keep: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) env[k] = undefined;
  return { ...env, ...keep };
}

export type TaskEntry = string | { id: string; name: string };

export interface ExporterConfigOptions {
  endpoint: string;
  tasks: readonly TaskEntry[];
  schedule?: string;
  requestTimeout?: string;
  concurrency?: number;
  retry?: { maxAttempts?: number; initialBackoff?: string; maxBackoff?: string };
  /** Default 0s: terminal tasks are polled every cycle (faults injected later reach them). */
  terminalRecheck?: string;
  /** Default a ceiling high enough never to pace a test. */
  qps?: number;
}

/** A small, fast exporter configuration aimed at the simulator over plain HTTP. Task IDs are written bare, as users write them. */
export function exporterConfig(o: ExporterConfigOptions): string {
  const retry = { maxAttempts: 3, initialBackoff: '50ms', maxBackoff: '100ms', ...o.retry };
  const tasks = o.tasks.map((t) => (typeof t === 'string' ? `  - ${t}` : `  - { id: ${t.id}, name: ${JSON.stringify(t.name)} }`));
  return [
    `endpoint: "${o.endpoint}"`,
    'protocol: http',
    `schedule: "${o.schedule ?? EVERY_SECOND}"`,
    `request_timeout: ${o.requestTimeout ?? '500ms'}`,
    `concurrency: ${o.concurrency ?? 4}`,
    `retry: { max_attempts: ${retry.maxAttempts}, initial_backoff: ${retry.initialBackoff}, max_backoff: ${retry.maxBackoff} }`,
    `rate_limit: { qps: ${o.qps ?? 200}, burst: ${o.qps ?? 200} }`,
    `terminal_recheck_interval: ${o.terminalRecheck ?? '0s'}`,
    'tasks:',
    ...tasks,
    '',
  ].join('\n');
}

/** A timeline clock the test moves by hand, for startSimulator({now}). */
export class ManualClock {
  private t = 0;
  readonly now = (): number => this.t;
  set(ms: number): void {
    this.t = ms;
  }
}

export interface RigOptions {
  scenario: Scenario;
  /** The exporter configuration, given the simulator's `host:port`. */
  config: (endpoint: string) => string;
  /** Default: the demo pair, nothing else inherited. */
  env?: Record<string, string | undefined>;
  args?: string[];
  waitFor?: 'ready' | 'healthy' | 'none';
  /** The simulator's timeline clock (default real time). */
  now?: () => number;
  /** Called with the simulator before the exporter starts (to clear or set faults). */
  beforeExporter?: (sim: SimulatorHandle) => void;
}

/** One simulator and one exporter polling it. close() is safe to call twice and from afterAll. */
export class Rig {
  private constructor(
    readonly sim: SimulatorHandle,
    readonly exporter: ExporterProcess,
    readonly dir: string,
    readonly configFile: string,
  ) {}

  static async start(o: RigOptions): Promise<Rig> {
    const sim = await startSimulator({ scenario: o.scenario, host: '127.0.0.1', port: 0, ...(o.now ? { now: o.now } : {}) });
    const dir = await tempDir();
    try {
      o.beforeExporter?.(sim);
      const configFile = await writeConfig(dir, o.config(sim.endpoint));
      const exporter = await ExporterProcess.start({
        args: [`--config.file=${configFile}`, '--no-config.watch', ...(o.args ?? [])],
        env: o.env ?? demoEnv(),
        waitFor: o.waitFor ?? 'ready',
      });
      return new Rig(sim, exporter, dir, configFile);
    } catch (err) {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  scrape(): Promise<Sample[]> {
    return this.exporter.scrape();
  }

  until(predicate: (s: Sample[]) => boolean, what: string, timeoutMs = 15_000): Promise<Sample[]> {
    return this.exporter.until(predicate, timeoutMs, what);
  }

  /** Stops the exporter (returns its exit code), closes the simulator, removes the temp dir. */
  async close(): Promise<number | null> {
    const code = await this.exporter.stop();
    await this.sim.close();
    await rm(this.dir, { recursive: true, force: true });
    return code;
  }
}

/** A series' value, 0 when absent (counters that have not been touched yet). */
export function num(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return select(samples, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** Finished cycles of every result except `skipped`. */
export function cyclesFinished(samples: Sample[]): number {
  return ['success', 'partial', 'failure'].reduce((n, result) => n + num(samples, 'aliyun_sas_poll_cycles_total', { result }), 0);
}

/** `aliyun_sas_api_requests_total{action="DescribeScanTaskProgress", code}` (0 when absent). */
export function apiCalls(samples: Sample[], code: string): number {
  return num(samples, 'aliyun_sas_api_requests_total', { action: ACTION, code });
}

/** Identity of a series (name and sorted labels), for set comparisons. */
export function seriesKey(s: Sample): string {
  return `${s.name}{${Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
    .join(',')}}`;
}
