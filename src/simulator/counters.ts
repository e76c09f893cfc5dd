/**
 * What the simulator saw, for tests and benchmarks to assert on: how many
 * calls, with which outcome, for which task, and when they arrived (enough
 * to compute the rate a client actually achieved).
 */

export interface TaskCounts {
  total: number;
  byOutcome: Record<string, number>;
}

/** Calls of one action (DescribeScanTaskProgress, ListVirusScanTask, AssumeRole, ...). */
export interface ActionCounts {
  total: number;
  byOutcome: Record<string, number>;
  /** Faults that fired on calls of this action, by kind. */
  faultsFired: Record<string, number>;
}

/** Calls that belong to one account: signed with one of its keys, or with credentials issued for one of its roles. */
export interface AccountCounts {
  total: number;
  byOutcome: Record<string, number>;
  byAction: Record<string, ActionCounts>;
  /** Per canonical task ID (DescribeScanTaskProgress), within this account. */
  byTask: Record<string, TaskCounts>;
  signatureFailures: number;
  throttledByQpsLimit: number;
  faultsFired: Record<string, number>;
}

/** Where a call belongs, as far as the server could tell. */
export interface CallPlace {
  readonly action?: string;
  readonly account?: string;
}

export interface ArrivalSecond {
  /** Whole seconds since the simulator started. */
  readonly second: number;
  readonly count: number;
}

export interface SimulatorCounts {
  /** Clock reading (ms) when the simulator started, and how long ago that was. */
  readonly startedAtMs: number;
  readonly elapsedMs: number;
  /** Clock reading when the counters were last reset (the start, if never). */
  readonly sinceMs: number;
  /** API calls received (the /-/simulator/ endpoints are not counted). */
  readonly total: number;
  /** By outcome: `OK`, an error code (`NoPermission`, `SignatureDoesNotMatch`, ...) or a fault kind (`hang`, `reset`, `html_502`, ...). */
  readonly byOutcome: Record<string, number>;
  /** Per canonical task ID, for calls whose TaskId could be read. */
  readonly byTask: Record<string, TaskCounts>;
  /** Calls refused by authentication (bad signature, unknown key, stale date, reused nonce, ...). */
  readonly signatureFailures: number;
  /** Calls refused by `qps_limit`. */
  readonly throttledByQpsLimit: number;
  /** Every fault that fired, by kind, latency included (it does not decide the outcome). */
  readonly faultsFired: Record<string, number>;
  /**
   * By action: a known action's name, `unknown` for any other. Calls whose
   * action could not be read count under DescribeScanTaskProgress, the
   * action the simulator assumes when the header is missing.
   */
  readonly byAction: Record<string, ActionCounts>;
  /**
   * By account name (`default` in the single-account form). Every account of
   * the scenario is listed, with zeros until it gets a call; calls signed with
   * an unknown key belong to none.
   */
  readonly byAccount: Record<string, AccountCounts>;
  /** Calls per second of arrival, oldest first, for the last `ARRIVAL_SECONDS_KEPT` seconds. */
  readonly arrivalsPerSecond: readonly ArrivalSecond[];
  /** Arrival times (ms since start) of the most recent calls, oldest first, at most `ARRIVAL_TIMES_KEPT`. */
  readonly recentArrivalsMs: readonly number[];
  /** First and last arrival since the reset (ms since start), to compute an average rate. */
  readonly firstArrivalMs?: number;
  readonly lastArrivalMs?: number;
}

export const ARRIVAL_SECONDS_KEPT = 3600;
export const ARRIVAL_TIMES_KEPT = 10_000;
/** A client sending random task IDs must not grow the table forever. */
const MAX_TASKS_TRACKED = 200_000;
const OVERFLOW_TASK = 'other';

interface MutableActionCounts {
  total: number;
  byOutcome: Map<string, number>;
  faultsFired: Map<string, number>;
}

interface MutableTaskCounts {
  total: number;
  byOutcome: Map<string, number>;
}

interface MutableAccountCounts {
  total: number;
  byOutcome: Map<string, number>;
  byAction: Map<string, MutableActionCounts>;
  byTask: Map<string, MutableTaskCounts>;
  signatureFailures: number;
  throttledByQpsLimit: number;
  faultsFired: Map<string, number>;
}

const newAction = (): MutableActionCounts => ({ total: 0, byOutcome: new Map(), faultsFired: new Map() });
const newAccount = (): MutableAccountCounts => ({
  total: 0,
  byOutcome: new Map(),
  byAction: new Map(),
  byTask: new Map(),
  signatureFailures: 0,
  throttledByQpsLimit: 0,
  faultsFired: new Map(),
});

export class Counters {
  private total = 0;
  private byOutcome = new Map<string, number>();
  private byTask = new Map<string, MutableTaskCounts>();
  private byAction = new Map<string, MutableActionCounts>();
  private byAccount = new Map<string, MutableAccountCounts>();
  private signatureFailures = 0;
  private throttledByQpsLimit = 0;
  private faultsFired = new Map<string, number>();
  private perSecond: Array<{ second: number; count: number }> = [];
  private recent: number[] = [];
  private recentStart = 0;
  private firstArrival: number | undefined;
  private lastArrival: number | undefined;
  private sinceMs: number;

  /** `knownActions` are counted under their name, any other action under `unknown`. */
  constructor(
    private readonly startedAtMs: number,
    private readonly now: () => number,
    private readonly accountNames: readonly string[] = [],
    private readonly knownActions: readonly string[] = [],
  ) {
    this.sinceMs = startedAtMs;
    this.seedAccounts();
  }

  private seedAccounts(): void {
    for (const name of this.accountNames) this.byAccount.set(name, newAccount());
  }

  private actionKey(action: string): string {
    return this.knownActions.length === 0 || this.knownActions.includes(action) ? action : 'unknown';
  }

  private account(name: string | undefined): MutableAccountCounts | undefined {
    if (name === undefined) return undefined;
    let a = this.byAccount.get(name);
    if (!a) {
      a = newAccount();
      this.byAccount.set(name, a);
    }
    return a;
  }

  /** Records an arrival; called once per API call, before its outcome is known. */
  arrival(): void {
    const t = this.now() - this.startedAtMs;
    this.total++;
    this.firstArrival ??= t;
    this.lastArrival = t;
    const second = Math.floor(t / 1000);
    const last = this.perSecond[this.perSecond.length - 1];
    if (last && last.second === second) last.count++;
    else this.perSecond.push({ second, count: 1 });
    if (this.perSecond.length > ARRIVAL_SECONDS_KEPT) this.perSecond.splice(0, this.perSecond.length - ARRIVAL_SECONDS_KEPT);
    // A ring would avoid the copy, but compaction every N pushes keeps this O(1) amortised and simple.
    this.recent.push(t);
    if (this.recent.length - this.recentStart > ARRIVAL_TIMES_KEPT) this.recentStart++;
    if (this.recentStart > ARRIVAL_TIMES_KEPT) {
      this.recent = this.recent.slice(this.recentStart);
      this.recentStart = 0;
    }
  }

  outcome(code: string, taskId?: string, place: CallPlace = {}): void {
    bump(this.byOutcome, code);
    const actionKey = this.actionKey(place.action ?? 'DescribeScanTaskProgress');
    const action = getOr(this.byAction, actionKey, newAction);
    action.total++;
    bump(action.byOutcome, code);
    const account = this.account(place.account);
    if (account) {
      account.total++;
      bump(account.byOutcome, code);
      const aa = getOr(account.byAction, actionKey, newAction);
      aa.total++;
      bump(aa.byOutcome, code);
    }
    if (taskId === undefined) return;
    countTask(this.byTask, taskId, code);
    if (account) countTask(account.byTask, taskId, code);
  }

  signatureFailure(account?: string): void {
    this.signatureFailures++;
    const a = this.account(account);
    if (a) a.signatureFailures++;
  }

  throttled(account?: string): void {
    this.throttledByQpsLimit++;
    const a = this.account(account);
    if (a) a.throttledByQpsLimit++;
  }

  faultFired(kind: string, place: CallPlace = {}): void {
    bump(this.faultsFired, kind);
    if (place.action !== undefined) bump(getOr(this.byAction, this.actionKey(place.action), newAction).faultsFired, kind);
    const a = this.account(place.account);
    if (a) {
      bump(a.faultsFired, kind);
      if (place.action !== undefined) bump(getOr(a.byAction, this.actionKey(place.action), newAction).faultsFired, kind);
    }
  }

  reset(): void {
    this.total = 0;
    this.byOutcome.clear();
    this.byTask.clear();
    this.byAction.clear();
    this.byAccount.clear();
    this.seedAccounts();
    this.signatureFailures = 0;
    this.throttledByQpsLimit = 0;
    this.faultsFired.clear();
    this.perSecond = [];
    this.recent = [];
    this.recentStart = 0;
    this.firstArrival = undefined;
    this.lastArrival = undefined;
    this.sinceMs = this.now();
  }

  snapshot(): SimulatorCounts {
    const byAccount: Record<string, AccountCounts> = {};
    for (const [name, a] of this.byAccount) {
      byAccount[name] = {
        total: a.total,
        byOutcome: Object.fromEntries(a.byOutcome),
        byAction: actionsSnapshot(a.byAction),
        byTask: tasksSnapshot(a.byTask),
        signatureFailures: a.signatureFailures,
        throttledByQpsLimit: a.throttledByQpsLimit,
        faultsFired: Object.fromEntries(a.faultsFired),
      };
    }
    return {
      startedAtMs: this.startedAtMs,
      elapsedMs: this.now() - this.startedAtMs,
      sinceMs: this.sinceMs,
      total: this.total,
      byOutcome: Object.fromEntries(this.byOutcome),
      byTask: tasksSnapshot(this.byTask),
      byAction: actionsSnapshot(this.byAction),
      byAccount,
      signatureFailures: this.signatureFailures,
      throttledByQpsLimit: this.throttledByQpsLimit,
      faultsFired: Object.fromEntries(this.faultsFired),
      arrivalsPerSecond: this.perSecond.map((s) => ({ ...s })),
      recentArrivalsMs: this.recent.slice(this.recentStart),
      ...(this.firstArrival !== undefined ? { firstArrivalMs: this.firstArrival } : {}),
      ...(this.lastArrival !== undefined ? { lastArrivalMs: this.lastArrival } : {}),
    };
  }
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

function getOr<V>(m: Map<string, V>, key: string, make: () => V): V {
  let v = m.get(key);
  if (v === undefined) {
    v = make();
    m.set(key, v);
  }
  return v;
}

function countTask(m: Map<string, MutableTaskCounts>, taskId: string, code: string): void {
  let key = taskId;
  if (!m.has(key) && m.size >= MAX_TASKS_TRACKED) key = OVERFLOW_TASK;
  const t = getOr(m, key, () => ({ total: 0, byOutcome: new Map<string, number>() }));
  t.total++;
  bump(t.byOutcome, code);
}

function tasksSnapshot(m: Map<string, MutableTaskCounts>): Record<string, TaskCounts> {
  const out: Record<string, TaskCounts> = {};
  for (const [id, t] of m) out[id] = { total: t.total, byOutcome: Object.fromEntries(t.byOutcome) };
  return out;
}

function actionsSnapshot(m: Map<string, MutableActionCounts>): Record<string, ActionCounts> {
  const out: Record<string, ActionCounts> = {};
  for (const [name, a] of m) out[name] = { total: a.total, byOutcome: Object.fromEntries(a.byOutcome), faultsFired: Object.fromEntries(a.faultsFired) };
  return out;
}

/**
 * Calls per second over the last `windowMs` before the newest arrival,
 * from the recent arrival times (a helper for benchmarks).
 */
export function achievedQps(counts: Pick<SimulatorCounts, 'recentArrivalsMs'>, windowMs = 1000): number {
  const times = counts.recentArrivalsMs;
  if (times.length === 0 || windowMs <= 0) return 0;
  const end = times[times.length - 1]!;
  let n = 0;
  for (let i = times.length - 1; i >= 0 && times[i]! > end - windowMs; i--) n++;
  return (n * 1000) / windowMs;
}
