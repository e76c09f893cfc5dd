/**
 * Retries and deadlines end to end, counted on both sides: what the
 * simulator received per task (counts().byTask) and what the exporter
 * exported. Fixture: test/fixtures/scenarios/faults.yaml.
 *   2001 always 403 NoPermission     2002 always 500 ServerError
 *   2005 always hangs                2020 500 on the first 2 calls, then OK
 *   2021 throttled on the first 2 calls, then OK       2030 healthy
 */
import { describe, expect, test, type TestContext } from 'vitest';
import { select, statusOf, value, type Sample } from '../support/exposition.js';
import { apiCalls, cyclesFinished, loadFixture, Rig, sum } from '../support/rig.js';
import { EVERY_SECOND, NEVER, exporterYaml } from '../support/yaml.js';

/** Starts a rig that is closed when the test ends (the tests run concurrently: each owns its rig). */
async function start(ctx: TestContext, tasks: string[], opts: { schedule: string; maxAttempts: number; requestTimeout?: string }): Promise<Rig> {
  const rig = await Rig.start({
    scenario: await loadFixture('faults'),
    config: (endpoint) =>
      exporterYaml({ endpoint, tasks, schedule: opts.schedule, requestTimeout: opts.requestTimeout ?? '500ms', retry: { maxAttempts: opts.maxAttempts, initialBackoff: '50ms', maxBackoff: '100ms' } }),
  });
  ctx.onTestFinished(() => rig.close().then(() => undefined));
  return rig;
}

const byTask = (rig: Rig, id: string) => rig.sim.counts().byTask[id] ?? { total: 0, byOutcome: {} };

describe.concurrent('retries (retry.max_attempts: 3), one cycle', () => {
  test('a 500 or a throttling on the first 2 calls is retried: 3 calls each, the task ends OK; a 403 is called once; a lasting 500 three times', async (ctx) => {
    // One cycle only (the first, at start): its deadline is far away, so nothing cuts the retries.
    const rig = await start(ctx, ['2020', '2021', '2001', '2002'], { schedule: NEVER, maxAttempts: 3 });
    const s = await rig.scrape();

    expect(byTask(rig, '2020')).toEqual({ total: 3, byOutcome: { ServerError: 2, OK: 1 } });
    expect(byTask(rig, '2021')).toEqual({ total: 3, byOutcome: { 'Throttling.User': 2, OK: 1 } });
    expect(byTask(rig, '2001')).toEqual({ total: 1, byOutcome: { NoPermission: 1 } });
    expect(byTask(rig, '2002')).toEqual({ total: 3, byOutcome: { ServerError: 3 } });

    for (const id of ['2020', '2021']) {
      expect(statusOf(s, id), id).toBe('success');
      expect(value(s, 'aliyun_sas_scan_task_poll_success', { task_id: id }), id).toBe(1);
      expect(select(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: id }), id).toEqual([]);
    }
    expect(value(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: '2001', class: 'api', code: 'NoPermission' })).toBe(1);
    expect(value(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: '2002', class: 'api', code: 'ServerError' })).toBe(1);
    // Retries count as calls, each under its own code.
    expect(apiCalls(s, 'OK')).toBe(2);
    expect(apiCalls(s, 'ServerError')).toBe(2 + 3);
    expect(apiCalls(s, 'Throttling.User')).toBe(2);
    expect(apiCalls(s, 'NoPermission')).toBe(1);
    expect(value(s, 'aliyun_sas_poll_cycle_api_calls')).toBe(3 + 3 + 1 + 3);
    expect(value(s, 'aliyun_sas_poll_cycle_tasks_polled')).toBe(4);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { result: 'partial' })).toBe(1);
    expect(cyclesFinished(s)).toBe(1);
    expect(rig.sim.counts().total).toBe(10);
  });

  test('max_attempts: 1 means no retry at all', async (ctx) => {
    const rig = await start(ctx, ['2020', '2001'], { schedule: NEVER, maxAttempts: 1 });
    const s = await rig.scrape();
    expect(byTask(rig, '2020')).toEqual({ total: 1, byOutcome: { ServerError: 1 } });
    expect(byTask(rig, '2001')).toEqual({ total: 1, byOutcome: { NoPermission: 1 } });
    expect(value(s, 'aliyun_sas_scan_task_poll_success', { task_id: '2020' })).toBe(0);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { result: 'failure' })).toBe(1);
  });
});

describe.concurrent('over many cycles', () => {
  test('a 403 is called exactly once per cycle, never retried', async (ctx) => {
    const rig = await start(ctx, ['2001'], { schedule: EVERY_SECOND, maxAttempts: 3 });
    const s = await rig.until((x) => cyclesFinished(x) >= 3, 'three cycles');
    const cycles = cyclesFinished(s);
    const received = byTask(rig, '2001').total; // read after the scrape: at most one more cycle began
    expect(received).toBeGreaterThanOrEqual(cycles);
    expect(received).toBeLessThanOrEqual(cycles + 1);
    expect(apiCalls(s, 'NoPermission')).toBeGreaterThanOrEqual(cycles);
    expect(apiCalls(s, 'NoPermission')).toBeLessThanOrEqual(cycles + 1);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { result: 'failure' })).toBe(cycles);
    // One warning for a lasting failure, not one per cycle.
    expect(rig.exporter.output.split('\n').filter((l) => l.includes('msg="poll failed"') && l.includes('task_id=2001'))).toHaveLength(1);
  });

  test('a hang is cut at request_timeout: every cycle finishes in about 0.5 s and the other tasks stay up to date', async (ctx) => {
    // max_attempts 1 so that a cycle lasts one timeout; the SDK's own default would be 3 s.
    const rig = await start(ctx, ['2005', '2030'], { schedule: EVERY_SECOND, maxAttempts: 1, requestTimeout: '500ms' });
    const first = await rig.scrape(); // ready: the first cycle finished despite the hang
    expect(cyclesFinished(first)).toBeGreaterThanOrEqual(1);
    const later = await rig.until((s) => cyclesFinished(s) >= cyclesFinished(first) + 2, 'two more cycles');
    for (const s of [first, later]) {
      const d = value(s, 'aliyun_sas_poll_cycle_duration_seconds')!;
      expect(d).toBeGreaterThanOrEqual(0.45);
      expect(d).toBeLessThan(2); // the SDK default (3 s) or the client backstop (timeout + 2 s) would be longer
      expect(select(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: '2005' }).map((x) => x.labels), rig.exporter.output).toEqual([{ task_id: '2005', class: 'timeout', code: 'timeout' }]);
      expect(statusOf(s, '2030')).toBe('success');
      expect(value(s, 'aliyun_sas_scan_task_poll_success', { task_id: '2030' })).toBe(1);
    }
    const lastOk = (s: Sample[]) => value(s, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: '2030' })!;
    expect(lastOk(later)).toBeGreaterThan(lastOk(first));
    expect(sum(later, 'aliyun_sas_poll_cycles_total', { result: 'partial' })).toBe(cyclesFinished(later));
    expect(apiCalls(later, 'timeout')).toBeGreaterThanOrEqual(3);
    // Each cycle sent a new call to the hanging task: the previous one was given up.
    expect(byTask(rig, '2005').byOutcome.hang ?? 0).toBeGreaterThanOrEqual(cyclesFinished(later));
    // The latency histogram: the cut calls took their 0.5 s, and none came near the SDK's default 3 s.
    const bucket = (le: string) => value(later, 'aliyun_sas_api_request_duration_seconds_bucket', { action: 'DescribeScanTaskProgress', le })!;
    expect(bucket('+Inf') - bucket('0.25')).toBeGreaterThanOrEqual(apiCalls(later, 'timeout'));
    expect(bucket('+Inf') - bucket('2.5')).toBe(0);
  });
});
