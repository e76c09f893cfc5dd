import { describe, expect, it } from 'vitest';
import { normalizeStatus, parseProgressBody, parseTargetInfo } from '../../src/sas/normalize.js';

describe('normalizeStatus', () => {
  it.each([
    ['init', 'init'],
    ['INIT', 'init'],
    ['Processing', 'processing'],
    ['processing', 'processing'],
    ['Success', 'success'],
    ['SUCCESS', 'success'],
    ['Failed', 'failed'],
    [' failed ', 'failed'],
    ['Paused', 'unknown'],
    ['', 'unknown'],
  ])('%j -> %s', (raw, want) => expect(normalizeStatus(raw)).toBe(want));
});

const host = { type: 'uuid', name: 'host001', target: '503201a7-14c6-4280-801b-1169ed42****' };

describe('parseTargetInfo', () => {
  it('accepts the documented string form', () => {
    expect(parseTargetInfo(JSON.stringify([host]))).toEqual({ ok: true, targets: [host] });
  });
  it('accepts the plain array of the English sample', () => {
    const group = { type: 'groupId', name: 'web', target: 8812 };
    expect(parseTargetInfo([host, group])).toEqual({ ok: true, targets: [host, { type: 'groupId', name: 'web', target: '8812' }] });
  });
  it('keeps one target per (type, target): duplicates would be identical series and a doubled count', () => {
    const group = { type: 'groupId', name: 'web', target: '8812' };
    const renamed = { ...host, name: 'other name' };
    expect(parseTargetInfo([host, group, host, renamed, { ...group, target: 8812 }])).toEqual({ ok: true, targets: [host, group] });
  });
  it('tolerates a missing name', () => {
    expect(parseTargetInfo([{ type: 'uuid', target: 'u1' }])).toEqual({ ok: true, targets: [{ type: 'uuid', target: 'u1', name: '' }] });
  });
  it.each([
    [undefined, 'missing'],
    [null, 'missing'],
    ['', 'empty'],
    ['[]', 'empty'],
    [[], 'empty'],
    ['[{"type":"uuid"', 'malformed'],
    ['{"type":"uuid"}', 'malformed'],
    [42, 'malformed'],
    [[null], 'malformed'],
    [[{ name: 'x', target: 'y' }], 'malformed'],
    [[{ type: 'uuid', name: 'x' }], 'malformed'],
  ])('%j is %s', (v, problem) => {
    const r = parseTargetInfo(v);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toBe(problem);
  });
});

describe('parseProgressBody', () => {
  it('maps a full answer', () => {
    const r = parseProgressBody({ RequestId: 'R1', ScanTaskProgress: 'Processing', TargetInfo: JSON.stringify([host]) });
    expect(r).toEqual({ ok: true, value: { requestId: 'R1', rawStatus: 'Processing', status: 'processing', targets: [host] } });
  });
  it('keeps the status when TargetInfo is malformed', () => {
    const r = parseProgressBody({ RequestId: 'R1', ScanTaskProgress: 'Success', TargetInfo: '[oops' });
    expect(r.ok && r.value.status).toBe('success');
    expect(r.ok && r.value.targets).toEqual([]);
    expect(r.ok && r.value.targetInfoError).toMatch(/^malformed: /);
  });
  it.each([[null], [[]], ['x'], [{}], [{ ScanTaskProgress: 3 }]])('rejects %j', (body) => {
    expect(parseProgressBody(body).ok).toBe(false);
  });
});
