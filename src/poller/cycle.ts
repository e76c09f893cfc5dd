/**
 * One poll cycle: every due task is asked once (plus retries), at most
 * `concurrency` at a time and never faster than the shared rate limiter
 * allows. Retries stop at the cycle's deadline (the next cron tick) and at
 * the cycle's retry budget, so a long list never turns into a retry storm.
 */
import type { Logger } from '../log/logger.js';
import { ACTIONS } from '../model/vocabulary.js';
import type { SasResult, ScanTaskProgressSource } from '../sas/types.js';
import { backoffDelayMs } from './backoff.js';
import type { AccountObserver, CycleStats } from './observer.js';
import { AbortedError, type RateLimiter } from './rateLimiter.js';
import type { RetryConfig } from '../config/schema.js';

export interface CycleDeps {
  readonly source: ScanTaskProgressSource;
  readonly limiter: RateLimiter;
  readonly observer: AccountObserver;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface CycleOptions {
  readonly kind: CycleStats['kind'];
  readonly concurrency: number;
  readonly retry: RetryConfig;
  /** Unix ms after which no retry is started (the next tick). */
  readonly deadline: number;
  readonly signal: AbortSignal;
}

/**
 * Polls `taskIds` and calls `onResult` as each task's final result is known.
 * Returns the stats; tasks left unpolled because of an abort get no result.
 */
export async function runCycle(
  taskIds: readonly string[],
  opts: CycleOptions,
  deps: CycleDeps,
  onResult: (taskId: string, result: SasResult) => void,
): Promise<CycleStats> {
  const startedAt = deps.now();
  let next = 0;
  let apiCalls = 0;
  let failed = 0;
  let polled = 0;
  let retriesLeft = opts.retry.maxRetriesPerCycle;
  let retriesDropped = 0;

  /** One API call, once the rate limiter gave its token. */
  const send = async (taskId: string): Promise<SasResult> => {
    const sentAt = deps.limiter.stamp();
    const t0 = performance.now();
    const result = await deps.source.describeScanTaskProgress(taskId);
    apiCalls++;
    deps.observer.apiCall(ACTIONS.describeScanTaskProgress, result.ok ? 'OK' : result.error.code, (performance.now() - t0) / 1000);
    if (result.ok) deps.limiter.onSuccess();
    else if (result.error.class === 'throttled') deps.limiter.onThrottled(sentAt);
    return result;
  };

  /** Why a retry is not made, or undefined when it may be. */
  const retryRefusal = (delay: number): string | undefined => {
    if (retriesLeft <= 0) return 'cycle retry budget spent';
    // The wait for a token counts too: a retry never starts after the next tick.
    if (deps.now() + delay + deps.limiter.waitEstimateMs() >= opts.deadline) return 'next tick is due';
    return undefined;
  };

  const pollOne = async (taskId: string): Promise<SasResult> => {
    await deps.limiter.acquire(opts.signal);
    let result = await send(taskId);
    for (let attempt = 1; !result.ok && result.error.retriable && attempt < opts.retry.maxAttempts; attempt++) {
      const delay = Math.max(backoffDelayMs(attempt, opts.retry.initialBackoffMs, opts.retry.maxBackoffMs, deps.random), result.error.retryAfterMs ?? 0);
      let refused = retryRefusal(delay);
      if (!refused) {
        retriesLeft--;
        deps.logger.debug('retrying', { task_id: taskId, attempt: attempt + 1, delay_ms: delay, error_class: result.error.class, code: result.error.code });
        await deps.sleep(delay, opts.signal);
        await deps.limiter.acquire(opts.signal);
        // The token came later than estimated (the rate was cut meanwhile): still no call after the tick.
        if (deps.now() >= opts.deadline) refused = 'next tick is due';
      }
      if (refused) {
        retriesDropped++;
        deps.logger.debug('retry not attempted', { task_id: taskId, reason: refused });
        break;
      }
      result = await send(taskId);
    }
    return result;
  };

  const worker = async () => {
    while (next < taskIds.length && !opts.signal.aborted) {
      const taskId = taskIds[next++]!;
      let result: SasResult;
      try {
        result = await pollOne(taskId);
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
  return { kind: opts.kind, result, startedAt, durationMs, tasksPolled: polled, tasksFailed: failed, apiCalls, retriesDropped };
}
