import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/config/duration.js';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['0', 0],
  ])('parses %s', (s, ms) => expect(parseDuration(s)).toBe(ms));
  it.each(['', '10', 's', '1.5s', '-1s', '10 s', 'fast'])('rejects %j', (s) => expect(parseDuration(s)).toBeUndefined());
  it('formats', () => {
    expect([0, 500, 10_000, 120_000, 7_200_000].map(formatDuration)).toEqual(['0s', '500ms', '10s', '2m', '2h']);
  });
});
