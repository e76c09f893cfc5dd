import { describe, expect, it } from 'vitest';
import { parseTaskId } from '../../src/config/taskId.js';

describe('parseTaskId', () => {
  it('keeps IDs above 2^53 exact', () => {
    expect(parseTaskId(9007199254740993n)).toEqual({ ok: true, id: '9007199254740993' });
    expect(parseTaskId('9007199254740993')).toEqual({ ok: true, id: '9007199254740993' });
    expect(parseTaskId('9223372036854775807')).toEqual({ ok: true, id: '9223372036854775807' });
  });
  it('canonicalises', () => {
    expect(parseTaskId('0042')).toEqual({ ok: true, id: '42' });
  });
  it.each([[0n], ['0'], [-1n], ['-5'], ['9223372036854775808'], ['1e3'], ['0x10'], ['0o20'], ['1.0'], ['+42'], [' 42 '], ['4_2'], [''], [1.5], [null], [true], [[1]]])('rejects %s', (v) => {
    expect(parseTaskId(v).ok).toBe(false);
  });
});
