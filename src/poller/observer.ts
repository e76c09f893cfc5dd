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

/** What the observer is told of each account. */
export interface AccountIdentity {
  readonly name: string;
  readonly endpoint?: string;
  readonly region?: string | undefined;
  readonly latestScan?: { readonly enabled: boolean };
}

/** What one account's polling reports: its calls, its rate, its cycles. */
export interface AccountObserver {
  apiCall(action: string, code: string, durationSeconds: number): void;
  targetInfoError(reason: string): void;
  rateLimitChanged(qps: number): void;
  cycleFinished(stats: CycleStats): void;
  /** A tick came while the account's previous cycle still ran: no cycle for it at this tick. */
  tickSkipped(): void;
}

export interface PollObserver {
  /** The observer of one account's polling ('' in the single-account form). */
  account(name: string): AccountObserver;
  /** Accounts polled from now on, in configuration order (after a reload too); the others' series go. */
  accountsChanged(accounts: readonly AccountIdentity[]): void;
}

export const nullAccountObserver: AccountObserver = {
  apiCall() {},
  targetInfoError() {},
  rateLimitChanged() {},
  cycleFinished() {},
  tickSkipped() {},
};

export const nullObserver: PollObserver = {
  account: () => nullAccountObserver,
  accountsChanged() {},
};
