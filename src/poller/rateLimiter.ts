/**
 * A token bucket shared by every API call, with an adaptive rate: halved
 * when the service throttles, climbing back towards the configured rate with
 * each success (AIMD, as TCP does). The rate stays between a floor and the
 * configured budget, both following a reload. One throttling episode cuts
 * the rate once: throttles answered to calls sent before the last cut say
 * nothing new (TCP halves once per window, not once per lost packet).
 */
export interface RateLimiterOptions {
  qps: number;
  burst: number;
  /** The floor the adaptive rate never goes under (never above the budget). Default min(0.2, qps). */
  minQps?: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Slack for floating-point refills: 0.9999999999 tokens is a token. */
const EPS = 1e-9;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class RateLimiter {
  private maxQps: number;
  private rate: number;
  private burst: number;
  private tokens: number;
  private last: number;
  private readonly floorQps: number | undefined;
  private minQps: number;
  /** `now()` of the last cut: throttles of calls started before it belong to the same episode. */
  private lastCutAt = -Infinity;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private listener: ((qps: number) => void) | undefined;
  /** Callers waiting for a token, oldest first (from `head`). */
  private queue: Waiter[] = [];
  private head = 0;
  /** The one pending wake-up, if any; aborting it cancels it. */
  private timer: AbortController | undefined;

  constructor(opts: RateLimiterOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? abortableSleep;
    this.floorQps = opts.minQps;
    this.minQps = Math.min(opts.minQps ?? 0.2, opts.qps);
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
    this.minQps = Math.min(this.floorQps ?? 0.2, qps);
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
    this.setRate(slowedDown ? Math.min(this.rate, qps) : qps);
  }

  /**
   * Waits for a token; waiters are served in arrival order. The token is
   * taken when the caller is released, not reserved ahead of time: when the
   * process was busy and a wake-up came late, the calls due meanwhile go out
   * at most `burst` at once, so no one-second window carries more than
   * rate + burst calls. (Slots reserved in advance would all fire together
   * after a stall and exceed the service's per-second flow control.)
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError('aborted'));
    if (this.waiting() === 0) {
      this.refill();
      if (this.tokens >= 1 - EPS) {
        this.tokens -= 1;
        return Promise.resolve();
      }
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (signal) {
        w.signal = signal;
        w.onAbort = () => {
          this.remove(w);
          reject(new AbortedError('aborted'));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.schedule();
    });
  }

  /** The time to pass to onThrottled for a call about to be sent. */
  stamp(): number {
    return this.now();
  }

  /**
   * The service throttled a call sent at `sentAt` (from stamp()); calls sent
   * before the last cut were answered under the old rate and change nothing.
   */
  onThrottled(sentAt: number = this.now()): void {
    if (sentAt < this.lastCutAt) return;
    this.lastCutAt = this.now();
    this.setRate(Math.min(this.maxQps, Math.max(this.minQps, this.rate / 2)));
  }

  onSuccess(): void {
    if (this.rate < this.maxQps) this.setRate(Math.min(this.maxQps, this.rate + this.maxQps / 20));
  }

  /** How long a caller arriving now would wait for its token at the current rate (0 when one is free). */
  waitEstimateMs(): number {
    this.refill();
    const ahead = this.waiting() + 1 - this.tokens;
    return ahead <= EPS ? 0 : (ahead / this.rate) * 1000;
  }

  private waiting(): number {
    return this.queue.length - this.head;
  }

  private remove(w: Waiter): void {
    const i = this.queue.indexOf(w, this.head);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.waiting() === 0) this.cancelTimer();
  }

  private cancelTimer(): void {
    this.timer?.abort();
    this.timer = undefined;
  }

  /** Sleeps until the next token is due, unless a wake-up is already pending. */
  private schedule(): void {
    if (this.timer || this.waiting() === 0) return;
    this.refill();
    const waitMs = Math.max(0, ((1 - this.tokens) / this.rate) * 1000);
    const timer = new AbortController();
    this.timer = timer;
    this.sleep(waitMs, timer.signal).then(
      () => {
        if (this.timer !== timer) return; // cancelled or replaced
        this.timer = undefined;
        this.release();
      },
      () => {
        if (this.timer === timer) this.timer = undefined;
      },
    );
  }

  /** Hands out the tokens there are now, oldest waiter first, then sleeps again if anyone is left. */
  private release(): void {
    this.refill();
    while (this.waiting() > 0 && this.tokens >= 1 - EPS) {
      const w = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Waiter;
      this.tokens -= 1;
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.schedule();
  }

  private setRate(qps: number): void {
    this.refill();
    if (qps === this.rate) return;
    this.rate = qps;
    this.listener?.(qps);
    // A pending wake-up was computed at the old rate.
    if (this.timer) {
      this.cancelTimer();
      this.schedule();
    }
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
