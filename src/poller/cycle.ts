/**
 * One poll cycle of one account: every due task is asked once (plus
 * retries), at most `concurrency` at a time and never faster than the
 * account's rate limiter allows. Retries stop at the cycle's deadline (the
 * next cron tick) and at the cycle's retry budget, so a long list never
 * turns into a retry storm. Every API call of the cycle (task polls and the
 * scan-results calls) goes through `callWithRetries`.
 */
import type { RetryConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { ACTIONS } from '../model/vocabulary.js';
import type { CallResult, SasResult, ScanTaskProgressSource } from '../sas/types.js';
import { backoffDelayMs } from './backoff.js';
import type { AccountObserver, CycleStats } from './observer.js';
import { AbortedError, type RateLimiter } from './rateLimiter.js';

export interface CallDeps {
  readonly limiter: RateLimiter;
  readonly observer: AccountObserver;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface CycleDeps extends CallDeps {
  readonly source: ScanTaskProgressSource;
}

export interface CycleOptions {
  readonly kind: CycleStats['kind'];
  readonly concurrency: number;
  readonly retry: RetryConfig;
  /** Unix ms after which no retry is started (the next tick). */
  readonly deadline: number;
  readonly signal: AbortSignal;
}

/** What the calls of one cycle share: the retry budget and the counts. */
export class CycleBudget {
  retriesLeft: number;
  retriesDropped = 0;
  apiCalls = 0;

  constructor(
    readonly opts: CycleOptions,
    readonly deps: CallDeps,
  ) {
    this.retriesLeft = opts.retry.maxRetriesPerCycle;
  }
}

/**
 * One API call with the cycle's retry rules: a token from the rate limiter
 * first; retries only for retriable failures, with backoff, within the
 * cycle's budget, and never started after the deadline (the wait for a token
 * included). `what` names the call in debug lines.
 */
export async function callWithRetries<T>(budget: CycleBudget, action: string, send: () => Promise<CallResult<T>>, what: Record<string, unknown>): Promise<CallResult<T>> {
  const { opts, deps } = budget;
  const once = async (): Promise<CallResult<T>> => {
    const sentAt = deps.limiter.stamp();
    const t0 = performance.now();
    const result = await send();
    budget.apiCalls++;
    deps.observer.apiCall(action, result.ok ? 'OK' : result.error.code, (performance.now() - t0) / 1000);
    if (result.ok) deps.limiter.onSuccess();
    else if (result.error.class === 'throttled') deps.limiter.onThrottled(sentAt);
    return result;
  };
  /** Why a retry is not made, or undefined when it may be. */
  const refusal = (delay: number): string | undefined => {
    if (budget.retriesLeft <= 0) return 'cycle retry budget spent';
    // The wait for a token counts too: a retry never starts after the next tick.
    if (deps.now() + delay + deps.limiter.waitEstimateMs() >= opts.deadline) return 'next tick is due';
    return undefined;
  };

  await deps.limiter.acquire(opts.signal);
  let result = await once();
  for (let attempt = 1; !result.ok && result.error.retriable && attempt < opts.retry.maxAttempts; attempt++) {
    const delay = Math.max(backoffDelayMs(attempt, opts.retry.initialBackoffMs, opts.retry.maxBackoffMs, deps.random), result.error.retryAfterMs ?? 0);
    let refused = refusal(delay);
    if (!refused) {
      budget.retriesLeft--;
      deps.logger.debug('retrying', { ...what, attempt: attempt + 1, delay_ms: delay, error_class: result.error.class, code: result.error.code });
      await deps.sleep(delay, opts.signal);
      await deps.limiter.acquire(opts.signal);
      // The token came later than estimated (the rate was cut meanwhile): still no call after the tick.
      if (deps.now() >= opts.deadline) refused = 'next tick is due';
    }
    if (refused) {
      budget.retriesDropped++;
      deps.logger.debug('retry not attempted', { ...what, reason: refused });
      break;
    }
    result = await once();
  }
  return result;
}

/**
 * Polls `taskIds` and calls `onResult` as each task's final result is known.
 * Returns the stats; tasks left unpolled because of an abort get no result.
 */
export async function runCycle(
  taskIds: readonly string[],
  budget: CycleBudget,
  source: ScanTaskProgressSource,
  onResult: (taskId: string, result: SasResult) => void,
): Promise<CycleStats> {
  const { opts, deps } = budget;
  const startedAt = deps.now();
  let next = 0;
  let failed = 0;
  let polled = 0;

  const worker = async () => {
    while (next < taskIds.length && !opts.signal.aborted) {
      const taskId = taskIds[next++]!;
      let result: SasResult;
      try {
        // TaskId goes out as the decimal string it is: never through a JS number.
        result = await callWithRetries(budget, ACTIONS.describeScanTaskProgress, () => source.describeScanTaskProgress(taskId), { task_id: taskId });
      } catch (err) {
        if (err instanceof AbortedError) return;
        throw err;
      }
      polled++;
      if (!result.ok) failed++;
      onResult(taskId, result);
    }
  };

  await Promise.all(Array.from({ length: Math.min(opts.concurrency, taskIds.length) }, worker));

  const durationMs = deps.now() - startedAt;
  const result = polled === 0 ? 'success' : failed === 0 ? 'success' : failed === polled ? 'failure' : 'partial';
  return { kind: opts.kind, result, startedAt, durationMs, tasksPolled: polled, tasksFailed: failed, apiCalls: budget.apiCalls, retriesDropped: budget.retriesDropped };
}
