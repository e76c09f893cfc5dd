/**
 * Runs the cycles: one per tick of the schedule (the first at once), never
 * two at a time, each covering every account at once (each account with its
 * own client, rate limit and concurrency, all bound by the same deadline:
 * the next tick). Publishes an immutable snapshot at the end of each cycle
 * and on every reload.
 */
import { setMaxListeners } from 'node:events';
import type { AccountConfig, ExporterConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Snapshot } from '../model/snapshot.js';
import type { ScanTaskProgressSource } from '../sas/types.js';
import { AccountPoller, type AccountSettings } from './account.js';
import { combineStats, nullObserver, type CycleStats, type PollObserver } from './observer.js';
import { abortableSleep } from './rateLimiter.js';
import { cronTicker, type Ticker, type TickerFactory } from './scheduler.js';

export type PollerAccount = AccountSettings & Partial<Pick<AccountConfig, 'endpoint' | 'region'>>;

export interface PollerSettings {
  readonly schedule: string;
  readonly multiAccount: boolean;
  readonly accounts: readonly PollerAccount[];
}

export interface PollerDeps {
  logger: Logger;
  /** The client of every account, unless configure() is given one per account. */
  source?: ScanTaskProgressSource;
  observer?: PollObserver;
  ticker?: TickerFactory;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ConfigureResult {
  /** Task IDs added, as `account/id` in the multi-account form, `id` otherwise. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly accountsAdded: readonly string[];
  readonly accountsRemoved: readonly string[];
}

/** The settings of one account as a Pick of ExporterConfig's, for callers that hold a whole configuration. */
export type PollerConfig = Pick<ExporterConfig, 'schedule' | 'multiAccount' | 'accounts'>;

export class Poller {
  private settings: PollerSettings | undefined;
  private readonly logger: Logger;
  private readonly observer: PollObserver;
  private readonly tickerFactory: TickerFactory;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly defaultSource: ScanTaskProgressSource | undefined;
  private ticker: Ticker | undefined;
  private accounts = new Map<string, AccountPoller>();
  private snap: Snapshot = { generation: 0, createdAt: 0, multiAccount: false, accounts: [] };
  private readonly listeners: ((s: Snapshot) => void)[] = [];
  private running: Promise<void> | undefined;
  /** Tasks added by a reload, per account: polled at once, or right after the running cycle. */
  private pending = new Map<string, Set<string>>();
  private readonly abort = new AbortController();
  private cyclesDone = 0;
  private stopped = false;

  constructor(deps: PollerDeps) {
    this.logger = deps.logger;
    this.observer = deps.observer ?? nullObserver;
    this.tickerFactory = deps.ticker ?? cronTicker;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? abortableSleep;
    this.defaultSource = deps.source;
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

  /**
   * Applies a (new) configuration atomically: accounts and tasks added are
   * polled at once (after the running cycle, if any), removed ones vanish
   * from the next snapshot, unchanged ones keep their state. `sourceOf`
   * gives each account's client (the same object when nothing changed).
   */
  configure(settings: PollerSettings, sourceOf?: (account: PollerAccount) => ScanTaskProgressSource): ConfigureResult {
    const previous = this.settings;
    const source = (a: PollerAccount): ScanTaskProgressSource => {
      const s = sourceOf?.(a) ?? this.defaultSource;
      if (!s) throw new Error(`no API client for account ${a.name}`);
      return s;
    };
    // The steps that can fail come first: nothing changes unless all of them worked.
    const sources = new Map(settings.accounts.map((a) => [a.name, source(a)] as const));
    let ticker = this.ticker;
    if (this.ticker && previous && previous.schedule !== settings.schedule) ticker = this.tickerFactory(settings.schedule, () => this.onTick());

    if (ticker !== this.ticker) this.ticker?.stop();
    this.ticker = ticker;
    this.settings = settings;
    const label = (account: string, id: string) => (settings.multiAccount ? `${account}/${id}` : id);
    const added: string[] = [];
    const removed: string[] = [];
    const accountsAdded: string[] = [];
    const next = new Map<string, AccountPoller>();
    for (const a of settings.accounts) {
      let p = this.accounts.get(a.name);
      if (!p) {
        const logger = settings.multiAccount ? this.logger.child({ account: a.name }) : this.logger;
        p = new AccountPoller(a, sources.get(a.name)!, { logger, observer: this.observer.account(a.name), now: this.now, random: this.random, sleep: this.sleep });
        accountsAdded.push(a.name);
        for (const t of a.tasks) added.push(label(a.name, t.id));
        this.queue(a.name, a.tasks.map((t) => t.id));
      } else {
        const r = p.configure(a, sources.get(a.name)!);
        for (const id of r.added) added.push(label(a.name, id));
        for (const id of r.removed) removed.push(label(a.name, id));
        this.queue(a.name, r.added);
      }
      next.set(a.name, p);
    }
    const accountsRemoved = [...this.accounts.keys()].filter((n) => !next.has(n));
    for (const name of accountsRemoved) {
      for (const t of this.accounts.get(name)!.snapshot().tasks) removed.push(label(name, t.id));
      this.pending.delete(name);
    }
    this.accounts = next;
    this.observer.accountsChanged(settings.accounts);
    this.publish();
    if (this.ticker && !this.running && this.pending.size > 0) void this.startCycle('added');
    return { added, removed, accountsAdded, accountsRemoved };
  }

  /** Runs the first cycle now and then one per tick. */
  start(): void {
    if (!this.settings) throw new Error('configure() must come before start()');
    if (this.ticker || this.stopped) return;
    this.ticker = this.tickerFactory(this.settings.schedule, () => this.onTick());
    this.pending.clear(); // the first cycle covers them
    void this.startCycle('schedule');
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

  /** Runs one full cycle now, for tests and tools; waits for a running one first. */
  async runOnce(): Promise<CycleStats | undefined> {
    while (this.running) await this.running;
    this.pending.clear();
    return this.startCycle('schedule');
  }

  private queue(account: string, ids: readonly string[]): void {
    if (ids.length === 0) return;
    let set = this.pending.get(account);
    if (!set) this.pending.set(account, (set = new Set()));
    for (const id of ids) set.add(id);
  }

  private onTick(): void {
    if (this.running) {
      this.observer.tickSkipped();
      this.logger.warn('poll cycle still running at the next tick; tick skipped', { schedule: this.settings?.schedule });
      return;
    }
    void this.startCycle('schedule');
  }

  private startCycle(kind: CycleStats['kind']): Promise<CycleStats | undefined> {
    const p = this.cycle(kind);
    const done = p.then(
      () => undefined,
      () => undefined,
    );
    this.running = done;
    void done.then(() => {
      if (this.running === done) this.running = undefined;
      if (this.pending.size > 0 && !this.stopped && this.ticker) void this.startCycle('added');
    });
    return p.catch((err: unknown) => {
      // A bug, not an API failure: report it and keep the exporter serving.
      this.logger.error('poll cycle crashed', { err: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      return undefined;
    });
  }

  private async cycle(kind: CycleStats['kind']): Promise<CycleStats> {
    const startedAt = this.now();
    const work: { account: AccountPoller; ids: string[] }[] = [];
    if (kind === 'schedule') {
      this.pending.clear();
      for (const a of this.accounts.values()) work.push({ account: a, ids: a.due(startedAt) });
    } else {
      for (const [name, ids] of this.pending) {
        const a = this.accounts.get(name);
        if (a) work.push({ account: a, ids: [...ids] });
      }
      this.pending.clear();
    }
    const deadline = this.ticker ? this.ticker.nextTickAt() : startedAt + 3_600_000;
    // Every account at once: one account's failures or throttling never wait on another's.
    const parts = await Promise.all(work.map((w) => w.account.poll(kind, w.ids, deadline, this.abort.signal)));
    const stats = combineStats(kind, startedAt, this.now(), parts);
    if (kind === 'schedule') this.cyclesDone++;
    this.observer.cycleFinished(stats);
    this.logger.debug('poll cycle finished', { kind, result: stats.result, tasks: stats.tasksPolled, failed: stats.tasksFailed, api_calls: stats.apiCalls, duration_ms: Math.round(stats.durationMs) });
    this.publish();
    return stats;
  }

  private publish(): void {
    const accounts = [...this.accounts.values()].map((a) => a.snapshot());
    this.snap = Object.freeze({ generation: this.snap.generation + 1, createdAt: this.now(), multiAccount: this.settings?.multiAccount ?? false, accounts: Object.freeze(accounts) });
    for (const l of this.listeners) l(this.snap);
  }
}
