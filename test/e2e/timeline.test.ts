/**
 * End to end, the happy path: the built exporter polls the simulator
 * (test/fixtures/scenarios/timeline.yaml) through the real SDK over HTTP and
 * /metrics follows the scans. The simulator's timeline clock is moved by
 * hand (phase A: t=0, B: t=2.5 s, C: t=5 s), so every status is observed
 * for sure however slow the machine, and the exporter's own timestamps
 * still come from real time.
 */
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Scenario } from '../../src/simulator/index.js';
import { parseExposition, select, statusOf, value, type Sample } from '../support/exposition.js';
import { ACTIONS } from '../../src/model/vocabulary.js';
import { loadFixture, ManualClock, Rig, seriesKey, sum } from '../support/rig.js';
import { exporterYaml } from '../support/yaml.js';

const BIG = '9007199254740993';
const BIG_ROUNDED = '9007199254740992'; // what a JS number would have made of it
/** A name that needs escaping in the exposition (quote, backslash) and is not ASCII. */
const NAME_1001 = 'web tier "nightly" scan \\ größe';
const NAME_BIG = 'large task ID';
const TASKS = ['1001', '1002', '1003', '1004', '1005', '1006', '1007', BIG];
const STATUSES = ['init', 'processing', 'success', 'failed', 'unknown'];

const changedAt = (s: Sample[], id: string) => value(s, 'aliyun_sas_scan_task_status_change_timestamp_seconds', { task_id: id });
const lastSuccess = (s: Sample[], id: string) => value(s, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: id });
const all = (s: Sample[], ids: string[], status: string) => ids.every((id) => statusOf(s, id) === status);

describe('timeline: the exporter follows the scans through the real SDK', () => {
  const clock = new ManualClock();
  let scenario: Scenario;
  let rig: Rig;
  let t0: number;
  const phase: Record<'A' | 'B' | 'C', Sample[]> = { A: [], B: [], C: [] };

  beforeAll(async () => {
    scenario = await loadFixture('timeline');
    t0 = Date.now() / 1000;
    rig = await Rig.start({
      scenario,
      now: clock.now,
      config: (endpoint) =>
        exporterYaml({
          endpoint,
          tasks: [{ id: '1001', name: NAME_1001 }, '1002', '1003', '1004', '1005', '1006', '1007', { id: BIG, name: NAME_BIG }],
        }),
    });
    phase.A = await rig.until((s) => all(s, ['1001', '1002', '1003', '1006', BIG], 'init') && all(s, ['1004', '1007'], 'success') && statusOf(s, '1005') === 'failed', 'phase A (t=0)');
    clock.set(2500);
    phase.B = await rig.until((s) => all(s, ['1001', '1002', '1003', BIG], 'processing') && statusOf(s, '1006') === 'success', 'phase B (t=2.5s)');
    clock.set(5000);
    phase.C = await rig.until((s) => all(s, ['1001', BIG], 'success') && statusOf(s, '1002') === 'failed' && lastSuccess(s, '1003')! > lastSuccess(phase.B, '1003')!, 'phase C (t=5s)');
  });

  afterAll(async () => {
    await rig?.close();
  });

  test('statesets: 1001 goes init -> processing -> success, 1002 ends failed; exactly one status is 1 at a time', () => {
    expect(['A', 'B', 'C'].map((p) => statusOf(phase[p as 'A'], '1001'))).toEqual(['init', 'processing', 'success']);
    expect(['A', 'B', 'C'].map((p) => statusOf(phase[p as 'A'], '1002'))).toEqual(['init', 'processing', 'failed']);
    expect(['A', 'B', 'C'].map((p) => statusOf(phase[p as 'A'], '1003'))).toEqual(['init', 'processing', 'processing']);
    expect(['A', 'B', 'C'].map((p) => statusOf(phase[p as 'A'], '1006'))).toEqual(['init', 'success', 'success']);
    expect(statusOf(phase.C, '1004')).toBe('success');
    expect(statusOf(phase.C, '1005')).toBe('failed');
    for (const id of TASKS) {
      const set = select(phase.C, 'aliyun_sas_scan_task_status', { task_id: id });
      expect(set.map((s) => s.labels.status).sort(), id).toEqual([...STATUSES].sort());
      expect(set.filter((s) => s.value === 1), id).toHaveLength(1);
      expect(set.every((s) => s.value === 0 || s.value === 1), id).toBe(true);
      expect(value(phase.C, 'aliyun_sas_scan_task_poll_success', { task_id: id }), id).toBe(1);
    }
    expect(select(phase.C, 'aliyun_sas_scan_task_poll_error_info')).toEqual([]);
  });

  test('target_info series equal the scenario targets exactly, for string and array TargetInfo alike', () => {
    // Guard against a fixture change that would leave one encoding untested.
    expect(scenario.targetInfoFormat).toBe('string');
    expect(scenario.tasks.find((t) => t.id === '1006')!.targetInfoFormat).toBe('array');
    expect(scenario.tasks.find((t) => t.id === '1001')!.targetInfoFormat).toBeUndefined();

    const expected = scenario.tasks
      .filter((t) => TASKS.includes(t.id))
      .flatMap((t) => t.targets.map((x) => `${t.id}|${x.type}|${x.target}|${x.name}`))
      .sort();
    expect(expected.length).toBeGreaterThanOrEqual(8);
    for (const p of ['A', 'C'] as const) {
      const got = select(phase[p], 'aliyun_sas_scan_task_target_info').map((s) => {
        expect(s.value).toBe(1);
        return `${s.labels.task_id}|${s.labels.target_type}|${s.labels.target}|${s.labels.target_name}`;
      });
      expect(got.sort(), `phase ${p}`).toEqual(expected);
    }
    // The per-type counts agree with the scenario, both types always present.
    for (const t of scenario.tasks.filter((x) => TASKS.includes(x.id))) {
      for (const type of ['uuid', 'groupId'] as const) {
        expect(value(phase.C, 'aliyun_sas_scan_task_targets', { task_id: t.id, target_type: type }), `${t.id} ${type}`).toBe(t.targets.filter((x) => x.type === type).length);
      }
    }
    // 1007 answers TargetInfo "[]": no target series, counted as an `empty` TargetInfo (README), status kept.
    expect(select(phase.C, 'aliyun_sas_scan_task_target_info', { task_id: '1007' })).toEqual([]);
    expect(sum(phase.C, 'aliyun_sas_target_info_errors_total', { reason: 'empty' })).toBeGreaterThanOrEqual(3);
    expect(select(phase.C, 'aliyun_sas_target_info_errors_total').filter((s) => s.labels.reason !== 'empty' && s.value > 0)).toEqual([]);
  });

  test(`task ID ${BIG} (above 2^53) stays exact: in the request the SDK sent, and in every label`, () => {
    // The simulator only knows ...993: following its timeline proves the request carried the exact ID.
    expect(['A', 'B', 'C'].map((p) => statusOf(phase[p as 'A'], BIG))).toEqual(['init', 'processing', 'success']);
    const counts = rig.sim.counts();
    expect(counts.byTask[BIG]?.byOutcome.OK ?? 0).toBeGreaterThanOrEqual(3);
    expect(counts.byTask[BIG_ROUNDED]).toBeUndefined();
    for (const p of ['A', 'B', 'C'] as const) {
      expect(phase[p].filter((s) => s.labels.task_id === BIG_ROUNDED), p).toEqual([]);
      for (const family of ['aliyun_sas_scan_task_info', 'aliyun_sas_scan_task_poll_success', 'aliyun_sas_scan_task_status_change_timestamp_seconds']) {
        expect(select(phase[p], family, { task_id: BIG }), `${p} ${family}`).toHaveLength(1);
      }
    }
    expect(select(phase.C, 'aliyun_sas_scan_task_target_info', { task_id: BIG }).map((s) => s.labels.target_name)).toEqual(['host-b']);
  });

  test('status_change_timestamp_seconds moves exactly when the status changes', () => {
    const now = Date.now() / 1000;
    for (const p of ['A', 'B', 'C'] as const) {
      for (const id of TASKS) {
        const ts = changedAt(phase[p], id)!;
        expect(ts, `${p} ${id}`).toBeGreaterThanOrEqual(t0 - 1);
        expect(ts, `${p} ${id}`).toBeLessThanOrEqual(now + 1);
      }
    }
    // Changed A -> B -> C.
    for (const id of ['1001', '1002', BIG]) {
      expect(changedAt(phase.B, id)!, id).toBeGreaterThan(changedAt(phase.A, id)!);
      expect(changedAt(phase.C, id)!, id).toBeGreaterThan(changedAt(phase.B, id)!);
    }
    // 1003 changed A -> B only; 1006 too.
    for (const id of ['1003', '1006']) {
      expect(changedAt(phase.B, id)!, id).toBeGreaterThan(changedAt(phase.A, id)!);
      expect(changedAt(phase.C, id), id).toBe(changedAt(phase.B, id));
    }
    // Never changed, though polled every cycle (last success moves on).
    for (const id of ['1004', '1005', '1007']) {
      expect(changedAt(phase.C, id), id).toBe(changedAt(phase.A, id));
      expect(lastSuccess(phase.C, id)!, id).toBeGreaterThan(lastSuccess(phase.A, id)!);
    }
  });

  test('scan_task_info carries the task_name from the YAML (escaped and unescaped round trip), empty without one', () => {
    const info = select(phase.C, 'aliyun_sas_scan_task_info');
    expect(info.map((s) => s.labels.task_id).sort()).toEqual([...TASKS].sort());
    const names = Object.fromEntries(info.map((s) => [s.labels.task_id, s.labels.task_name]));
    expect(names['1001']).toBe(NAME_1001);
    expect(names[BIG]).toBe(NAME_BIG);
    for (const id of ['1002', '1003', '1004', '1005', '1006', '1007']) expect(names[id], id).toBe('');
    expect(info.every((s) => s.value === 1)).toBe(true);
    expect(value(phase.C, 'aliyun_sas_tasks')).toBe(TASKS.length);
    expect(sum(phase.C, 'aliyun_sas_api_requests_total', { action: ACTIONS.describeScanTaskProgress, code: 'OK' })).toBeGreaterThanOrEqual(3 * TASKS.length);
  });

  test('promtool check metrics finds nothing to report in the live /metrics body', async (ctx) => {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      if (process.env.CI && process.env.CI !== 'false') throw new Error(`promtool is required in CI but cannot be run: ${probe.error.message}`);
      console.warn(`SKIPPED promtool check: promtool is not installed (${probe.error.message}); CI requires it`);
      ctx.skip('promtool is not installed');
    }
    const body = await rig.exporter.scrapeText();
    expect(body).toContain('aliyun_sas_scan_task_target_info{');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect({ status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() }).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  /** The families that do not move between two scrapes once the timeline settled. */
  const stable = (samples: Sample[]) =>
    samples
      .filter((s) => /^aliyun_sas_scan_task_(info|status|target_info|targets|poll_success)$/.test(s.name))
      .map((s) => `${seriesKey(s)} ${s.value}`)
      .sort();
  /** Every task series, values left out (timestamps move with each cycle). */
  const identities = (samples: Sample[]) =>
    samples
      .filter((s) => s.name.startsWith('aliyun_sas_scan_task_'))
      .map(seriesKey)
      .sort();

  test('OpenMetrics on request: its content type, ending in # EOF, the same task series', async () => {
    const r = await fetch(`${rig.exporter.base}/metrics`, { headers: { Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/openmetrics-text; ?version=1\.0\.0/);
    const om = await r.text();
    expect(om.endsWith('# EOF\n')).toBe(true);
    expect(om.split('\n').filter((l) => l === '# EOF')).toHaveLength(1);
    const text = await rig.scrape();
    const omSamples = parseExposition(om);
    expect(stable(omSamples).length).toBeGreaterThan(40);
    expect(stable(omSamples)).toEqual(stable(text));
    expect(identities(omSamples)).toEqual(identities(text));
    // The plain scrape stays the 0.0.4 text format, without # EOF.
    const plain = await fetch(`${rig.exporter.base}/metrics`);
    expect(plain.headers.get('content-type')).toMatch(/^text\/plain; ?version=0\.0\.4/);
    expect(await plain.text()).not.toContain('# EOF');
  });

  test('gzip when accepted: the body decodes to the same series', async () => {
    const raw = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      const req = request(`${rig.exporter.base}/metrics`, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(raw.encoding).toBe('gzip');
    expect(raw.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const unzipped = parseExposition(gunzipSync(raw.body).toString('utf8'));
    const text = await rig.scrape();
    expect(stable(unzipped).length).toBeGreaterThan(40);
    expect(stable(unzipped)).toEqual(stable(text));
    expect(identities(unzipped)).toEqual(identities(text));
    expect(unzipped.some((s) => s.name === 'aliyun_sas_api_requests_total')).toBe(true);
  });
});
