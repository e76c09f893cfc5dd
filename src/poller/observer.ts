/**
 * What the poller reports as it works. The metrics module implements it with
 * prom-client; the poller itself knows nothing of metrics libraries.
 */
export type CycleResult = 'success' | 'partial' | 'failure';

export interface CycleStats {
  /**
   * `schedule`: a cycle of the schedule (or the first one, at start) over
   * every task due. `added`: the extra poll of tasks (or accounts) a reload
   * just added, which is not a cycle: it must not overwrite the last cycle's figures.
   */
  readonly kind: 'schedule' | 'added';
  readonly result: CycleResult;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly tasksPolled: number;
  readonly tasksFailed: number;
  /** API calls made, retries included. */
  readonly apiCalls: number;
  /** Retries refused because the cycle's retry budget or deadline was spent. */
  readonly retriesDropped: number;
}

/** What one account's polling reports: its calls, its rate, its share of a cycle. */
export interface AccountObserver {
  apiCall(action: string, code: string, durationSeconds: number): void;
  targetInfoError(reason: string): void;
  rateLimitChanged(qps: number): void;
  /** The account's part of a cycle. */
  cycleFinished(stats: CycleStats): void;
}

export interface PollObserver {
  /** The observer of one account's polling ('' in the single-account form). */
  account(name: string): AccountObserver;
  /** Accounts polled from now on, in configuration order (after a reload too). */
  accountsChanged(accounts: readonly { readonly name: string; readonly endpoint?: string; readonly region?: string | undefined }[]): void;
  /** The cycle as a whole, over every account. */
  cycleFinished(stats: CycleStats): void;
  tickSkipped(): void;
}

export const nullAccountObserver: AccountObserver = {
  apiCall() {},
  targetInfoError() {},
  rateLimitChanged() {},
  cycleFinished() {},
};

export const nullObserver: PollObserver = {
  account: () => nullAccountObserver,
  accountsChanged() {},
  cycleFinished() {},
  tickSkipped() {},
};

/** The stats of one cycle over several accounts' stats. */
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
  const result: CycleResult = tasksPolled === 0 || tasksFailed === 0 ? 'success' : tasksFailed === tasksPolled ? 'failure' : 'partial';
  return { kind, result, startedAt, durationMs: endedAt - startedAt, tasksPolled, tasksFailed, apiCalls, retriesDropped };
}
