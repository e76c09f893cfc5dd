/**
 * One account's polling: its client, its rate limiter and concurrency, its
 * tasks and what is known of each. A failing account (403, revoked key,
 * throttling, an unreachable endpoint) slows and fails only itself.
 */
import { setMaxListeners } from 'node:events';
import type { AccountConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { AccountSnapshot, LatestScanState, TaskState } from '../model/snapshot.js';
import type { SasResult, ScanTaskProgressSource, VirusScanSource } from '../sas/types.js';
import { CycleBudget, runCycle } from './cycle.js';
import { latestScanSettled, pollLatestScan } from './latestScan.js';
import type { AccountObserver, CycleStats } from './observer.js';
import { AbortedError, RateLimiter } from './rateLimiter.js';
import { applyResult, isDue, withSpec } from './state.js';

/** What the account poller needs of an AccountConfig. */
export type AccountSettings = Pick<AccountConfig, 'name' | 'concurrency' | 'retry' | 'rateLimit' | 'terminalRecheckIntervalMs' | 'tasks'> & Partial<Pick<AccountConfig, 'latestScan'>>;

/** The calls an account poller makes: task polls, and the scan-results calls when latest_scan is on. */
export type AccountSource = ScanTaskProgressSource & Partial<VirusScanSource>;

export interface AccountPollerDeps {
  readonly logger: Logger;
  readonly observer: AccountObserver;
  /** Unix ms of the next tick: the deadline of every cycle's retries. */
  readonly deadline: () => number;
  /** Called when a cycle of this account ended (its results are in snapshot()). */
  readonly cycleEnded: () => void;
  /** Called whenever a result was applied, during a cycle: the poller publishes at a bounded rate. */
  readonly changed: () => void;
  readonly now: () => number;
  readonly random: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ConfigureResult {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export class AccountPoller {
  private settings: AccountSettings;
  /** The cycle in progress, if any: never two at once for one account. */
  private running: Promise<CycleStats | undefined> | undefined;
  /** Tasks added by a reload while a cycle ran: polled right after it. */
  private readonly pending = new Set<string>();
  private cyclesDone = 0;
  /** Aborted when the account is removed or the exporter stops: waits end at once. */
  private readonly abort = new AbortController();
  private source: AccountSource;
  private readonly limiter: RateLimiter;
  /** What is known of the account's latest virus scan (while latest_scan is enabled). */
  private latestScan: LatestScanState = {};
  private states = new Map<string, TaskState>();
  private order: string[] = [];
  /** What was last logged per task, so a lasting failure is one warning, not one per cycle. */
  private readonly lastLogged = new Map<string, string>();
  private tasksCache: readonly TaskState[] | undefined;

  constructor(
    settings: AccountSettings,
    source: AccountSource,
    private readonly deps: AccountPollerDeps,
  ) {
    // Every waiting worker listens on this signal (rate limiter, retry back-off):
    // with concurrency above 10 Node would warn of a listener leak that is none.
    setMaxListeners(0, this.abort.signal);
    this.settings = settings;
    this.source = source;
    this.limiter = new RateLimiter({ qps: settings.rateLimit.qps, burst: settings.rateLimit.burst, sleep: deps.sleep });
    this.limiter.onRateChange((qps) => deps.observer.rateLimitChanged(qps));
    deps.observer.rateLimitChanged(settings.rateLimit.qps);
    this.configure(settings, source);
  }

  /**
   * Applies the account's (new) settings at once: unchanged tasks keep their
   * state, removed ones vanish, added ones are returned for an immediate poll.
   */
  configure(settings: AccountSettings, source: AccountSource): ConfigureResult {
    const previous = this.settings;
    this.settings = settings;
    this.source = source;
    const next = new Map<string, TaskState>();
    for (const spec of settings.tasks) next.set(spec.id, withSpec(this.states.get(spec.id), spec));
    const added = settings.tasks.filter((t) => !this.states.has(t.id)).map((t) => t.id);
    const removed = this.order.filter((id) => !next.has(id));
    this.states = next;
    this.order = settings.tasks.map((t) => t.id);
    this.tasksCache = undefined;
    // Disabled, the scan is forgotten: enabled again later, it starts afresh rather than from stale values.
    if (!settings.latestScan?.enabled) this.latestScan = {};
    for (const id of removed) {
      this.lastLogged.delete(id);
      this.pending.delete(id);
    }
    if (previous !== settings && (previous.rateLimit.qps !== settings.rateLimit.qps || previous.rateLimit.burst !== settings.rateLimit.burst)) {
      this.limiter.reconfigure(settings.rateLimit.qps, settings.rateLimit.burst);
    }
    return { added, removed };
  }

  /** True once the account's first scheduled cycle finished. */
  get ready(): boolean {
    return this.cyclesDone > 0;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** A tick of the schedule: a cycle over the due tasks, unless the previous one still runs (then skipped). */
  tick(): void {
    if (this.running) {
      this.deps.observer.tickSkipped();
      this.deps.logger.warn('poll cycle still running at the next tick; tick skipped');
      return;
    }
    void this.start('schedule');
  }

  /** Tasks a reload added: polled now, or right after the running cycle. */
  pollSoon(ids: readonly string[]): void {
    for (const id of ids) this.pending.add(id);
    if (!this.running && this.pending.size > 0) void this.start('added');
  }

  /** One scheduled cycle now (after the running one, if any), for tests and tools. */
  async runOnce(): Promise<CycleStats | undefined> {
    while (this.running) await this.running;
    return this.start('schedule');
  }

  /** Stops for good: waits are abandoned; resolves when the running cycle ended or after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.abort.abort();
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }

  private start(kind: CycleStats['kind']): Promise<CycleStats | undefined> {
    if (this.abort.signal.aborted) return Promise.resolve(undefined);
    const ids = kind === 'schedule' ? this.due(this.deps.now()) : [...this.pending];
    this.pending.clear();
    const p = this.poll(kind, ids, this.deps.deadline(), this.abort.signal).then(
      (stats) => {
        if (kind === 'schedule') this.cyclesDone++;
        return stats;
      },
      (err: unknown) => {
        // A bug, not an API failure: report it and keep the exporter serving.
        this.deps.logger.error('poll cycle crashed', { err: err instanceof Error ? (err.stack ?? err.message) : String(err) });
        return undefined;
      },
    );
    this.running = p;
    void p.then(() => {
      if (this.running === p) this.running = undefined;
      this.deps.cycleEnded();
      if (this.pending.size > 0 && !this.abort.signal.aborted) void this.start('added');
    });
    return p;
  }

  /** Tasks due at `now`, in configuration order (terminal ones only at their re-check interval). */
  private due(now: number): string[] {
    return this.order.filter((id) => isDue(this.states.get(id)!, now, this.settings.terminalRecheckIntervalMs));
  }

  /** The account's part of a snapshot: the same array as long as nothing changed. */
  snapshot(): AccountSnapshot {
    this.tasksCache ??= Object.freeze(this.order.map((id) => this.states.get(id)!));
    return this.settings.latestScan?.enabled ? { name: this.settings.name, tasks: this.tasksCache, latestScan: this.latestScan } : { name: this.settings.name, tasks: this.tasksCache };
  }

  /** Polls `ids` (those still configured); each result is applied as it arrives. */
  private async poll(kind: CycleStats['kind'], ids: readonly string[], deadline: number, signal: AbortSignal): Promise<CycleStats> {
    const s = this.settings;
    const budget = new CycleBudget(
      { kind, concurrency: s.concurrency, retry: s.retry, deadline, signal },
      { limiter: this.limiter, observer: this.deps.observer, logger: this.deps.logger, now: this.deps.now, random: this.deps.random, sleep: this.deps.sleep },
    );
    // The scan-results calls run beside the task polls, through the same limiter and budget.
    const [tasks] = await Promise.all([runCycle(ids.filter((id) => this.states.has(id)), budget, this.source, (id, result) => this.apply(id, result)), this.pollScan(kind, budget)]);
    const stats: CycleStats = { ...tasks, durationMs: this.deps.now() - tasks.startedAt, apiCalls: budget.apiCalls, retriesDropped: budget.retriesDropped };
    this.deps.observer.cycleFinished(stats);
    this.deps.logger.debug('poll cycle finished', { kind, result: stats.result, tasks: stats.tasksPolled, failed: stats.tasksFailed, api_calls: stats.apiCalls, duration_ms: Math.round(stats.durationMs) });
    return stats;
  }

  /** The latest scan, when enabled and due (a scheduled cycle, or the first poll of the account). */
  private async pollScan(kind: CycleStats['kind'], budget: CycleBudget): Promise<void> {
    const cfg = this.settings.latestScan;
    if (!cfg?.enabled) return;
    if (kind === 'added' && this.latestScan.lastPolledAt !== undefined) return;
    const source = this.source;
    if (!source.getVirusScanLatestTaskStatistic || !source.listVirusScanTask) throw new Error('latest_scan needs a client that makes the scan-results calls');
    if (latestScanSettled(this.latestScan, cfg, this.deps.now(), this.settings.terminalRecheckIntervalMs)) return;
    const prev = this.latestScan;
    try {
      const next = await pollLatestScan(prev, { config: cfg, source: source as VirusScanSource, budget, recheckIntervalMs: this.settings.terminalRecheckIntervalMs, logger: this.deps.logger });
      this.logScan(prev, next);
      this.latestScan = next;
      this.deps.changed();
    } catch (err) {
      if (err instanceof AbortedError) return;
      throw err;
    }
  }

  private logScan(prev: LatestScanState, next: LatestScanState): void {
    const log = this.deps.logger;
    if (next.lastPollOk === false) {
      const fields = { error_class: next.lastError?.class, code: next.lastError?.code };
      if (prev.lastPollOk !== false || prev.lastError?.code !== next.lastError?.code) log.warn('latest virus scan poll failed', fields);
      return;
    }
    if (prev.scan?.taskId !== next.scan?.taskId || prev.scan?.status !== next.scan?.status) {
      log.info('latest virus scan', { root_task_id: next.scan?.taskId ?? 'none', status: next.scan?.status ?? 'none', machines: next.machines?.rows.length ?? 0 });
    } else if (prev.lastPollOk === false) {
      log.info('latest virus scan poll recovered', { root_task_id: next.scan?.taskId ?? 'none' });
    }
  }

  private apply(id: string, result: SasResult): void {
    const prev = this.states.get(id);
    if (!prev) return; // removed by a reload meanwhile
    this.logResult(prev, result);
    this.states.set(id, applyResult(prev, result, this.deps.now()));
    this.tasksCache = undefined;
    this.deps.changed();
  }

  private logResult(prev: TaskState, result: SasResult): void {
    const log = this.deps.logger;
    if (!result.ok) {
      const key = `error:${result.error.code}`;
      const fields = { task_id: prev.id, error_class: result.error.class, code: result.error.code, http_status: result.error.httpStatus, request_id: result.error.requestId, err: result.error.message };
      if (this.lastLogged.get(prev.id) !== key) log.warn('poll failed', fields);
      else log.debug('poll failed again', fields);
      this.lastLogged.set(prev.id, key);
      return;
    }
    const v = result.value;
    if (v.targetInfoError) this.deps.observer.targetInfoError(v.targetInfoError.split(':')[0]!);
    const key = `ok:${v.rawStatus}:${v.targetInfoError ?? ''}`;
    if (this.lastLogged.get(prev.id) === key) return;
    this.lastLogged.set(prev.id, key);
    if (v.status === 'unknown') log.warn('undocumented scan status; exported as unknown', { task_id: prev.id, raw_status: v.rawStatus });
    if (v.targetInfoError) log.warn('TargetInfo unusable; status kept, no target series', { task_id: prev.id, problem: v.targetInfoError, request_id: v.requestId });
    if (prev.status !== v.status) log.info('scan status', { task_id: prev.id, status: v.status, previous: prev.status ?? 'none', targets: v.targets.length });
    else if (prev.lastPollOk === false) log.info('poll recovered', { task_id: prev.id, status: v.status });
  }
}
