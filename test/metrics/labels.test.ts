import { describe, expect, it } from 'vitest';
import { cutLabelValue, LabelLimits, LabelValueBound, LIMIT_SERIES, MAX_LABEL_VALUE_CHARS, MAX_OTHER_CODES, OTHER } from '../../src/metrics/labels.js';
import { renderTaskFamiliesSync } from '../../src/metrics/render.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { TaskState } from '../../src/model/snapshot.js';
import { snapshotOf } from '../fixtures/snapshots.js';

const ACTION = 'DescribeScanTaskProgress';

function counted(): { calls: string[]; on: (label: string, reason: string, n?: number) => void } {
  const calls: string[] = [];
  return { calls, on: (label, reason, n = 1) => calls.push(`${label}:${reason}:${n}`) };
}

describe('LabelValueBound', () => {
  it('keeps known values, keeps the first unknown ones, folds the rest into "other", and counts each fold', () => {
    const c = counted();
    const b = new LabelValueBound('code', { known: ['OK', 'NoPermission'], maxOthers: 2 }, c.on);
    expect(b.apply('OK')).toBe('OK');
    expect(b.apply('NoPermission')).toBe('NoPermission');
    expect(b.apply('A')).toBe('A');
    expect(b.apply('B')).toBe('B');
    expect(b.apply('C')).toBe(OTHER);
    expect(b.apply('A')).toBe('A'); // a kept value stays kept
    expect(b.apply('D', false)).toBe(OTHER); // not counted when asked not to
    expect(c.calls).toEqual(['code:other:1']);
    expect(b.distinctOthers).toBe(2);
  });

  it('cuts long values, counting each cut, and treats the cut value as the value', () => {
    const c = counted();
    const b = new LabelValueBound('target_name', { maxChars: 8 }, c.on);
    expect(b.apply('0123456789abcdef')).toBe('01234567');
    expect(b.apply('short')).toBe('short');
    expect(c.calls).toEqual(['target_name:truncated:1']);
  });

  it('never cuts a surrogate pair in half', () => {
    const s = 'abc\u{1F600}def';
    expect(cutLabelValue(s, 4)).toBe('abc');
    expect(cutLabelValue(s, 5)).toBe('abc\u{1F600}');
    expect(cutLabelValue('x'.repeat(MAX_LABEL_VALUE_CHARS + 10))).toHaveLength(MAX_LABEL_VALUE_CHARS);
  });
});

describe('API call codes in aliyun_sas_api_requests_total', () => {
  it('a new code on every call grows the family only up to the bound', async () => {
    const self = new SelfMetrics({ version: 'x', revision: 'y', processMetrics: false });
    const account = self.account('');
    for (let i = 0; i < 5000; i++) account.apiCall(ACTION, `Weird.Code${i}.${'x'.repeat(i % 300)}`, 0.01);
    account.apiCall(ACTION, 'OK', 0.01);
    account.apiCall(ACTION, 'NoPermission', 0.01);
    account.apiCall(ACTION, 'response_too_large', 0.01);
    const text = await self.render();
    const series = text.split('\n').filter((l) => l.startsWith(`aliyun_sas_api_requests_total{action="${ACTION}",`));
    expect(series.length).toBe(MAX_OTHER_CODES + 1 + 3);
    expect(series).toContain(`aliyun_sas_api_requests_total{action="${ACTION}",code="other"} ${5000 - MAX_OTHER_CODES}`);
    expect(series).toContain(`aliyun_sas_api_requests_total{action="${ACTION}",code="OK"} 1`);
    for (const l of series) expect(l.length).toBeLessThan(MAX_LABEL_VALUE_CHARS + 100);
    expect(text).toContain(`aliyun_sas_exporter_label_values_limited_total{label="code",reason="other"} ${5000 - MAX_OTHER_CODES}`);
    expect(text).toMatch(/aliyun_sas_exporter_label_values_limited_total\{label="code",reason="truncated"\} [1-9]/);
  });

  it('the limited counter is initialised to 0 for every label and the reasons that can happen to it', async () => {
    const text = await new SelfMetrics({ version: 'x', revision: 'y', processMetrics: false }).render();
    for (const [label, reason] of LIMIT_SERIES) expect(text).toContain(`aliyun_sas_exporter_label_values_limited_total{label="${label}",reason="${reason}"} 0`);
    expect(text.split('\n').filter((l) => l.startsWith('aliyun_sas_exporter_label_values_limited_total{'))).toHaveLength(LIMIT_SERIES.length);
  });
});

describe('task families with hostile target lists', () => {
  const longName = 'n'.repeat(100_000);
  const task: TaskState = {
    id: '7',
    name: 't',
    status: 'processing',
    rawStatus: 'Processing',
    targets: [
      ...Array.from({ length: 40 }, (_, i) => ({ type: `type${i}`, target: `t${i}`, name: longName })),
      { type: 'uuid', target: 'u'.repeat(5000), name: 'ok' },
    ],
    lastPollOk: false,
    lastError: { class: 'api', code: 'Z'.repeat(1000) },
  };
  const snap = snapshotOf([task]);

  it('bounds lengths and distinct target types; the code matches the counter\'s form', () => {
    const c = counted();
    const labels = new LabelLimits(c.on);
    const text = renderTaskFamiliesSync(snap, { labels }).toString();
    for (const line of text.split('\n')) expect(line.length).toBeLessThan(3 * MAX_LABEL_VALUE_CHARS + 200);
    const types = new Set([...text.matchAll(/aliyun_sas_scan_task_targets\{task_id="7",target_type="([^"]*)"\}/g)].map((m) => m[1]));
    expect(types.size).toBe(2 + 8 + 1); // uuid, groupId, 8 others, other
    expect(text).toContain('aliyun_sas_scan_task_targets{task_id="7",target_type="other"} 32');
    expect(text).toContain(`code="${'Z'.repeat(MAX_LABEL_VALUE_CHARS)}"`);
    expect(c.calls.filter((x) => x.startsWith('target_name:truncated'))).toHaveLength(40);
    expect(c.calls.filter((x) => x === 'target_type:other:1')).toHaveLength(32);
    expect(c.calls).toContain('target:truncated:1');
    // The code is counted where the API call is, not again at each render.
    expect(c.calls.some((x) => x.startsWith('code:'))).toBe(false);
  });

  it('drops target_info series past the per-task limit, counts them, and keeps the real counts', () => {
    const c = counted();
    const many: TaskState = { id: '8', name: '', status: 'success', rawStatus: 'Success', targets: Array.from({ length: 25 }, (_, i) => ({ type: 'uuid', target: `u${i}`, name: '' })) };
    const text = renderTaskFamiliesSync(snapshotOf([many]), { labels: new LabelLimits(c.on, { maxTargetsPerTask: 10 }) }).toString();
    expect(text.split('\n').filter((l) => l.startsWith('aliyun_sas_scan_task_target_info{'))).toHaveLength(10);
    expect(text).toContain('aliyun_sas_scan_task_targets{task_id="8",target_type="uuid"} 25');
    expect(c.calls).toEqual(['target:dropped:15']);
  });
});

describe('latest-scan families with hostile values', () => {
  it('cuts machine names, UUIDs, IPs and task IDs; folds scan types past the bound; the error code takes the counter\'s form', () => {
    const c = counted();
    const labels = new LabelLimits(c.on);
    const long = (ch: string) => ch.repeat(10_000);
    const machines = Array.from({ length: 5 }, (_, i) => ({
      uuid: `${i}-${long('u')}`,
      rootTaskId: long('r'),
      instanceName: long('i'),
      internetIp: long('1'),
      intranetIp: '10.0.0.1',
      status: 'complete' as const,
    }));
    const snapshot = {
      generation: 1,
      createdAt: 0,
      multiAccount: true,
      accounts: Array.from({ length: 12 }, (_, a) => ({
        name: `acct${a}`,
        tasks: [],
        latestScan: {
          lastPollOk: false,
          lastError: { class: 'api' as const, code: long('E') },
          scan: { taskId: long('t'), status: 'complete' as const, scanType: `weird-${a}`, scanPaths: [], machines: {}, riskLevel: 'none' as const },
          machines: { taskId: 'r', rows: a === 0 ? machines : [], dropped: 0, listedAt: 0 },
        },
      })),
    };
    const text = renderTaskFamiliesSync(snapshot as never, { labels }).toString();
    for (const line of text.split('\n')) expect(line.length).toBeLessThan(6 * MAX_LABEL_VALUE_CHARS + 200);
    const types = new Set([...text.matchAll(/scan_type="([^"]*)"/g)].map((m) => m[1]));
    expect(types.size).toBe(8 + 1); // 8 kept, then other
    expect(types.has('other')).toBe(true);
    for (const label of ['uuid', 'instance_name', 'ip', 'scan_task_id']) expect(c.calls.some((x) => x.startsWith(`${label}:truncated`)), label).toBe(true);
    expect(c.calls.filter((x) => x === 'scan_type:other:1')).toHaveLength(4);
    expect(text).toContain(`code="${'E'.repeat(MAX_LABEL_VALUE_CHARS)}"`);
  });
});

