/**
 * Owns the task list and what is known of each task; runs cycles on the
 * schedule (the first at once), never two at a time; publishes an immutable
 * snapshot at the end of each cycle and on every reload.
 */
import { setMaxListeners } from 'node:events';
import type { ExporterConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { SasResult, ScanTaskProgressSource } from '../sas/types.js';
import { runCycle } from './cycle.js';
import { nullObserver, type CycleStats, type PollObserver } from './observer.js';
import { abortableSleep, RateLimiter } from './rateLimiter.js';
import { cronTicker, type Ticker, type TickerFactory } from './scheduler.js';
import type { Snapshot, TaskState } from '../model/snapshot.js';
import { applyResult, isDue, withSpec } from './state.js';

export type PollerSettings = Pick<ExporterConfig, 'schedule' | 'concurrency' | 'retry' | 'rateLimit' | 'terminalRecheckIntervalMs' | 'tasks'>;

export interface PollerDeps {
  source: ScanTaskProgressSource;
  logger: Logger;
  observer?: PollObserver;
  ticker?: TickerFactory;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ConfigureResult {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export class Poller {
  private settings: PollerSettings | undefined;
  private source: ScanTaskProgressSource;
  private readonly logger: Logger;
  private readonly observer: PollObserver;
  private readonly tickerFactory: TickerFactory;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private limiter: RateLimiter | undefined;
  private ticker: Ticker | undefined;
  private states = new Map<string, TaskState>();
  private order: string[] = [];
  private snap: Snapshot = { generation: 0, createdAt: 0, tasks: [] };
  private readonly listeners: ((s: Snapshot) => void)[] = [];
  private running: Promise<void> | undefined;
  /** Tasks added by a reload while a cycle ran: polled right after it. */
  private pending = new Set<string>();
  private abort = new AbortController();
  private cyclesDone = 0;
  private stopped = false;
  /** What was last logged per task, so a lasting failure is one warning, not one per cycle. */
  private lastLogged = new Map<string, string>();

  constructor(deps: PollerDeps) {
    this.source = deps.source;
    this.logger = deps.logger;
    this.observer = deps.observer ?? nullObserver;
    this.tickerFactory = deps.ticker ?? cronTicker;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? abortableSleep;
    // Every waiting worker listens on this signal (rate limiter, retry back-off):
    // with concurrency above 10 Node would warn of a listener leak that is none.
    setMaxListeners(0, this.abort.signal);
  }

  /** True once the first cycle has finished. */
  get ready(): boolean {
    return this.cyclesDone > 0;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  current(): Snapshot {
    return this.snap;
  }

  onSnapshot(listener: (s: Snapshot) => void): void {
    this.listeners.push(listener);
  }

  setSource(source: ScanTaskProgressSource): void {
    this.source = source;
  }

  /**
   * Applies a (new) configuration atomically: unchanged tasks keep their
   * state and history, removed ones vanish from the next snapshot, added ones
   * are polled at once (after the running cycle, if any).
   */
  configure(settings: PollerSettings): ConfigureResult {
    const previous = this.settings;
    // The one step that can fail comes first: the old ticker stays until the new one exists.
    let ticker = this.ticker;
    if (this.ticker && previous && previous.schedule !== settings.schedule) {
      ticker = this.tickerFactory(settings.schedule, () => this.onTick());
      this.ticker.stop();
    }
    this.ticker = ticker;
    this.settings = settings;
    const nextStates = new Map<string, TaskState>();
    for (const spec of settings.tasks) nextStates.set(spec.id, withSpec(this.states.get(spec.id), spec));
    const added = settings.tasks.filter((t) => !this.states.has(t.id)).map((t) => t.id);
    const removed = this.order.filter((id) => !nextStates.has(id));
    this.states = nextStates;
    this.order = settings.tasks.map((t) => t.id);
    for (const id of removed) {
      this.pending.delete(id);
      this.lastLogged.delete(id);
    }

    if (!this.limiter) {
      this.limiter = new RateLimiter({ qps: settings.rateLimit.qps, burst: settings.rateLimit.burst, sleep: this.sleep });
      this.limiter.onRateChange((qps) => this.observer.rateLimitChanged(qps));
      this.observer.rateLimitChanged(settings.rateLimit.qps);
    } else if (previous && (previous.rateLimit.qps !== settings.rateLimit.qps || previous.rateLimit.burst !== settings.rateLimit.burst)) {
      this.limiter.reconfigure(settings.rateLimit.qps, settings.rateLimit.burst);
    }
    this.publish();
    if (this.ticker && added.length > 0) {
      for (const id of added) this.pending.add(id);
      if (!this.running) void this.startCycle([...this.pending]);
    }
    return { added, removed };
  }

  /** Runs the first cycle now and then one per tick. */
  start(): void {
    if (!this.settings) throw new Error('configure() must come before start()');
    if (this.ticker || this.stopped) return;
    this.ticker = this.tickerFactory(this.settings.schedule, () => this.onTick());
    void this.startCycle(undefined);
  }

  /** Stops ticking and abandons waits; gives in-flight calls up to `graceMs` to end. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    this.ticker?.stop();
    this.ticker = undefined;
    this.abort.abort();
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
  }

  /** Runs one full cycle (or one over `onlyIds`) now, for tests and tools; waits for a running one first. */
  async runOnce(onlyIds?: readonly string[]): Promise<CycleStats | undefined> {
    while (this.running) await this.running;
    return this.startCycle(onlyIds);
  }

  private onTick(): void {
    if (this.running) {
      this.observer.tickSkipped();
      this.logger.warn('poll cycle still running at the next tick; tick skipped', { schedule: this.settings?.schedule });
      return;
    }
    void this.startCycle(undefined);
  }

  private startCycle(onlyIds: readonly string[] | undefined): Promise<CycleStats | undefined> {
    const p = this.cycle(onlyIds);
    const done = p.then(
      () => undefined,
      () => undefined,
    );
    this.running = done;
    void done.then(() => {
      if (this.running === done) this.running = undefined;
      if (this.pending.size > 0 && !this.stopped && this.ticker) void this.startCycle([...this.pending]);
    });
    return p.catch((err: unknown) => {
      // A bug, not an API failure: report it and keep the exporter serving.
      this.logger.error('poll cycle crashed', { err: err instanceof Error ? err.stack ?? err.message : String(err) });
      return undefined;
    });
  }

  private async cycle(onlyIds: readonly string[] | undefined): Promise<CycleStats> {
    const settings = this.settings!;
    const startedAt = this.now();
    let ids: string[];
    if (onlyIds) {
      ids = onlyIds.filter((id) => this.states.has(id));
      for (const id of ids) this.pending.delete(id);
    } else {
      ids = this.order.filter((id) => isDue(this.states.get(id)!, startedAt, settings.terminalRecheckIntervalMs));
      this.pending.clear();
    }
    const results: [string, SasResult, number][] = [];
    const deadline = this.ticker ? this.ticker.nextTickAt() : startedAt + 3_600_000;
    const stats = await runCycle(
      ids,
      { kind: onlyIds ? 'added' : 'schedule', concurrency: settings.concurrency, retry: settings.retry, deadline, signal: this.abort.signal },
      { source: this.source, limiter: this.limiter!, observer: this.observer, logger: this.logger, now: this.now, random: this.random, sleep: this.sleep },
      (id, result) => results.push([id, result, this.now()]),
    );
    // Results are merged only now, so no snapshot ever shows half a cycle.
    for (const [id, result, at] of results) {
      const prev = this.states.get(id);
      if (!prev) continue; // removed by a reload meanwhile
      this.logResult(prev, result);
      this.states.set(id, applyResult(prev, result, at));
    }
    if (!onlyIds) this.cyclesDone++;
    else if (this.cyclesDone === 0 && ids.length === this.order.length) this.cyclesDone++;
    this.observer.cycleFinished(stats);
    this.logger.debug('poll cycle finished', { result: stats.result, tasks: stats.tasksPolled, failed: stats.tasksFailed, api_calls: stats.apiCalls, duration_ms: Math.round(stats.durationMs) });
    this.publish();
    return stats;
  }

  private logResult(prev: TaskState, result: SasResult): void {
    const log = this.logger;
    if (!result.ok) {
      const key = `error:${result.error.code}`;
      const fields = { task_id: prev.id, error_class: result.error.class, code: result.error.code, http_status: result.error.httpStatus, request_id: result.error.requestId, err: result.error.message };
      if (this.lastLogged.get(prev.id) !== key) log.warn('poll failed', fields);
      else log.debug('poll failed again', fields);
      this.lastLogged.set(prev.id, key);
      return;
    }
    const v = result.value;
    if (v.targetInfoError) this.observer.targetInfoError(v.targetInfoError.split(':')[0]!);
    const key = `ok:${v.rawStatus}:${v.targetInfoError ?? ''}`;
    if (this.lastLogged.get(prev.id) === key) return;
    this.lastLogged.set(prev.id, key);
    if (v.status === 'unknown') log.warn('undocumented scan status; exported as unknown', { task_id: prev.id, raw_status: v.rawStatus });
    if (v.targetInfoError) log.warn('TargetInfo unusable; status kept, no target series', { task_id: prev.id, problem: v.targetInfoError, request_id: v.requestId });
    if (prev.status !== v.status) log.info('scan status', { task_id: prev.id, status: v.status, previous: prev.status ?? 'none', targets: v.targets.length });
    else if (prev.lastPollOk === false) log.info('poll recovered', { task_id: prev.id, status: v.status });
  }

  private publish(): void {
    const tasks = this.order.map((id) => this.states.get(id)!);
    this.snap = Object.freeze({ generation: this.snap.generation + 1, createdAt: this.now(), tasks: Object.freeze(tasks) });
    for (const l of this.listeners) l(this.snap);
  }
}
