/**
 * What the simulator saw, for tests and benchmarks to assert on: how many
 * calls, with which outcome, for which task, and when they arrived (enough
 * to compute the rate a client actually achieved).
 */

export interface TaskCounts {
  total: number;
  byOutcome: Record<string, number>;
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

export class Counters {
  private total = 0;
  private byOutcome = new Map<string, number>();
  private byTask = new Map<string, { total: number; byOutcome: Map<string, number> }>();
  private signatureFailures = 0;
  private throttledByQpsLimit = 0;
  private faultsFired = new Map<string, number>();
  private perSecond: Array<{ second: number; count: number }> = [];
  private recent: number[] = [];
  private recentStart = 0;
  private firstArrival: number | undefined;
  private lastArrival: number | undefined;
  private sinceMs: number;

  constructor(
    private readonly startedAtMs: number,
    private readonly now: () => number,
  ) {
    this.sinceMs = startedAtMs;
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

  outcome(code: string, taskId?: string): void {
    bump(this.byOutcome, code);
    if (taskId === undefined) return;
    let key = taskId;
    if (!this.byTask.has(key) && this.byTask.size >= MAX_TASKS_TRACKED) key = OVERFLOW_TASK;
    let t = this.byTask.get(key);
    if (!t) {
      t = { total: 0, byOutcome: new Map() };
      this.byTask.set(key, t);
    }
    t.total++;
    bump(t.byOutcome, code);
  }

  signatureFailure(): void {
    this.signatureFailures++;
  }

  throttled(): void {
    this.throttledByQpsLimit++;
  }

  faultFired(kind: string): void {
    bump(this.faultsFired, kind);
  }

  reset(): void {
    this.total = 0;
    this.byOutcome.clear();
    this.byTask.clear();
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
    const byTask: Record<string, TaskCounts> = {};
    for (const [id, t] of this.byTask) byTask[id] = { total: t.total, byOutcome: Object.fromEntries(t.byOutcome) };
    return {
      startedAtMs: this.startedAtMs,
      elapsedMs: this.now() - this.startedAtMs,
      sinceMs: this.sinceMs,
      total: this.total,
      byOutcome: Object.fromEntries(this.byOutcome),
      byTask,
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
