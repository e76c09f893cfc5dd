import { describe, expect, it } from 'vitest';
import { checkFaultSpec, chooseFault, faultOutcome, makeRules, ruleFires, type FaultRule } from '../../src/simulator/faults.js';
import type { FaultSpec } from '../../src/simulator/index.js';
import { mulberry32 } from '../../src/simulator/prng.js';
import { SlidingWindowLimiter } from '../../src/simulator/qps.js';

const rule = (spec: FaultSpec, random: () => number = () => 0): FaultRule => ({ spec, fired: 0, random });

describe('ruleFires', () => {
  it('with no condition, always', () => {
    const r = rule({ kind: 'server_error' });
    expect([0, 1, 2].map((t) => ruleFires(r, t))).toEqual([true, true, true]);
  });

  it('times: only the first N calls', () => {
    const r = rule({ kind: 'throttling', times: 2 });
    expect([0, 0, 0, 0].map(() => ruleFires(r, 0))).toEqual([true, true, false, false]);
  });

  it('window: from inclusive, to exclusive; calls outside do not use up `times`', () => {
    const r = rule({ kind: 'no_permission', fromMs: 10_000, toMs: 40_000, times: 1 });
    expect(ruleFires(r, 9_999)).toBe(false);
    expect(ruleFires(r, 10_000)).toBe(true);
    expect(ruleFires(r, 20_000)).toBe(false); // times used up
    const w = rule({ kind: 'no_permission', fromMs: 10_000, toMs: 40_000 });
    expect([9_999, 10_000, 39_999, 40_000].map((t) => ruleFires(w, t))).toEqual([false, true, true, false]);
    expect(ruleFires(rule({ kind: 'hang', fromMs: 5 }), 1e12)).toBe(true);
    expect(ruleFires(rule({ kind: 'hang', toMs: 5 }), 0)).toBe(true);
  });

  it('rate: fires when the draw is below it; rate 0 never, rate 1 always', () => {
    const draws = [0.05, 0.5, 0.29, 0.3];
    let i = 0;
    const r = rule({ kind: 'server_error', rate: 0.3 }, () => draws[i++]!);
    expect(draws.map(() => ruleFires(r, 0))).toEqual([true, false, true, false]);
    const never = makeRules([{ kind: 'hang', rate: 0 }], 1, 's')[0]!;
    const always = makeRules([{ kind: 'hang', rate: 1 }], 1, 's')[0]!;
    for (let k = 0; k < 100; k++) {
      expect(ruleFires(never, 0)).toBe(false);
      expect(ruleFires(always, 0)).toBe(true);
    }
  });

  it('times caps a rate', () => {
    const r = makeRules([{ kind: 'server_error', rate: 0.5, times: 3 }], 9, 't')[0]!;
    const fired = Array.from({ length: 200 }, () => ruleFires(r, 0)).filter(Boolean).length;
    expect(fired).toBe(3);
  });
});

describe('seeded rates', () => {
  it('repeat exactly for the same seed and scope, differ for another', () => {
    const run = (seed: number, scope: string) => {
      const r = makeRules([{ kind: 'server_error', rate: 0.3 }], seed, scope)[0]!;
      return Array.from({ length: 64 }, () => ruleFires(r, 0));
    };
    expect(run(42, 'task:1')).toEqual(run(42, 'task:1'));
    expect(run(42, 'task:1')).not.toEqual(run(43, 'task:1'));
    expect(run(42, 'task:1')).not.toEqual(run(42, 'task:2'));
  });

  it('come close to the rate over many calls', () => {
    const r = makeRules([{ kind: 'server_error', rate: 0.1 }], 20181203, 'task:282846')[0]!;
    const n = Array.from({ length: 10_000 }, () => ruleFires(r, 0)).filter(Boolean).length;
    expect(n).toBeGreaterThan(850);
    expect(n).toBeLessThan(1150);
  });

  it('mulberry32 stays in [0, 1)', () => {
    const rnd = mulberry32(0);
    for (let i = 0; i < 1000; i++) {
      const x = rnd();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});

describe('chooseFault', () => {
  it('the task list comes first; the first firing non-latency rule decides', () => {
    const task = [rule({ kind: 'no_permission' })];
    const global = [rule({ kind: 'server_error' })];
    expect(chooseFault([task, global], 0).fault?.kind).toBe('no_permission');
    expect(global[0]!.fired).toBe(0);
    expect(chooseFault([[], global], 0).fault?.kind).toBe('server_error');
  });

  it('latency adds up and lets the next rules be tried', () => {
    const d = chooseFault(
      [
        [rule({ kind: 'latency', latencyMs: 100 }), rule({ kind: 'throttling', times: 1 })],
        [rule({ kind: 'latency', latencyMs: 50 })],
      ],
      0,
    );
    expect(d.latencyMs).toBe(100); // the throttling decided before the global latency was reached
    expect(d.fault?.kind).toBe('throttling');
    const lists = [[rule({ kind: 'latency', latencyMs: 100 })], [rule({ kind: 'latency', latencyMs: 50 })]];
    const d2 = chooseFault(lists, 0);
    expect(d2).toEqual({ latencyMs: 150, fired: [lists[0]![0]!.spec, lists[1]![0]!.spec] });
  });

  it('no rule, no fault', () => {
    expect(chooseFault([[], []], 0)).toEqual({ latencyMs: 0, fired: [] });
  });

  it('a rule that did not get its turn keeps its budget', () => {
    const first = rule({ kind: 'server_error', times: 1 });
    const second = rule({ kind: 'throttling', times: 1 });
    expect(chooseFault([[first, second]], 0).fault?.kind).toBe('server_error');
    expect(chooseFault([[first, second]], 0).fault?.kind).toBe('throttling');
    expect(chooseFault([[first, second]], 0).fault).toBeUndefined();
  });
});

describe('checkFaultSpec and faultOutcome', () => {
  it('catches what the YAML schema would', () => {
    expect(checkFaultSpec({ kind: 'hang' })).toBeUndefined();
    expect(checkFaultSpec({ kind: 'nope' as never })).toMatch(/unknown/);
    expect(checkFaultSpec({ kind: 'hang', rate: 2 })).toMatch(/rate/);
    expect(checkFaultSpec({ kind: 'hang', times: 0 })).toMatch(/times/);
    expect(checkFaultSpec({ kind: 'hang', fromMs: 5, toMs: 5 })).toMatch(/window/);
    expect(checkFaultSpec({ kind: 'api_error' })).toMatch(/code/);
  });

  it('names outcomes with the API code where there is one', () => {
    expect(faultOutcome('no_permission')).toBe('NoPermission');
    expect(faultOutcome('server_error')).toBe('ServerError');
    expect(faultOutcome('throttling')).toBe('Throttling.User');
    expect(faultOutcome('api_error', { kind: 'api_error', code: 'Foo' })).toBe('Foo');
    expect(faultOutcome('html_502')).toBe('html_502');
  });
});

describe('SlidingWindowLimiter', () => {
  it('admits `limit` calls in any one-second window', () => {
    const l = new SlidingWindowLimiter(3);
    expect([0, 100, 200, 300].map((t) => l.tryAcquire(t))).toEqual([true, true, true, false]);
    expect(l.tryAcquire(999)).toBe(false);
    expect(l.tryAcquire(1000)).toBe(true); // the call at 0 left the window
    expect(l.tryAcquire(1050)).toBe(false);
    expect(l.tryAcquire(1100)).toBe(true);
  });
});
