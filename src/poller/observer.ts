/**
 * What the poller reports as it works. The metrics module implements it with
 * prom-client; the poller itself knows nothing of metrics libraries.
 */
export type CycleResult = 'success' | 'partial' | 'failure';

export interface CycleStats {
  /**
   * `schedule`: a cycle of the schedule (or the first one, at start) over
   * every task due. `added`: the extra poll of tasks a reload just added,
   * which is not a cycle: it must not overwrite the last cycle's figures.
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

export interface PollObserver {
  apiCall(action: string, code: string, durationSeconds: number): void;
  targetInfoError(reason: string): void;
  cycleFinished(stats: CycleStats): void;
  tickSkipped(): void;
  rateLimitChanged(qps: number): void;
}

export const nullObserver: PollObserver = {
  apiCall() {},
  targetInfoError() {},
  cycleFinished() {},
  tickSkipped() {},
  rateLimitChanged() {},
};
