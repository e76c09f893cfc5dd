import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../src/poller/backoff.js';
import { RateLimiter } from '../../src/poller/rateLimiter.js';

describe('backoffDelayMs', () => {
  it('doubles up to the cap, with jitter in the upper half', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelayMs(a, 100, 1000, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect([1, 2, 3].map((a) => backoffDelayMs(a, 100, 1000, () => 0))).toEqual([50, 100, 200]);
  });
});

describe('RateLimiter', () => {
  function fakeClock() {
    let t = 0;
    const sleeps: number[] = [];
    return {
      now: () => t,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        t += ms;
      },
      sleeps,
      advance: (ms: number) => (t += ms),
    };
  }
  it('lets a burst through, then spaces calls at the rate', async () => {
    const c = fakeClock();
    const rl = new RateLimiter({ qps: 10, burst: 2, now: c.now, sleep: c.sleep });
    for (let i = 0; i < 5; i++) await rl.acquire();
    expect(c.sleeps.map(Math.round)).toEqual([100, 100, 100]);
  });
  it('halves on throttling and climbs back on success', () => {
    const c = fakeClock();
    const rl = new RateLimiter({ qps: 10, burst: 1, now: c.now, sleep: c.sleep });
    const seen: number[] = [];
    rl.onRateChange((q) => seen.push(q));
    rl.onThrottled();
    rl.onThrottled();
    expect(rl.currentQps).toBe(2.5);
    for (let i = 0; i < 30; i++) rl.onSuccess();
    expect(rl.currentQps).toBe(10);
    expect(seen[0]).toBe(5);
  });
  it('never goes under its floor', () => {
    const rl = new RateLimiter({ qps: 1, burst: 1, minQps: 0.5 });
    for (let i = 0; i < 10; i++) rl.onThrottled();
    expect(rl.currentQps).toBe(0.5);
  });
});
