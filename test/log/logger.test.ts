import { describe, expect, it } from 'vitest';
import { addSecret, createLogger, formatLogfmt } from '../../src/log/logger.js';

describe('logger', () => {
  const capture = (format: 'logfmt' | 'json', level: 'debug' | 'info' = 'info') => {
    const lines: string[] = [];
    const log = createLogger({ format, level, write: (l) => lines.push(l), now: () => new Date(0) });
    return { lines, log };
  };
  it('writes logfmt with quoting', () => {
    expect(formatLogfmt({ a: 'x', b: 'two words', c: 'q"uote', d: 3, e: undefined, f: '' })).toBe('a=x b="two words" c="q\\"uote" d=3 f=""');
  });
  it('filters by level and adds child fields', () => {
    const { lines, log } = capture('logfmt');
    log.debug('hidden');
    log.child({ task_id: '5' }).warn('poll failed', { code: 'NoPermission' });
    expect(lines).toEqual(['ts=1970-01-01T00:00:00.000Z level=warn msg="poll failed" task_id=5 code=NoPermission']);
  });
  it('writes JSON', () => {
    const { lines, log } = capture('json');
    log.info('x', { n: 1 });
    expect(JSON.parse(lines[0]!)).toEqual({ ts: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'x', n: 1 });
  });
  it('never writes a registered secret, whatever the field', () => {
    addSecret('s3cr3t-value-xyz');
    const { lines, log } = capture('json', 'debug');
    log.error('failed with s3cr3t-value-xyz', { err: new Error('bad s3cr3t-value-xyz') });
    expect(lines.join('\n')).not.toContain('s3cr3t-value-xyz');
    expect(lines[0]).toContain('[REDACTED]');
  });
});
