/**
 * The fault matrix end to end: one exporter polls one task per fault kind of
 * the simulator (test/fixtures/scenarios/faults.yaml, tasks 2001..2014, and
 * the healthy 2030). Every fault is first cleared so each task reaches
 * `success` with its one server, then the fixture's own fault is injected
 * with setFaults. Each kind must then show the documented outcome: the
 * exporter keeps serving and keeps the last known state, and says what went
 * wrong (poll_success, poll_error_info, api_requests_total{code}).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FAULT_KINDS, type FaultKind, type FaultSpec, type Scenario } from '../../src/simulator/index.js';
import { select, statusOf, value, type Sample } from '../support/exposition.js';
import { apiCalls, cyclesFinished, loadFixture, Rig, sum } from '../support/rig.js';
import { exporterYaml } from '../support/yaml.js';

/** What each kind must look like on /metrics. `error` absent: the poll itself succeeds. */
interface Expectation {
  /** The code counted in aliyun_sas_api_requests_total. */
  apiCode: string;
  error?: { class: string; code: string };
  /** The exported status after the fault (default: the last known, success). */
  status?: string;
  /** TargetInfo unusable: no target series, counted under this reason. */
  targetInfoError?: 'malformed' | 'missing';
}

const EXPECTED: Record<FaultKind, Expectation> = {
  no_permission: { apiCode: 'NoPermission', error: { class: 'api', code: 'NoPermission' } },
  server_error: { apiCode: 'ServerError', error: { class: 'api', code: 'ServerError' } },
  throttling: { apiCode: 'Throttling.User', error: { class: 'throttled', code: 'Throttling.User' } },
  latency: { apiCode: 'OK' }, // 300 ms, below the 500 ms request_timeout
  hang: { apiCode: 'timeout', error: { class: 'timeout', code: 'timeout' } },
  reset: { apiCode: 'network', error: { class: 'network', code: 'network' } },
  html_502: { apiCode: 'bad_response', error: { class: 'bad_response', code: 'bad_response' } },
  empty_500: { apiCode: 'bad_response', error: { class: 'bad_response', code: 'bad_response' } },
  garbage_200: { apiCode: 'bad_response', error: { class: 'bad_response', code: 'bad_response' } },
  non_object_200: { apiCode: 'bad_response', error: { class: 'bad_response', code: 'bad_response' } },
  malformed_target_info: { apiCode: 'OK', targetInfoError: 'malformed' },
  missing_target_info: { apiCode: 'OK', targetInfoError: 'missing' },
  undocumented_status: { apiCode: 'OK', status: 'unknown' },
  api_error: { apiCode: 'InvalidParameter', error: { class: 'api', code: 'InvalidParameter' } },
};

const CONTROL = '2030';
const HOST = 'fault-host-01';

/** The fixture's always-on task for each kind (a single fault with no window, count or rate). */
function tasksByKind(scenario: Scenario): Map<FaultKind, { id: string; faults: readonly FaultSpec[] }> {
  const m = new Map<FaultKind, { id: string; faults: readonly FaultSpec[] }>();
  for (const t of scenario.tasks) {
    const [f, ...more] = t.faults;
    if (!f || more.length > 0 || f.times !== undefined || f.rate !== undefined || f.fromMs !== undefined || f.toMs !== undefined) continue;
    if (!m.has(f.kind)) m.set(f.kind, { id: t.id, faults: t.faults });
  }
  return m;
}

describe('fault matrix: one task per simulator fault kind, injected after the task succeeded', () => {
  let rig: Rig;
  let byKind: Map<FaultKind, { id: string; faults: readonly FaultSpec[] }>;
  let before: Sample[]; // every task healthy, just before the injection
  let failing: Sample[]; // the first scrape where every fault shows
  let after: Sample[]; // two more cycles later
  const scrapeStatuses: number[] = [];

  beforeAll(async () => {
    const scenario = await loadFixture('faults');
    byKind = tasksByKind(scenario);
    const ids = [...[...byKind.values()].map((t) => t.id), CONTROL];
    rig = await Rig.start({
      scenario,
      // Start healthy: every fault of every task cleared.
      beforeExporter: (sim) => scenario.tasks.forEach((t) => sim.setFaults(t.id, [])),
      config: (endpoint) => exporterYaml({ endpoint, tasks: ids, requestTimeout: '500ms', concurrency: 8, retry: { maxAttempts: 3, initialBackoff: '50ms', maxBackoff: '100ms' } }),
    });
    before = await rig.until((s) => ids.every((id) => statusOf(s, id) === 'success' && value(s, 'aliyun_sas_scan_task_poll_success', { task_id: id }) === 1), 'every task healthy');
    for (const { id, faults } of byKind.values()) rig.sim.setFaults(id, faults);

    const shows = (s: Sample[]) =>
      [...byKind].every(([kind, { id }]) => {
        const e = EXPECTED[kind];
        if (e.error) return value(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: id, ...e.error }) === 1;
        if (e.status) return statusOf(s, id) === e.status;
        if (e.targetInfoError) return select(s, 'aliyun_sas_scan_task_target_info', { task_id: id }).length === 0;
        return true;
      });
    failing = await rig.until(shows, 'every fault visible');
    after = await rig.until((s) => cyclesFinished(s) >= cyclesFinished(failing) + 2, 'two more cycles');
    // Keep scraping for a moment: the exporter must answer every time.
    for (let i = 0; i < 5; i++) scrapeStatuses.push((await fetch(`${rig.exporter.base}/metrics`)).status);
  });

  afterAll(async () => {
    await rig?.close();
  });

  test('the fixture has an always-on task for every fault kind of the simulator', () => {
    expect([...byKind.keys()].sort()).toEqual([...FAULT_KINDS].sort());
  });

  test.each([...FAULT_KINDS])('%s', (kind) => {
    const { id } = byKind.get(kind)!;
    const e = EXPECTED[kind];
    const where = `${kind} (task ${id})`;

    // The simulator really answered with the fault, to the exporter's calls.
    expect(rig.sim.counts().faultsFired[kind] ?? 0, where).toBeGreaterThan(0);
    // Counted under the right code (a code only this kind, or only the bad_response kinds, produce).
    expect(apiCalls(after, e.apiCode), where).toBeGreaterThan(apiCalls(before, e.apiCode));

    const pollSuccess = value(after, 'aliyun_sas_scan_task_poll_success', { task_id: id });
    const errorInfo = select(after, 'aliyun_sas_scan_task_poll_error_info', { task_id: id });
    const statusChanged = (s: Sample[]) => value(s, 'aliyun_sas_scan_task_status_change_timestamp_seconds', { task_id: id });
    const lastOk = (s: Sample[]) => value(s, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: id })!;
    const targets = select(after, 'aliyun_sas_scan_task_target_info', { task_id: id });

    if (e.error) {
      expect(pollSuccess, where).toBe(0);
      expect(errorInfo.map((s) => [s.labels.class, s.labels.code, s.value]), where).toEqual([[e.error.class, e.error.code, 1]]);
      // The last known state stays: status, its change time, targets; last success frozen.
      expect(statusOf(after, id), where).toBe('success');
      expect(statusChanged(after), where).toBe(statusChanged(before));
      expect(targets.map((s) => s.labels.target_name), where).toEqual([HOST]);
      expect(value(after, 'aliyun_sas_scan_task_targets', { task_id: id, target_type: 'uuid' }), where).toBe(1);
      expect(lastOk(after), where).toBe(lastOk(failing));
      expect(lastOk(after), where).toBeGreaterThanOrEqual(lastOk(before));
      return;
    }

    // Not a poll failure.
    expect(pollSuccess, where).toBe(1);
    expect(errorInfo, where).toEqual([]);
    expect(lastOk(after), where).toBeGreaterThan(lastOk(failing));
    expect(statusOf(after, id), where).toBe(e.status ?? 'success');
    if (e.targetInfoError) {
      expect(targets, where).toEqual([]);
      expect(sum(after, 'aliyun_sas_target_info_errors_total', { reason: e.targetInfoError }), where).toBeGreaterThan(
        sum(before, 'aliyun_sas_target_info_errors_total', { reason: e.targetInfoError }),
      );
      expect(statusChanged(after), where).toBe(statusChanged(before));
    } else {
      expect(targets.map((s) => s.labels.target_name), where).toEqual([HOST]);
    }
    if (e.status === 'unknown') {
      expect(statusChanged(after)!, where).toBeGreaterThan(statusChanged(before)!);
      expect(rig.exporter.output, where).toMatch(/undocumented scan status.*Paused|Paused.*undocumented scan status/);
    }
  });

  test('only the two TargetInfo faults were counted as TargetInfo errors, each under its own reason', () => {
    expect(sum(before, 'aliyun_sas_target_info_errors_total')).toBe(0);
    const reasons = select(after, 'aliyun_sas_target_info_errors_total')
      .filter((s) => s.value > 0)
      .map((s) => s.labels.reason)
      .sort();
    expect(reasons).toEqual(['malformed', 'missing']);
  });

  test('the exporter kept serving, kept polling, and kept the healthy control task up to date', async () => {
    expect(rig.exporter.exitCode).toBeNull();
    expect(scrapeStatuses).toEqual([200, 200, 200, 200, 200]);
    expect((await fetch(`${rig.exporter.base}/-/healthy`)).status).toBe(200);
    expect((await fetch(`${rig.exporter.base}/-/ready`)).status).toBe(200);
    // Cycles still finish with faults around (the hang is cut by the timeout), as `partial`.
    expect(sum(after, 'aliyun_sas_poll_cycles_total', { result: 'partial' })).toBeGreaterThanOrEqual(sum(failing, 'aliyun_sas_poll_cycles_total', { result: 'partial' }) + 2);
    expect(value(after, 'aliyun_sas_scan_task_poll_success', { task_id: CONTROL })).toBe(1);
    const controlOk = (s: Sample[]) => value(s, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: CONTROL })!;
    expect(controlOk(after)).toBeGreaterThan(controlOk(failing));
    // Every failing kind is a warning in the log, with its code, and nothing crashed.
    for (const kind of FAULT_KINDS) {
      const e = EXPECTED[kind];
      if (e.error) expect(rig.exporter.output, kind).toMatch(new RegExp(`poll failed.*task_id="?${byKind.get(kind)!.id}"?.*code="?${e.error.code.replace('.', '\\.')}`));
    }
    expect(rig.exporter.output).not.toMatch(/BUG|crashed/);
  });
});
