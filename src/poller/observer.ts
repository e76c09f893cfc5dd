/**
 * What the poller reports as it works. The metrics module implements it with
 * prom-client; the poller itself knows nothing of metrics libraries.
 */
export type CycleResult = 'success' | 'partial' | 'failure';

export interface CycleStats {
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
