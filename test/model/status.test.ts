import { describe, expect, it } from 'vitest';
import type { AccountSnapshot, TaskState } from '../../src/model/snapshot.js';
import { ATTENTION_MAX, emptySummary, summariseAccount } from '../../src/model/status.js';

const task = (id: string, over: Partial<TaskState> = {}): TaskState => ({ id, name: `task ${id}`, targets: [], ...over });

describe('summariseAccount', () => {
  it('counts tasks by status, answered, without status, with failing polls', () => {
    const a: AccountSnapshot = {
      name: 'prod',
      tasks: [
        task('1', { status: 'success', lastPollOk: true }),
        task('2', { status: 'processing', lastPollOk: true }),
        task('3', { status: 'failed', lastPollOk: true }),
        task('4', { lastPollOk: false, lastError: { class: 'api', code: 'NoPermission' } }),
        task('5', { status: 'processing', lastPollOk: false, lastError: { class: 'timeout', code: 'timeout' } }),
        task('6'),
      ],
    };
    const s = summariseAccount(a);
    expect(s.tasks).toEqual({ total: 6, answered: 5, byStatus: { init: 0, processing: 2, success: 1, failed: 1, unknown: 0 }, noStatus: 2, pollsFailing: 2 });
    expect(s.attention).toEqual([
      { id: '3', name: 'task 3', status: 'failed' },
      { id: '4', name: 'task 4', pollError: 'NoPermission' },
      { id: '5', name: 'task 5', status: 'processing', pollError: 'timeout' },
    ]);
    expect(s.attentionMore).toBe(0);
    expect(s.latestScan).toBeUndefined();
  });

  it(`names ${ATTENTION_MAX} tasks that need attention at most, and counts the rest`, () => {
    const tasks = Array.from({ length: 10_000 }, (_, i) => task(String(i + 1), { status: i % 2 ? 'failed' : 'success', lastPollOk: true }));
    const s = summariseAccount({ name: '', tasks });
    expect(s.attention.map((t) => t.id)).toEqual(['2', '4', '6', '8', '10']);
    expect(s.attentionMore).toBe(5_000 - ATTENTION_MAX);
    expect(s.tasks.byStatus.failed).toBe(5_000);
  });

  it('the latest scan in a few figures; its poll error while it fails', () => {
    const ok = summariseAccount({
      name: 'prod',
      tasks: [],
      latestScan: {
        lastPollOk: true,
        scan: { status: 'running', progressPercent: 40, scanTimeMs: 1_000, scanPaths: [], machines: { scanned: 40, complete: 16, uncomplete: 24, safe: 14, suspicious: 2 }, riskLevel: 'high' },
      },
    });
    expect(ok.latestScan).toEqual({ lastPollOk: true, status: 'running', riskLevel: 'high', progressPercent: 40, scanTimeMs: 1_000, machinesScanned: 40, machinesComplete: 16, machinesUncomplete: 24, machinesSuspicious: 2 });
    const failing = summariseAccount({ name: 'audit', tasks: [], latestScan: { lastPollOk: false, lastError: { class: 'api', code: 'NoPermission' } } });
    expect(failing.latestScan).toEqual({ lastPollOk: false, pollError: 'NoPermission' });
    expect(summariseAccount({ name: 'x', tasks: [], latestScan: {} }).latestScan).toEqual({});
  });

  it('an account no snapshot holds yet: every task without an answer', () => {
    expect(emptySummary(3, true)).toEqual({ tasks: { total: 3, answered: 0, byStatus: { init: 0, processing: 0, success: 0, failed: 0, unknown: 0 }, noStatus: 3, pollsFailing: 0 }, attention: [], attentionMore: 0, latestScan: {} });
    expect(emptySummary(0, false).latestScan).toBeUndefined();
  });
});
