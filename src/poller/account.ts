/**
 * One account's polling: its client, its rate limiter and concurrency, its
 * tasks and what is known of each. A failing account (403, revoked key,
 * throttling, an unreachable endpoint) slows and fails only itself.
 */
import type { AccountConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { AccountSnapshot, TaskState } from '../model/snapshot.js';
import type { SasResult, ScanTaskProgressSource } from '../sas/types.js';
import { runCycle } from './cycle.js';
import type { AccountObserver, CycleStats } from './observer.js';
import { RateLimiter } from './rateLimiter.js';
import { applyResult, isDue, withSpec } from './state.js';

/** What the account poller needs of an AccountConfig. */
export type AccountSettings = Pick<AccountConfig, 'name' | 'concurrency' | 'retry' | 'rateLimit' | 'terminalRecheckIntervalMs' | 'tasks'>;

export interface AccountPollerDeps {
  readonly logger: Logger;
  readonly observer: AccountObserver;
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
  private source: ScanTaskProgressSource;
  private readonly limiter: RateLimiter;
  private states = new Map<string, TaskState>();
  private order: string[] = [];
  /** What was last logged per task, so a lasting failure is one warning, not one per cycle. */
  private readonly lastLogged = new Map<string, string>();
  private tasksCache: readonly TaskState[] | undefined;

  constructor(
    settings: AccountSettings,
    source: ScanTaskProgressSource,
    private readonly deps: AccountPollerDeps,
  ) {
    this.settings = settings;
    this.source = source;
    this.limiter = new RateLimiter({ qps: settings.rateLimit.qps, burst: settings.rateLimit.burst, sleep: deps.sleep });
    this.limiter.onRateChange((qps) => deps.observer.rateLimitChanged(qps));
    deps.observer.rateLimitChanged(settings.rateLimit.qps);
    this.configure(settings, source);
  }

  get name(): string {
    return this.settings.name;
  }

  /**
   * Applies the account's (new) settings at once: unchanged tasks keep their
   * state, removed ones vanish, added ones are returned for an immediate poll.
   */
  configure(settings: AccountSettings, source: ScanTaskProgressSource): ConfigureResult {
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
    for (const id of removed) this.lastLogged.delete(id);
    if (previous !== settings && (previous.rateLimit.qps !== settings.rateLimit.qps || previous.rateLimit.burst !== settings.rateLimit.burst)) {
      this.limiter.reconfigure(settings.rateLimit.qps, settings.rateLimit.burst);
    }
    return { added, removed };
  }

  has(taskId: string): boolean {
    return this.states.has(taskId);
  }

  /** Tasks due at `now`, in configuration order (terminal ones only at their re-check interval). */
  due(now: number): string[] {
    return this.order.filter((id) => isDue(this.states.get(id)!, now, this.settings.terminalRecheckIntervalMs));
  }

  get taskCount(): number {
    return this.order.length;
  }

  /** The account's part of a snapshot: the same array as long as nothing changed. */
  snapshot(): AccountSnapshot {
    this.tasksCache ??= Object.freeze(this.order.map((id) => this.states.get(id)!));
    return { name: this.settings.name, tasks: this.tasksCache };
  }

  /** Polls `ids` (those still configured); each result is applied as it arrives. */
  async poll(kind: CycleStats['kind'], ids: readonly string[], deadline: number, signal: AbortSignal): Promise<CycleStats> {
    const s = this.settings;
    const stats = await runCycle(
      ids.filter((id) => this.states.has(id)),
      { kind, concurrency: s.concurrency, retry: s.retry, deadline, signal },
      { source: this.source, limiter: this.limiter, observer: this.deps.observer, logger: this.deps.logger, now: this.deps.now, random: this.deps.random, sleep: this.deps.sleep },
      (id, result) => this.apply(id, result),
    );
    this.deps.observer.cycleFinished(stats);
    return stats;
  }

  private apply(id: string, result: SasResult): void {
    const prev = this.states.get(id);
    if (!prev) return; // removed by a reload meanwhile
    this.logResult(prev, result);
    this.states.set(id, applyResult(prev, result, this.deps.now()));
    this.tasksCache = undefined;
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
