import { describe, expect, it } from 'vitest';
import { applyResult, initialState, isDue, withSpec } from '../../src/poller/state.js';
import { fail, NO_PERMISSION, ok } from '../fixtures/fakeSource.js';

const host = { type: 'uuid', target: 'u1', name: 'host001' };

describe('task state', () => {
  it('records the first success and the time the status was first seen', () => {
    const s = applyResult(initialState({ id: '1', name: 'n' }), ok('init', [host]), 1000);
    expect(s).toEqual({ id: '1', name: 'n', status: 'init', rawStatus: 'init', targets: [host], statusChangedAt: 1000, lastSuccessAt: 1000, lastPolledAt: 1000, lastPollOk: true });
  });
  it('keeps the status-change time while the status holds', () => {
    let s = applyResult(initialState({ id: '1', name: '' }), ok('Processing'), 1000);
    s = applyResult(s, ok('processing'), 2000);
    expect(s.statusChangedAt).toBe(1000);
    s = applyResult(s, ok('Success'), 3000);
    expect(s.statusChangedAt).toBe(3000);
  });
  it('a failure keeps the last known status, targets and success time', () => {
    const good = applyResult(initialState({ id: '1', name: '' }), ok('Processing', [host]), 1000);
    const bad = applyResult(good, NO_PERMISSION, 2000);
    expect(bad).toMatchObject({ status: 'processing', targets: [host], lastSuccessAt: 1000, lastPolledAt: 2000, lastPollOk: false, lastError: { class: 'api', code: 'NoPermission' } });
    const back = applyResult(bad, ok('Processing', [host]), 3000);
    expect(back.lastError).toBeUndefined();
    expect(back.statusChangedAt).toBe(1000);
  });
  it('an answer that says the same keeps the previous targets and raw status (the same objects); a change replaces them', () => {
    const first = applyResult(initialState({ id: '1', name: '' }), ok('Processing', [host, { ...host, target: 'u2' }]), 1000);
    const again = applyResult(first, ok('Processing', [{ ...host }, { ...host, target: 'u2' }]), 2000);
    expect(again).not.toBe(first);
    expect(again.targets).toBe(first.targets);
    expect(again.rawStatus).toBe(first.rawStatus);
    const renamed = [host, { ...host, target: 'u2', name: 'other' }];
    const changed = applyResult(again, ok('Processing', renamed), 3000);
    expect(changed.targets).toBe(renamed);
    const fewer = applyResult(changed, ok('Processing', [host]), 4000);
    expect(fewer.targets).toEqual([host]);
  });
  it('a task that never succeeded has no status', () => {
    const s = applyResult(initialState({ id: '1', name: '' }), fail('timeout', 'timeout', true), 1);
    expect(s.status).toBeUndefined();
    expect(s.lastPollOk).toBe(false);
  });
  it('a bad TargetInfo keeps the status and drops the targets', () => {
    const good = applyResult(initialState({ id: '1', name: '' }), ok('Processing', [host]), 1000);
    const s = applyResult(good, ok('Success', [], 'malformed: x'), 2000);
    expect(s).toMatchObject({ status: 'success', targets: [], lastPollOk: true });
  });
  it('renames keep history', () => {
    const s = applyResult(initialState({ id: '1', name: 'a' }), ok('Success'), 1000);
    expect(withSpec(s, { id: '1', name: 'b' })).toEqual({ ...s, name: 'b' });
    expect(withSpec(s, { id: '1', name: 'a' })).toBe(s);
  });
  it('terminal tasks are due only after the re-check interval', () => {
    const running = applyResult(initialState({ id: '1', name: '' }), ok('Processing'), 0);
    const done = applyResult(initialState({ id: '1', name: '' }), ok('Failed'), 0);
    expect(isDue(running, 1, 60_000)).toBe(true);
    expect(isDue(done, 59_999, 60_000)).toBe(false);
    expect(isDue(done, 60_000, 60_000)).toBe(true);
    expect(isDue(done, 1, 0)).toBe(true);
  });
});
