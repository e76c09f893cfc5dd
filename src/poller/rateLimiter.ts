/**
 * A token bucket shared by every API call, with an adaptive rate: halved
 * when the service throttles, climbing back towards the configured rate with
 * each success (AIMD, as TCP does).
 */
export interface RateLimiterOptions {
  qps: number;
  burst: number;
  /** The floor the adaptive rate never goes under. */
  minQps?: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class RateLimiter {
  private maxQps: number;
  private rate: number;
  private burst: number;
  private tokens: number;
  private last: number;
  private readonly minQps: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private listener: ((qps: number) => void) | undefined;

  constructor(opts: RateLimiterOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? abortableSleep;
    this.minQps = opts.minQps ?? Math.min(0.2, opts.qps);
    this.maxQps = opts.qps;
    this.rate = opts.qps;
    this.burst = opts.burst;
    this.tokens = opts.burst;
    this.last = this.now();
  }

  get currentQps(): number {
    return this.rate;
  }

  onRateChange(listener: (qps: number) => void): void {
    this.listener = listener;
  }

  /** A reload changes the budget without losing the bucket's place. */
  reconfigure(qps: number, burst: number): void {
    this.refill();
    const slowedDown = this.rate < this.maxQps;
    this.maxQps = qps;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
    this.setRate(slowedDown ? Math.min(this.rate, qps) : qps);
  }

  /** Waits for a token. Waiters are served in arrival order: each reserves its slot before sleeping. */
  async acquire(signal?: AbortSignal): Promise<void> {
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.rate) * 1000;
    await this.sleep(waitMs, signal);
  }

  onThrottled(): void {
    this.setRate(Math.max(this.minQps, this.rate / 2));
  }

  onSuccess(): void {
    if (this.rate < this.maxQps) this.setRate(Math.min(this.maxQps, this.rate + this.maxQps / 20));
  }

  private setRate(qps: number): void {
    this.refill();
    if (qps === this.rate) return;
    this.rate = qps;
    this.listener?.(qps);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
}

export class AbortedError extends Error {
  override readonly name = 'AbortError';
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new AbortedError('aborted'));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
