/**
 * The data flow of the exporter, wired once: configuration -> SAS client ->
 * poller -> snapshot -> exposition cache, with the self-metrics observing
 * every stage, and readiness. The daemon (exporter.ts), the benchmark and
 * the soak all run this same wiring; only the HTTP serving and the process
 * around it differ.
 */
import type { AccountConfig, ExporterConfig } from './config/schema.js';
import type { Logger } from './log/logger.js';
import { ExpositionCache } from './metrics/cache.js';
import { snapshotLayout } from './metrics/layout.js';
import { TASK_FAMILIES } from './metrics/taskFamilies.js';
import { SelfMetrics } from './metrics/self.js';
import { Poller, type ConfigureResult } from './poller/poller.js';
import type { TickerFactory } from './poller/scheduler.js';
import type { Snapshot } from './model/snapshot.js';
import { emptySummary, summariseAccount, type AccountTasksSummary, type ExporterStatus } from './model/status.js';
import type { ScanTaskProgressSource } from './sas/types.js';
import { REVISION, VERSION } from './version.js';

export interface PipelineOptions {
  readonly logger: Logger;
  /** The API client of an account: the SDK client in production, the simulator's in demo mode. */
  readonly makeSource: (account: AccountConfig) => ScanTaskProgressSource;
  /** Default: a fresh SelfMetrics with the process metrics. */
  readonly self?: SelfMetrics;
  /** Default: node-cron. */
  readonly ticker?: TickerFactory;
  /** Ready once every task was answered once, or this long after start() at the latest (default 1 min). */
  readonly readyTimeoutMs?: number;
  /** Least time between two snapshots published during a cycle (default 1 s). */
  readonly publishIntervalMs?: number;
}

/** How far the first answers got, in the snapshot served. */
export interface Readiness {
  readonly ready: boolean;
  readonly answered: number;
  readonly total: number;
}

/** What decides whether an account needs a new client on reload. */
function clientKey(a: AccountConfig): string {
  return JSON.stringify([a.endpoint, a.protocol, a.region, a.requestTimeoutMs, a.credentials ?? null]);
}

export class RestartRequiredError extends Error {
  override readonly name = 'RestartRequiredError';
}

export class Pipeline {
  readonly self: SelfMetrics;
  readonly cache: ExpositionCache;
  readonly poller: Poller;
  private current: ExporterConfig;
  private readonly makeSource: (account: AccountConfig) => ScanTaskProgressSource;
  /** Each account's client, kept while its endpoint, timeout and credentials stay the same. */
  private sources = new Map<string, { key: string; source: ScanTaskProgressSource }>();
  private readonly readyTimeoutMs: number;
  private startedAt: number | undefined;
  private becameReady = false;
  /** Tasks (and latest scans) answered at least once, in the snapshot served. */
  private served = { answered: 0, total: 0 };
  /** Each account's summary of the snapshot served, for the landing page: made once per snapshot. */
  private summaries = new Map<string, AccountTasksSummary>();
  /** Unix ms. */
  private readonly createdAt = Date.now();

  constructor(config: ExporterConfig, opts: PipelineOptions) {
    this.current = config;
    this.makeSource = opts.makeSource;
    this.self = opts.self ?? new SelfMetrics({ version: VERSION, revision: REVISION, accountLabel: config.multiAccount });
    const logger = opts.logger;
    // The exporter's own label bounds, which count what they do in the self-metrics.
    this.cache = new ExpositionCache(() => this.self.renderParts(), { layout: snapshotLayout(TASK_FAMILIES, this.self.labelLimits) });
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
    this.poller = new Poller({
      logger: logger.child({ component: 'poller' }),
      observer: this.self,
      ...(opts.ticker ? { ticker: opts.ticker } : {}),
      ...(opts.publishIntervalMs !== undefined ? { publishIntervalMs: opts.publishIntervalMs } : {}),
    });
    this.poller.onSnapshot((snap) => {
      this.cache.update(snap).catch((err: unknown) => logger.error('rendering metrics failed', { err: String(err) }));
    });
    // Counts are set as a snapshot becomes the one served, so a scrape never
    // shows the counts of one configuration beside the series of another.
    this.cache.onRendered((_generation, _ms, snap) => {
      this.self.tasksServed(snap);
      this.served = answeredIn(snap);
      this.summaries = new Map(snap.accounts.map((a) => [a.name, summariseAccount(a)]));
    });
    this.poller.configure(config, (a) => this.sourceOf(a as AccountConfig));
    this.self.configLoaded(true, Date.now());
  }

  get config(): ExporterConfig {
    return this.current;
  }

  /**
   * Ready once /metrics serves an answer for every task (and latest scan),
   * or `readyTimeoutMs` after start at the latest: a rate-limited first
   * cycle over thousands of tasks never holds a pod unready for its whole
   * length. Once ready, always ready (a reload adding tasks changes nothing).
   */
  get ready(): boolean {
    return this.readiness().ready;
  }

  readiness(): Readiness {
    if (!this.becameReady && this.startedAt !== undefined) {
      const all = this.served.total > 0 ? this.served.answered === this.served.total : this.cache.generation >= 0 && this.poller.ready;
      if (all || performance.now() - this.startedAt >= this.readyTimeoutMs) this.becameReady = true;
    }
    return { ready: this.becameReady, ...this.served };
  }

  /**
   * What the landing page shows: the configured accounts, in configuration
   * order, with the task counts of the snapshot served (an account a reload
   * just added, not served yet, counts its tasks as not answered) and what
   * their polling did; readiness; build and configuration state. Cheap: the
   * summaries were made when the snapshot was rendered; this is O(accounts).
   * No credential of any kind is part of it.
   */
  status(): ExporterStatus {
    const readiness = this.readiness();
    const cfg = this.self.configState();
    return {
      version: VERSION,
      revision: REVISION,
      nodeVersion: process.version,
      startedAt: this.createdAt,
      now: Date.now(),
      demo: this.current.simulator !== undefined,
      multiAccount: this.current.multiAccount,
      schedule: this.current.schedule,
      readiness: { ...readiness, timeoutMs: this.readyTimeoutMs },
      config: { lastReloadOk: cfg.ok, ...(cfg.lastSuccessAt !== undefined ? { lastSuccessAt: cfg.lastSuccessAt } : {}) },
      accounts: this.current.accounts.map((a) => ({
        name: a.name,
        ...(a.region ? { region: a.region } : {}),
        endpoint: a.endpoint,
        latestScanEnabled: a.latestScan.enabled,
        ...(this.summaries.get(a.name) ?? emptySummary(a.tasks.length, a.latestScan.enabled)),
        ...this.self.activity(a.name),
      })),
    };
  }

  /**
   * Applies a validated configuration: a new client when the endpoint,
   * protocol, region or timeout changed; tasks added, removed and renamed
   * through the poller (unchanged tasks keep their state).
   */
  apply(next: ExporterConfig): ConfigureResult {
    if (next.multiAccount !== this.current.multiAccount) {
      // Every family would change its labels (account added or dropped): a new process is the clean way.
      throw new RestartRequiredError('switching between the single-account form and `accounts:` needs a restart');
    }
    const previous = this.sources;
    this.sources = new Map();
    let result: ConfigureResult;
    try {
      result = this.poller.configure(next, (a) => this.sourceOf(a as AccountConfig, previous));
    } catch (err) {
      this.sources = previous;
      throw err;
    }
    this.current = next;
    this.self.configLoaded(true, Date.now());
    return result;
  }

  private sourceOf(a: AccountConfig, previous = this.sources): ScanTaskProgressSource {
    const key = clientKey(a);
    const kept = previous.get(a.name);
    const entry = kept && kept.key === key ? kept : { key, source: this.makeSource(a) };
    this.sources.set(a.name, entry);
    return entry.source;
  }

  /** Runs the first cycle now, then one per tick. */
  start(): void {
    this.startedAt ??= performance.now();
    this.poller.start();
  }

  /** Stops polling; calls in flight get up to `graceMs` to end. */
  stop(graceMs = 2000): Promise<void> {
    return this.poller.stop(graceMs);
  }
}

/** Tasks and latest scans of a snapshot, and how many of them were answered at least once. */
function answeredIn(snap: Snapshot): { answered: number; total: number } {
  let answered = 0;
  let total = 0;
  for (const a of snap.accounts) {
    for (const t of a.tasks) {
      total++;
      if (t.lastPollOk !== undefined) answered++;
    }
    if (a.latestScan) {
      total++;
      if (a.latestScan.lastPollOk !== undefined) answered++;
    }
  }
  return { answered, total };
}
