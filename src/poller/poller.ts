/**
 * The schedule over every account: each tick (the first at once) starts a
 * cycle in every account, each with its own client, rate limit and
 * concurrency, all bound by the same deadline (the next tick). An account
 * whose cycle still runs at a tick skips that tick alone: a throttled or
 * hanging account never holds back another.
 *
 * Publishes an immutable snapshot as answers arrive, at most once per
 * `publishIntervalMs` while cycles run, at once when an account's cycle
 * ends, and on every reload: a task that failed early in a long,
 * rate-limited cycle is on /metrics a second later, not at the cycle's end.
 * Each task's state is replaced whole, so a snapshot never holds half a task.
 */
import type { AccountConfig, ExporterConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Snapshot } from '../model/snapshot.js';
import type { ScanTaskProgressSource } from '../sas/types.js';
import { AccountPoller, type AccountSettings } from './account.js';
import { nullObserver, type CycleStats, type PollObserver } from './observer.js';
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
  /** Least time between two snapshots published during cycles (default 1000 ms). */
  publishIntervalMs?: number;
}

/** The default of PollerDeps.publishIntervalMs. */
export const PUBLISH_INTERVAL_MS = 1000;

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
  private started = false;
  private stopped = false;
  /** Set once every account present at the start finished its first cycle; stays set. */
  private wasReady = false;
  private readonly publishIntervalMs: number;
  /** performance.now() of the last publication, and the publication waiting for its turn. */
  private lastPublishAt = -Infinity;
  private publishTimer: NodeJS.Timeout | undefined;

  constructor(deps: PollerDeps) {
    this.publishIntervalMs = deps.publishIntervalMs ?? PUBLISH_INTERVAL_MS;
    this.logger = deps.logger;
    this.observer = deps.observer ?? nullObserver;
    this.tickerFactory = deps.ticker ?? cronTicker;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? abortableSleep;
    this.defaultSource = deps.source;
  }

  /** True once every account has finished its first cycle (and from then on). */
  get ready(): boolean {
    if (!this.wasReady && this.started && [...this.accounts.values()].every((a) => a.ready)) this.wasReady = true;
    return this.wasReady;
  }

  /** True while any account's cycle runs. */
  get busy(): boolean {
    for (const a of this.accounts.values()) if (a.busy) return true;
    return false;
  }

  current(): Snapshot {
    return this.snap;
  }

  onSnapshot(listener: (s: Snapshot) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Applies a (new) configuration atomically: accounts and tasks added are
   * polled at once (after the account's running cycle, if any), removed ones
   * vanish from the next snapshot, unchanged ones keep their state.
   * `sourceOf` gives each account's client (the same object when nothing changed).
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
    const toPoll: [AccountPoller, readonly string[]][] = [];
    for (const a of settings.accounts) {
      let p = this.accounts.get(a.name);
      if (!p) {
        p = this.newAccount(a, sources.get(a.name)!, settings.multiAccount);
        accountsAdded.push(a.name);
        for (const t of a.tasks) added.push(label(a.name, t.id));
        toPoll.push([p, a.tasks.map((t) => t.id)]);
      } else {
        const r = p.configure(a, sources.get(a.name)!);
        for (const id of r.added) added.push(label(a.name, id));
        for (const id of r.removed) removed.push(label(a.name, id));
        toPoll.push([p, r.added]);
      }
      next.set(a.name, p);
    }
    const accountsRemoved = [...this.accounts.keys()].filter((n) => !next.has(n));
    for (const name of accountsRemoved) {
      const gone = this.accounts.get(name)!;
      for (const t of gone.snapshot().tasks) removed.push(label(name, t.id));
      void gone.close(0);
    }
    this.accounts = next;
    this.observer.accountsChanged(settings.accounts);
    this.publish();
    // Before start() the first cycle covers everything anyway.
    if (this.started && !this.stopped) for (const [p, ids] of toPoll) if (ids.length > 0) p.pollSoon(ids);
    return { added, removed, accountsAdded, accountsRemoved };
  }

  /** Runs the first cycle now and then one per tick. */
  start(): void {
    if (!this.settings) throw new Error('configure() must come before start()');
    if (this.started || this.stopped) return;
    this.started = true;
    this.ticker = this.tickerFactory(this.settings.schedule, () => this.onTick());
    this.onTick();
  }

  /** Stops ticking and abandons waits; gives in-flight calls up to `graceMs` to end. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    this.ticker?.stop();
    this.ticker = undefined;
    clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    await Promise.all([...this.accounts.values()].map((a) => a.close(graceMs)));
  }

  /** Runs one scheduled cycle in every account now, for tests and tools; waits for running ones first. */
  async runOnce(): Promise<CycleStats | undefined> {
    this.started = true;
    const startedAt = this.now();
    const parts = await Promise.all([...this.accounts.values()].map((a) => a.runOnce()));
    return combineStats('schedule', startedAt, this.now(), parts.filter((p): p is CycleStats => p !== undefined));
  }

  private newAccount(a: PollerAccount, source: ScanTaskProgressSource, multiAccount: boolean): AccountPoller {
    return new AccountPoller(a, source, {
      logger: multiAccount ? this.logger.child({ account: a.name }) : this.logger,
      observer: this.observer.account(a.name),
      now: this.now,
      random: this.random,
      sleep: this.sleep,
      deadline: () => (this.ticker ? this.ticker.nextTickAt() : this.now() + 3_600_000),
      cycleEnded: () => this.publish(),
      changed: () => this.changed(),
    });
  }

  private onTick(): void {
    for (const a of this.accounts.values()) a.tick();
  }

  /** New results arrived: published now if the last publication is old enough, else at its turn. */
  private changed(): void {
    if (this.publishTimer) return;
    const wait = this.lastPublishAt + this.publishIntervalMs - performance.now();
    if (wait <= 0) {
      this.publish();
      return;
    }
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.publish();
    }, wait);
    this.publishTimer.unref();
  }

  private publish(): void {
    clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    this.lastPublishAt = performance.now();
    const accounts = [...this.accounts.values()].map((a) => a.snapshot());
    this.snap = Object.freeze({ generation: this.snap.generation + 1, createdAt: this.now(), multiAccount: this.settings?.multiAccount ?? false, accounts: Object.freeze(accounts) });
    for (const l of this.listeners) l(this.snap);
  }
}

/** The stats of one cycle over several accounts' stats (what runOnce reports). */
export function combineStats(kind: CycleStats['kind'], startedAt: number, endedAt: number, parts: readonly CycleStats[]): CycleStats {
  let tasksPolled = 0;
  let tasksFailed = 0;
  let apiCalls = 0;
  let retriesDropped = 0;
  for (const p of parts) {
    tasksPolled += p.tasksPolled;
    tasksFailed += p.tasksFailed;
    apiCalls += p.apiCalls;
    retriesDropped += p.retriesDropped;
  }
  const result = tasksPolled === 0 || tasksFailed === 0 ? 'success' : tasksFailed === tasksPolled ? 'failure' : 'partial';
  return { kind, result, startedAt, durationMs: endedAt - startedAt, tasksPolled, tasksFailed, apiCalls, retriesDropped };
}
