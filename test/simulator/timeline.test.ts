import { describe, expect, it } from 'vitest';
import { settlesAtMs, statusAt, type TimelineStep } from '../../src/simulator/index.js';

const task = (timeline: TimelineStep[]) => ({ timeline });

describe('statusAt', () => {
  const t = task([
    { status: 'init', forMs: 10_000 },
    { status: 'Processing', forMs: 60_000 },
    { status: 'Success' },
  ]);

  it('walks the steps, each for its duration, boundaries belonging to the next step', () => {
    expect(statusAt(t, 0)).toBe('init');
    expect(statusAt(t, 9_999)).toBe('init');
    expect(statusAt(t, 10_000)).toBe('Processing');
    expect(statusAt(t, 69_999)).toBe('Processing');
    expect(statusAt(t, 70_000)).toBe('Success');
  });

  it('holds the last step forever, whatever its own duration', () => {
    expect(statusAt(t, 10 * 365 * 86_400_000)).toBe('Success');
    expect(statusAt(task([{ status: 'init', forMs: 1 }, { status: 'Failed', forMs: 5 }]), 1_000)).toBe('Failed');
  });

  it('before the start (a clock that went back) answers the first step', () => {
    expect(statusAt(t, -5_000)).toBe('init');
  });

  it('a single step never changes; zero-length steps are skipped', () => {
    expect(statusAt(task([{ status: 'Processing' }]), 123_456)).toBe('Processing');
    expect(statusAt(task([{ status: 'init', forMs: 0 }, { status: 'Success' }]), 0)).toBe('Success');
  });

  it('settlesAtMs is when the last step begins', () => {
    expect(settlesAtMs(t)).toBe(70_000);
    expect(settlesAtMs(task([{ status: 'Success' }]))).toBe(0);
  });

  it('refuses an empty timeline', () => {
    expect(() => statusAt(task([]), 0)).toThrow();
  });
});
