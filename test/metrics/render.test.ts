import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ExpositionCache } from '../../src/metrics/cache.js';
import { negotiate, textToOpenMetrics } from '../../src/metrics/exposition.js';
import { renderTaskFamilies, renderTaskFamiliesSync } from '../../src/metrics/render.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { Snapshot, TaskState } from '../../src/model/snapshot.js';
import { accountsSnapshot, snapshotOf } from '../fixtures/snapshots.js';

const tasks: TaskState[] = [
  {
    id: '9007199254740993',
    name: 'weekly "full" scan',
    status: 'failed',
    rawStatus: 'Failed',
    targets: [
      { type: 'uuid', target: '503201a7-14c6-4280-801b-1169ed42a001', name: 'host001' },
      { type: 'groupId', target: '8812', name: 'web\\servers' },
    ],
    statusChangedAt: 1_700_000_000_500,
    lastSuccessAt: 1_700_000_030_000,
    lastPolledAt: 1_700_000_060_000,
    lastPollOk: false,
    lastError: { class: 'api', code: 'ServerError' },
  },
  { id: '5', name: '', targets: [] },
];
const snapshot: Snapshot = snapshotOf(tasks, 3);

const EXPECTED = `# HELP aliyun_sas_scan_task_info Configured scan task, with its display name from the configuration. Always 1.
# TYPE aliyun_sas_scan_task_info gauge
aliyun_sas_scan_task_info{task_id="9007199254740993",task_name="weekly \\"full\\" scan"} 1
aliyun_sas_scan_task_info{task_id="5",task_name=""} 1
# HELP aliyun_sas_scan_task_status Status of the virus scan task (stateset): 1 for the current status, 0 for the others. Absent until the first successful poll.
# TYPE aliyun_sas_scan_task_status gauge
aliyun_sas_scan_task_status{task_id="9007199254740993",status="init"} 0
aliyun_sas_scan_task_status{task_id="9007199254740993",status="processing"} 0
aliyun_sas_scan_task_status{task_id="9007199254740993",status="success"} 0
aliyun_sas_scan_task_status{task_id="9007199254740993",status="failed"} 1
aliyun_sas_scan_task_status{task_id="9007199254740993",status="unknown"} 0
# HELP aliyun_sas_scan_task_target_info A server (target_type="uuid") or server group (target_type="groupId") the scan task runs on. Always 1.
# TYPE aliyun_sas_scan_task_target_info gauge
aliyun_sas_scan_task_target_info{task_id="9007199254740993",target_type="uuid",target="503201a7-14c6-4280-801b-1169ed42a001",target_name="host001"} 1
aliyun_sas_scan_task_target_info{task_id="9007199254740993",target_type="groupId",target="8812",target_name="web\\\\servers"} 1
# HELP aliyun_sas_scan_task_targets Number of targets of the scan task by type.
# TYPE aliyun_sas_scan_task_targets gauge
aliyun_sas_scan_task_targets{task_id="9007199254740993",target_type="uuid"} 1
aliyun_sas_scan_task_targets{task_id="9007199254740993",target_type="groupId"} 1
# HELP aliyun_sas_scan_task_poll_success Whether the last poll of the scan task succeeded (1) or failed (0).
# TYPE aliyun_sas_scan_task_poll_success gauge
aliyun_sas_scan_task_poll_success{task_id="9007199254740993"} 0
# HELP aliyun_sas_scan_task_poll_error_info Why the last poll of the scan task failed: error class and API error code. Present only while it fails.
# TYPE aliyun_sas_scan_task_poll_error_info gauge
aliyun_sas_scan_task_poll_error_info{task_id="9007199254740993",class="api",code="ServerError"} 1
# HELP aliyun_sas_scan_task_last_success_timestamp_seconds Unix time of the last successful poll of the scan task.
# TYPE aliyun_sas_scan_task_last_success_timestamp_seconds gauge
aliyun_sas_scan_task_last_success_timestamp_seconds{task_id="9007199254740993"} 1700000030
# HELP aliyun_sas_scan_task_status_change_timestamp_seconds Unix time at which this exporter first saw the current status of the scan task.
# TYPE aliyun_sas_scan_task_status_change_timestamp_seconds gauge
aliyun_sas_scan_task_status_change_timestamp_seconds{task_id="9007199254740993"} 1700000000.5
`;

describe('task families', () => {
  it('render to the exact exposition', () => {
    expect(renderTaskFamiliesSync(snapshot).toString()).toBe(EXPECTED);
  });
  it('render the same bytes when sliced and yielding', async () => {
    expect((await renderTaskFamilies(snapshot, { yieldEvery: 1 })).toString()).toBe(EXPECTED);
  });
  it('render nothing for an empty snapshot', () => {
    expect(renderTaskFamiliesSync(snapshotOf([])).length).toBe(0);
  });
});

describe('negotiate', () => {
  it('picks OpenMetrics only when preferred', () => {
    const prom = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    expect(negotiate(prom, 'gzip')).toEqual({ openMetrics: true, gzip: true });
    expect(negotiate('text/plain;version=0.0.4', undefined)).toEqual({ openMetrics: false, gzip: false });
    expect(negotiate(undefined, 'gzip;q=0, identity')).toEqual({ openMetrics: false, gzip: false });
    expect(negotiate('application/openmetrics-text;q=0', 'deflate, gzip')).toEqual({ openMetrics: false, gzip: true });
  });
});

describe('textToOpenMetrics', () => {
  it('renames counter families and keeps samples', () => {
    const text = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n\n# HELP g_total G.\n# TYPE g_total gauge\ng_total 1\n';
    expect(textToOpenMetrics(text)).toBe('# HELP a A.\n# TYPE a counter\na_total{x="1"} 2\n# HELP g_total G.\n# TYPE g_total gauge\ng_total 1\n');
  });
});

describe('ExpositionCache', () => {
  const self = new SelfMetrics({ version: '1.2.3', revision: 'abc', processMetrics: false });
  const cache = new ExpositionCache(() => self.render());

  it('serves self-metrics followed by the cached task families, plain and gzip', async () => {
    await cache.update(snapshot);
    const plain = await cache.expose({ openMetrics: false, gzip: false });
    const body = Buffer.concat(plain.chunks).toString();
    expect(plain.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(body).toContain('aliyun_sas_exporter_build_info{version="1.2.3",revision="abc",nodejs_version="' + process.version + '"} 1');
    expect(body.endsWith(EXPECTED)).toBe(true);
    expect(plain.length).toBe(Buffer.byteLength(body));

    const gz = await cache.expose({ openMetrics: false, gzip: true });
    expect(gz.contentEncoding).toBe('gzip');
    // Concatenated gzip members decode as one stream.
    expect(gunzipSync(Buffer.concat(gz.chunks)).toString()).toBe(body);
  });

  it('serves OpenMetrics ending in # EOF, counters named without _total', async () => {
    await cache.update(snapshot);
    const om = await cache.expose({ openMetrics: true, gzip: true });
    const body = gunzipSync(Buffer.concat(om.chunks)).toString();
    expect(om.contentType).toMatch(/^application\/openmetrics-text; version=1.0.0/);
    expect(body).toContain('# TYPE aliyun_sas_api_requests counter\n');
    expect(body.endsWith('# EOF\n')).toBe(true);
    expect(body.match(/# EOF/g)).toHaveLength(1);
  });

  it('renders only the newest of a burst of snapshots', async () => {
    const c = new ExpositionCache(() => self.render());
    const rendered: number[] = [];
    c.onRendered((g) => rendered.push(g));
    const a = c.update({ ...snapshot, generation: 10 });
    c.update({ ...snapshot, generation: 11 });
    c.update({ ...snapshot, generation: 12 });
    await a;
    expect(rendered).toEqual([10, 12]);
    expect(c.generation).toBe(12);
  });
});

describe('the multi-account form', () => {
  it('puts account before task_id on every task series: the same task ID in two accounts is two tasks', () => {
    const t: TaskState = { id: '5', name: 'n', status: 'failed', rawStatus: 'Failed', targets: [], lastPollOk: true };
    const text = renderTaskFamiliesSync(accountsSnapshot({ prod: [t], staging: [{ ...t, status: 'success' }] })).toString();
    expect(text).toContain('aliyun_sas_scan_task_info{account="prod",task_id="5",task_name="n"} 1');
    expect(text).toContain('aliyun_sas_scan_task_info{account="staging",task_id="5",task_name="n"} 1');
    expect(text).toContain('aliyun_sas_scan_task_status{account="prod",task_id="5",status="failed"} 1');
    expect(text).toContain('aliyun_sas_scan_task_status{account="staging",task_id="5",status="success"} 1');
    // Families stay contiguous: one HELP per family.
    expect(text.match(/# HELP aliyun_sas_scan_task_info /g)).toHaveLength(1);
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^\w+\{account="(prod|staging)",task_id="5"/);
  });
});
