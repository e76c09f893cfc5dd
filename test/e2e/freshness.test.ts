/**
 * Freshness at scale, end to end: answers reach /metrics while a long,
 * rate-limited cycle is still running, and readiness does not wait for the
 * whole of that cycle.
 */
import { describe, expect, test } from 'vitest';
import { select, value } from '../support/exposition.js';
import { sleep } from '../support/net.js';
import { withRigs } from '../support/rig.js';
import { exporterYaml, NEVER } from '../support/yaml.js';

const ids = Array.from({ length: 40 }, (_, i) => String(6001 + i));
const scenario = { tasks: ids.map((id) => ({ id, status: 'Failed' })) };
/** 2 calls a second: the first cycle over 40 tasks takes about 20 s. */
const slow = (endpoint: string) => exporterYaml({ endpoint, schedule: NEVER, tasks: ids, qps: 2, extra: 'rate_limit: { qps: 2, burst: 1 }' });

const ready = async (base: string) => {
  const r = await fetch(`${base}/-/ready`);
  return { status: r.status, text: await r.text() };
};

describe('freshness during a long cycle', () => {
  test('answers are on /metrics within about a second, long before the cycle ends', withRigs(async (start) => {
    const rig = await start({ scenario, config: slow, waitFor: 'healthy' });
    const t0 = Date.now();
    // A few seconds into a 20 s cycle: some tasks already show their (final) status.
    const s = await rig.until((x) => select(x, 'aliyun_sas_scan_task_status', { status: 'failed' }).filter((m) => m.value === 1).length >= 4, 'the first answers', 10_000);
    const shown = select(s, 'aliyun_sas_scan_task_status', { status: 'failed' }).filter((m) => m.value === 1).length;
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(shown).toBeLessThan(ids.length); // the cycle is still running
    const answered = value(s, 'aliyun_sas_tasks_answered')!;
    expect(answered).toBeGreaterThanOrEqual(shown);
    expect(answered).toBeLessThan(ids.length);
    expect(value(s, 'aliyun_sas_tasks')).toBe(ids.length);
    // Not ready yet (default timeout 1 min): the answer says how far it got.
    const r = await ready(rig.exporter.base);
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^Not ready: \d+ of 40 tasks and latest scans answered; ready when all are, or 60 s after start/);
  }));

  test('--poll.ready-timeout: ready after the timeout although the first cycle still runs', withRigs(async (start) => {
    const rig = await start({ scenario, config: slow, waitFor: 'healthy', args: ['--poll.ready-timeout=3s'] });
    expect((await ready(rig.exporter.base)).status).toBe(503);
    await rig.exporter.waitUntil('/-/ready', 10_000);
    const s = await rig.scrape();
    expect(value(s, 'aliyun_sas_tasks_answered')).toBeLessThan(ids.length);
  }));

  test('a short list is ready as soon as every task was answered', withRigs(async (start) => {
    const rig = await start({ scenario: { tasks: [{ id: 6101, status: 'Success' }] }, config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['6101'] }), waitFor: 'healthy', args: ['--poll.ready-timeout=10m'] });
    const t0 = Date.now();
    await rig.exporter.waitUntil('/-/ready', 10_000);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await sleep(100);
    const s = await rig.scrape();
    expect(value(s, 'aliyun_sas_tasks_answered')).toBe(1);
    expect(value(s, 'aliyun_sas_scan_task_status', { task_id: '6101', status: 'success' })).toBe(1);
  }));
});
