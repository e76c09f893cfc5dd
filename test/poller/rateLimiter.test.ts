import { describe, expect, it } from 'vitest';
import { AbortedError, RateLimiter } from '../../src/poller/rateLimiter.js';

/** A clock moved by hand and sleeps that end only when the test says so. */
function manualClock() {
  let t = 0;
  const sleeps: { ms: number; wake: () => void; signal?: AbortSignal }[] = [];
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        sleeps.push({ ms, wake: resolve, ...(signal ? { signal } : {}) });
        signal?.addEventListener('abort', () => reject(new AbortedError('aborted')), { once: true });
      }),
    sleeps,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('RateLimiter under a stalled event loop', () => {
  it('releases at most `burst` waiters after a late wake-up, never the whole backlog', async () => {
    const c = manualClock();
    const rl = new RateLimiter({ qps: 10, burst: 2, now: c.now, sleep: c.sleep });
    let released = 0;
    for (let i = 0; i < 10; i++) void rl.acquire().then(() => released++);
    await tick();
    expect(released).toBe(2); // the burst
    expect(c.sleeps).toHaveLength(1);
    expect(Math.round(c.sleeps[0]!.ms)).toBe(100);
    // The wake-up comes a whole second late: 8 calls were due meanwhile.
    c.advance(1000);
    c.sleeps[0]!.wake();
    await tick();
    expect(released).toBe(4); // burst again, not 8
    expect(Math.round(c.sleeps[1]!.ms)).toBe(100);
    c.advance(100);
    c.sleeps[1]!.wake();
    await tick();
    expect(released).toBe(5);
  });

  it('serves waiters in arrival order', async () => {
    const c = manualClock();
    const rl = new RateLimiter({ qps: 10, burst: 1, now: c.now, sleep: c.sleep });
    const order: number[] = [];
    for (let i = 0; i < 4; i++) void rl.acquire().then(() => order.push(i));
    for (let k = 0; k < 3; k++) {
      await tick();
      c.advance(100);
      c.sleeps[k]!.wake();
    }
    await tick();
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('rejects waiters on abort and cancels its wake-up', async () => {
    const c = manualClock();
    const rl = new RateLimiter({ qps: 1, burst: 1, now: c.now, sleep: c.sleep });
    const ac = new AbortController();
    await rl.acquire(ac.signal);
    const waiting = [rl.acquire(ac.signal), rl.acquire(ac.signal)];
    await tick();
    expect(c.sleeps).toHaveLength(1);
    ac.abort();
    for (const w of waiting) await expect(w).rejects.toBeInstanceOf(AbortedError);
    expect(c.sleeps[0]!.signal?.aborted).toBe(true);
    await expect(rl.acquire(ac.signal)).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('RateLimiter budget and throttling episodes', () => {
  it('after a reload to a lower budget, a throttle never lifts the rate above it', () => {
    const c = manualClock();
    const rl = new RateLimiter({ qps: 5, burst: 5, now: c.now, sleep: c.sleep });
    rl.reconfigure(0.1, 1);
    expect(rl.currentQps).toBe(0.1);
    rl.onThrottled();
    expect(rl.currentQps).toBeLessThanOrEqual(0.1);
    for (let i = 0; i < 100; i++) rl.onSuccess();
    expect(rl.currentQps).toBe(0.1);
  });

  it('cuts once per throttling episode: throttles of calls sent before the cut change nothing', () => {
    const c = manualClock();
    const rl = new RateLimiter({ qps: 16, burst: 16, now: c.now, sleep: c.sleep });
    // Four calls in flight at once, all throttled.
    const sent = [rl.stamp(), rl.stamp(), rl.stamp(), rl.stamp()];
    c.advance(50);
    for (const at of sent) rl.onThrottled(at);
    expect(rl.currentQps).toBe(8); // halved once, not 16x
    // A call sent after the cut and throttled again is a new signal.
    const later = rl.stamp();
    c.advance(50);
    rl.onThrottled(later);
    expect(rl.currentQps).toBe(4);
  });

  it('estimates the wait for a token from the queue and the current rate', () => {
    const c = manualClock();
    const rl = new RateLimiter({ qps: 2, burst: 1, now: c.now, sleep: c.sleep });
    expect(rl.waitEstimateMs()).toBe(0);
    void rl.acquire();
    expect(rl.waitEstimateMs()).toBe(500);
    void rl.acquire(); // waits
    expect(rl.waitEstimateMs()).toBe(1000);
  });
});
