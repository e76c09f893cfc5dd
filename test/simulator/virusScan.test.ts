/**
 * GetVirusScanLatestTaskStatistic and ListVirusScanTask through the real
 * SDK: the wire format (raw callApi), and the exporter's own SasClient and
 * parsers on top of it.
 */
import { OpenApiRequest } from '@alicloud/openapi-client';
import * as $Util from '@alicloud/tea-util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paramsFor, type SasClient } from '../../src/sas/client.js';
import { buildScenario, loadScenarioFile, startSimulator, type Scenario, type SimulatorHandle } from '../../src/simulator/index.js';
import { fixture, manualClock, sdkClient, Util, type SdkClient } from './helpers.js';
import { sasClient, staticCredential } from './sasHelpers.js';

const SCAN = { accessKeyId: 'LTAI-scan-access-key-id', accessKeySecret: 'scan-access-key-secret' };
const NEVER = { accessKeyId: 'LTAI-never-access-key-id', accessKeySecret: 'never-access-key-secret' };
const EMPTY = { accessKeyId: 'LTAI-empty-access-key-id', accessKeySecret: 'empty-access-key-secret' };
const FIRST = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa0001';
const SECOND = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbb0002';

/** One raw call through the SDK's callApi, to see the wire format. */
async function raw(client: SdkClient, action: string, query: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const res = await client.callApi(
    paramsFor(action),
    new OpenApiRequest({ query: Util.query(query) }),
    new $Util.RuntimeOptions({ readTimeout: 3000, connectTimeout: 3000, autoretry: false }),
  );
  return res.body as Record<string, unknown>;
}

function ok<T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(`call failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

let scans: Scenario;
beforeAll(async () => {
  scans = await loadScenarioFile(fixture('scans.yaml'));
});

/** A simulator of scans.yaml on a hand-moved clock for the describe block calling this, with both clients. */
function scanSimulator() {
  const sim = { clock: manualClock(), epoch: Date.now() } as {
    clock: ReturnType<typeof manualClock>;
    epoch: number;
    h: SimulatorHandle;
    client: SasClient;
    rawClient: SdkClient;
  };
  beforeAll(async () => {
    sim.h = await startSimulator({ scenario: scans, now: sim.clock.now, wallNow: () => sim.epoch });
    sim.client = sasClient(sim.h, staticCredential(SCAN));
    sim.rawClient = sdkClient(sim.h, SCAN);
  });
  afterAll(() => sim.h.close());
  return sim;
}

describe('the latest scan (GetVirusScanLatestTaskStatistic)', () => {
  const sim = scanSimulator();
  const { clock, epoch } = sim;

  it('to be started: Status 0, Progress "0" (a string), every machine uncomplete', async () => {
    clock.set(500);
    const body = await raw(sim.rawClient, 'GetVirusScanLatestTaskStatistic');
    expect(body.Data).toEqual({
      TaskId: FIRST,
      ScanType: 'user',
      ScanTime: epoch + 1000,
      ScanPath: ['/root', '/tmp'],
      MachineName: `quote's "web" 01`,
      Status: 0,
      Progress: '0',
      ScanMachine: 5,
      CompleteMachine: 0,
      UnCompleteMachine: 5,
      SafeMachine: 0,
      SuspiciousMachine: 0,
      SuspiciousCount: 0,
    });
    const v = ok(await sim.client.getVirusScanLatestTaskStatistic());
    expect(v.problems).toEqual([]);
    expect(v.latest).toMatchObject({ taskId: FIRST, status: 'pending', rawStatus: 0, progressPercent: 0, riskLevel: 'none', scanTimeMs: epoch + 1000 });
  });

  it('running: Status 10; machines finish one by one; counts stay consistent', async () => {
    const seen: Array<Record<string, unknown>> = [];
    for (const ms of [1_000, 2_500, 3_500, 4_500, 5_000, 9_999]) {
      clock.set(ms);
      seen.push((await raw(sim.rawClient, 'GetVirusScanLatestTaskStatistic')).Data as Record<string, unknown>);
    }
    expect(seen.map((d) => [d.Status, d.Progress, d.CompleteMachine, d.SafeMachine, d.SuspiciousMachine, d.RiskLevel])).toEqual([
      [10, '20', 1, 0, 1, 'high'], // m4 complete from the start, with 3 high alerts
      [10, '40', 1, 1, 1, 'high'], // + m3 timed out at 2 s
      [10, '60', 2, 2, 1, 'high'], // + m1 complete at 3 s
      [10, '80', 2, 3, 1, 'high'], // + m2 failed at 4 s
      [100, '100', 3, 3, 2, 'high'], // + m5 complete at 5 s, 2 low alerts
      [100, '100', 3, 3, 2, 'high'],
    ]);
    for (const d of seen) {
      expect((d.CompleteMachine as number) + (d.UnCompleteMachine as number)).toBe(d.ScanMachine);
      expect(typeof d.Progress).toBe('string');
    }
    expect(seen.at(-1)).toMatchObject({ SuspiciousCount: 5, UnCompleteMachine: 2 });
    const v = ok(await sim.client.getVirusScanLatestTaskStatistic());
    expect(v.latest).toMatchObject({
      status: 'complete',
      progressPercent: 100,
      machines: { scanned: 5, complete: 3, uncomplete: 2, safe: 3, suspicious: 2 },
      suspiciousCount: 5,
      riskLevel: 'high',
      scanPaths: ['/root', '/tmp'],
      scanType: 'user',
    });
  });

  it('a new scan replaces the previous one at its `at`', async () => {
    clock.set(10_000);
    const v = ok(await sim.client.getVirusScanLatestTaskStatistic()).latest!;
    expect(v).toMatchObject({ taskId: SECOND, scanType: 'system', status: 'running', machines: { scanned: 250 } });
    expect(v.scanPaths).toEqual([]);
    clock.set(16_000);
    const done = ok(await sim.client.getVirusScanLatestTaskStatistic()).latest!;
    expect(done.status).toBe('complete');
    const m = done.machines;
    expect(m.complete! + m.uncomplete!).toBe(250);
    expect(m.safe! + m.suspicious!).toBe(250);
    expect(m.suspicious).toBeGreaterThan(20);
    expect(m.uncomplete).toBeGreaterThan(20); // failed and timed-out ones
  });

  it('an account that never ran a scan: no Data (default), or Data {} with no_scan_data: empty; both parse as "no scan yet"', async () => {
    expect(await raw(sdkClient(sim.h, NEVER), 'GetVirusScanLatestTaskStatistic')).not.toHaveProperty('Data');
    expect((await raw(sdkClient(sim.h, EMPTY), 'GetVirusScanLatestTaskStatistic')).Data).toEqual({});
    for (const keys of [NEVER, EMPTY]) {
      const v = ok(await sasClient(sim.h, staticCredential(keys)).getVirusScanLatestTaskStatistic());
      expect(v.latest).toBeUndefined();
      expect(v.requestId).toMatch(/^[0-9A-F-]{36}$/);
      expect(v.problems).toEqual([]);
    }
    const list = ok(await sasClient(sim.h, staticCredential(NEVER)).listVirusScanTask());
    expect(list).toMatchObject({ rows: [], page: { currentPage: 1, pageSize: 20, totalCount: 0, count: 0 } });
  });

  it('before the first scan’s `at`, the account has no Data either', async () => {
    const later = buildScenario({ virus_scans: [{ at: '5s', machines: [{ uuid: 'u', instance_name: 'n', status: 'running' }] }] });
    const c2 = manualClock();
    const h2 = await startSimulator({ scenario: later, now: c2.now });
    try {
      const demo = sasClient(h2, staticCredential({ accessKeyId: 'LTAI-demo-access-key-id', accessKeySecret: 'demo-access-key-secret' }));
      expect(ok(await demo.getVirusScanLatestTaskStatistic()).latest).toBeUndefined();
      c2.set(5_000);
      const latest = ok(await demo.getVirusScanLatestTaskStatistic()).latest!;
      expect(latest.taskId).toMatch(/^[0-9a-f]{32}$/);
      expect(latest.status).toBe('running');
    } finally {
      await h2.close();
    }
  });
});

describe('the scan’s machines (ListVirusScanTask)', () => {
  const sim = scanSimulator();
  const { clock, epoch } = sim;

  it('no rows while the scan is to be started', async () => {
    clock.set(500);
    expect(ok(await sim.client.listVirusScanTask({ rootTaskId: FIRST })).page.totalCount).toBe(0);
  });

  it('rows: Progress an integer, times in ms, EndTime only once a machine stopped; names exactly as declared', async () => {
    clock.set(2_500);
    const body = await raw(sim.rawClient, 'ListVirusScanTask', { RootTaskId: FIRST, PageSize: 10 });
    const rows = body.List as Array<Record<string, unknown>>;
    expect(body.PageInfo).toEqual({ CurrentPage: 1, PageSize: 10, TotalCount: 5, Count: 5 });
    expect(rows.map((r) => [r.InstanceName, r.Status, r.Progress, 'EndTime' in r])).toEqual([
      [`quote's "web" 01`, 1, 74, false], // 1.5 s into 2 s: 99 * 0.75
      ['数据库-主', 1, 49, false],
      ['C:\\scan\\node', 4, 99, true],
      ['plain-04', 2, 100, true],
      ['plain-05', 1, 37, false],
    ]);
    expect(rows[0]).toEqual({
      TaskId: expect.stringMatching(/^[0-9a-f]{32}$/),
      TaskName: 'VIRUS_VUL_SCHEDULE_SCAN',
      Status: 1,
      Progress: 74,
      StartTime: epoch + 1000,
      ScanType: 'user',
      ScanPath: ['/root', '/tmp'],
      Uuid: '11111111-1111-4111-8111-111111111111',
      InstanceName: `quote's "web" 01`,
      InternetIp: '47.96.0.1',
      IntranetIp: '172.16.0.1',
    });
    expect(rows[2]!.EndTime).toBe(epoch + 2000);
    expect(rows[3]!.EndTime).toBe(epoch + 1000);
    expect(new Set(rows.map((r) => r.TaskId)).size).toBe(5);
    const page = ok(await sim.client.listVirusScanTask({ rootTaskId: FIRST }));
    expect(page.problems).toEqual([]);
    expect(page.rows.map((r) => [r.instanceName, r.status, r.progressPercent])).toEqual([
      [`quote's "web" 01`, 'running', 74],
      ['数据库-主', 'running', 49],
      ['C:\\scan\\node', 'timeout', 99],
      ['plain-04', 'complete', 100],
      ['plain-05', 'running', 37],
    ]);
    expect(page.rows[2]!.endTimeMs).toBe(epoch + 2000);
  });

  it('250 rows over 3 pages of 100: every machine once, TotalCount 250 on every page', async () => {
    clock.set(16_000);
    const pages = [];
    for (let p = 1; p <= 4; p++) pages.push(ok(await sim.client.listVirusScanTask({ rootTaskId: SECOND, pageSize: 100, currentPage: p })));
    expect(pages.map((p) => p.rows.length)).toEqual([100, 100, 50, 0]);
    expect(pages.map((p) => p.page)).toEqual([
      { currentPage: 1, pageSize: 100, totalCount: 250, count: 100 },
      { currentPage: 2, pageSize: 100, totalCount: 250, count: 100 },
      { currentPage: 3, pageSize: 100, totalCount: 250, count: 50 },
      { currentPage: 4, pageSize: 100, totalCount: 250, count: 0 },
    ]);
    const rows = pages.flatMap((p) => p.rows);
    expect(new Set(rows.map((r) => r.taskId)).size).toBe(250);
    expect(rows[0]!.instanceName).toBe('gen-001');
    expect(rows[249]!.instanceName).toBe('gen-250');
    expect(rows.every((r) => r.status !== 'running' && r.endTimeMs! > r.startTimeMs!)).toBe(true);
    expect(pages.every((p) => p.problems.length === 0)).toBe(true);
    // Without RootTaskId, the newest scan's rows come first, then the older scan's.
    const all = ok(await sim.client.listVirusScanTask({ pageSize: 100, currentPage: 3 }));
    expect(all.page.totalCount).toBe(255);
    expect(all.rows.slice(49, 51).map((r) => r.instanceName)).toEqual(['gen-250', `quote's "web" 01`]);
  });

  it('StatusList (sent as StatusList.1, StatusList.2 by the SDK) and Status filter rows; the counts agree with the statistic', async () => {
    clock.set(16_000);
    const stat = ok(await sim.client.getVirusScanLatestTaskStatistic()).latest!;
    const failedOrTimedOut = ok(await sim.client.listVirusScanTask({ rootTaskId: SECOND, statusList: [3, 4], pageSize: 100 }));
    expect(failedOrTimedOut.rows.every((r) => r.status === 'failed' || r.status === 'timeout')).toBe(true);
    expect(failedOrTimedOut.page.totalCount).toBe(stat.machines.uncomplete);
    const complete = ok(await sim.client.listVirusScanTask({ rootTaskId: SECOND, status: 2, pageSize: 1 }));
    expect(complete.page.totalCount).toBe(stat.machines.complete);
    const both = ok(await sim.client.listVirusScanTask({ rootTaskId: SECOND, status: 2, statusList: [3], pageSize: 1 }));
    expect(both.page.totalCount).toBe(0);
    // Also as a JSON array or a comma list, as other clients may send it.
    expect((await raw(sim.rawClient, 'ListVirusScanTask', { RootTaskId: SECOND, StatusList: '[3,4]' })).PageInfo).toMatchObject({
      TotalCount: stat.machines.uncomplete,
    });
    expect((await raw(sim.rawClient, 'ListVirusScanTask', { RootTaskId: SECOND, StatusList: '3,4' })).PageInfo).toMatchObject({
      TotalCount: stat.machines.uncomplete,
    });
  });

  it('other filters: TaskId, MachineName (substring, any case), IPs, ScanType, StartTime/EndTime', async () => {
    clock.set(16_000);
    const one = ok(await sim.client.listVirusScanTask({ rootTaskId: FIRST })).rows[1]!;
    expect(ok(await sim.client.listVirusScanTask({ taskId: one.taskId! })).rows.map((r) => r.instanceName)).toEqual(['数据库-主']);
    expect(ok(await sim.client.listVirusScanTask({ machineName: 'WEB' })).rows.map((r) => r.instanceName)).toEqual([`quote's "web" 01`]);
    expect(ok(await sim.client.listVirusScanTask({ machineName: '数据库' })).page.totalCount).toBe(1);
    expect(ok(await sim.client.listVirusScanTask({ intranetIp: '172.16.0.' , rootTaskId: FIRST })).page.totalCount).toBe(2);
    expect(ok(await sim.client.listVirusScanTask({ internetIp: '47.96.0.1', rootTaskId: FIRST })).page.totalCount).toBe(1);
    expect(ok(await sim.client.listVirusScanTask({ scanType: 'user' })).page.totalCount).toBe(5);
    expect(ok(await sim.client.listVirusScanTask({ startTimeMs: epoch + 5_000 })).page.totalCount).toBe(250);
    expect(ok(await sim.client.listVirusScanTask({ endTimeMs: epoch + 5_000 })).page.totalCount).toBe(5);
    expect(ok(await sim.client.listVirusScanTask({ rootTaskId: 'f'.repeat(32) })).page.totalCount).toBe(0);
    expect(ok(await sim.client.listVirusScanTask({ rootTask: true, lang: 'en', rootTaskId: FIRST })).page.totalCount).toBe(5);
  });

  it.each([
    ['PageSize 101', { PageSize: 101 }, 'PageSize'],
    ['PageSize 0', { PageSize: 0 }, 'PageSize'],
    ['CurrentPage 0', { CurrentPage: 0 }, 'CurrentPage'],
    ['Status x', { Status: 'x' }, 'Status'],
    ['StatusList.1 x', { StatusList: ['x'] }, 'StatusList'],
    ['StartTime -1', { StartTime: -1 }, 'StartTime'],
    ['RootTask maybe', { RootTask: 'maybe' }, 'RootTask'],
  ])('%s: 400 InvalidParameter naming it', async (_what, query, name) => {
    const err = await raw(sim.rawClient, 'ListVirusScanTask', query).then(
      () => undefined,
      (e: Error & { code?: string; statusCode?: number; data?: Record<string, unknown> }) => e,
    );
    expect(err).toMatchObject({ code: 'InvalidParameter', statusCode: 400 });
    expect(err!.data!.Message).toContain(name);
  });
});

describe('per-action faults on the scan-results actions', () => {
  it('empty_page, total_count_mismatch and missing_data bend only their action, and are counted per action', async () => {
    const clock = manualClock();
    await withScans(clock, async (h, client) => {
      clock.set(16_000);
      h.setFaults('*', [
        { kind: 'empty_page', times: 1 },
        { kind: 'total_count_mismatch', delta: 7, times: 1 },
        { kind: 'missing_data', times: 1 },
      ]);
      const empty = ok(await client.listVirusScanTask({ rootTaskId: SECOND, pageSize: 100 }));
      expect(empty.rows).toEqual([]);
      expect(empty.page).toEqual({ currentPage: 1, pageSize: 100, totalCount: 250, count: 0 });
      const wrong = ok(await client.listVirusScanTask({ rootTaskId: SECOND, pageSize: 100, currentPage: 3 }));
      expect(wrong.rows).toHaveLength(50);
      expect(wrong.page.totalCount).toBe(257);
      const noData = ok(await client.getVirusScanLatestTaskStatistic());
      expect(noData.latest).toBeUndefined();
      expect(ok(await client.getVirusScanLatestTaskStatistic()).latest!.taskId).toBe(SECOND);
      expect(ok(await client.listVirusScanTask({ rootTaskId: SECOND })).page.totalCount).toBe(250);
      const c = h.counts();
      expect(c.byAction.ListVirusScanTask).toEqual({
        total: 3,
        byOutcome: { empty_page: 1, total_count_mismatch: 1, OK: 1 },
        faultsFired: { empty_page: 1, total_count_mismatch: 1 },
      });
      expect(c.byAction.GetVirusScanLatestTaskStatistic).toEqual({ total: 2, byOutcome: { missing_data: 1, OK: 1 }, faultsFired: { missing_data: 1 } });
      expect(c.byAccount.scanned!.faultsFired).toEqual({ empty_page: 1, total_count_mismatch: 1, missing_data: 1 });
    });
  });

  it('a negative delta undercounts; generic faults (html_502, hang) apply per action too', async () => {
    const clock = manualClock();
    await withScans(clock, async (h, client) => {
      clock.set(16_000);
      h.setFaults('*', [
        { kind: 'total_count_mismatch', delta: -200 },
        { kind: 'html_502', actions: ['GetVirusScanLatestTaskStatistic'], times: 1 },
      ]);
      const under = ok(await client.listVirusScanTask({ rootTaskId: SECOND, pageSize: 100 }));
      expect(under.page.totalCount).toBe(50);
      expect(under.problems).toEqual([{ field: 'PageInfo.TotalCount', problem: '50, but this page reaches row 100' }]);
      const broken = await client.getVirusScanLatestTaskStatistic();
      expect(broken.ok || broken.error).toMatchObject({ class: 'bad_response' });
      expect(h.counts().byAction.GetVirusScanLatestTaskStatistic!.byOutcome).toEqual({ html_502: 1 });
    });
  });
});

describe('10,000 generated machines', () => {
  it('answer a 100-row page and the statistic quickly, deterministically, consistently', async () => {
    const scenario = buildScenario({
      seed: 99,
      virus_scans: [
        {
          machines: { count: 10_000, run_time_min: '1s', run_time_max: '60s', failed_rate: 0.02, timeout_rate: 0.01, suspicious_rate: 0.05 },
        },
      ],
    });
    const clock = manualClock();
    const wall = Date.now();
    const wallNow = (): number => wall; // also what x-acs-date is checked against: keep it near the real time
    const t0 = Date.now();
    const h = await startSimulator({ scenario, now: clock.now, wallNow });
    const startMs = Date.now() - t0;
    try {
      const client = sasClient(h, staticCredential({ accessKeyId: 'LTAI-demo-access-key-id', accessKeySecret: 'demo-access-key-secret' }));
      clock.set(30_000);
      const stat = ok(await client.getVirusScanLatestTaskStatistic()).latest!;
      expect(stat.machines.scanned).toBe(10_000);
      expect(stat.machines.complete! + stat.machines.uncomplete!).toBe(10_000);
      const times: number[] = [];
      let last;
      for (const page of [1, 50, 100, 101]) {
        const t = performance.now();
        last = ok(await client.listVirusScanTask({ rootTaskId: stat.taskId!, pageSize: 100, currentPage: page, statusList: page === 101 ? [1] : undefined }));
        times.push(performance.now() - t);
      }
      expect(last!.page.totalCount).toBeGreaterThan(1000); // the still-running ones at 30 s
      const running = ok(await client.listVirusScanTask({ rootTaskId: stat.taskId!, status: 1, pageSize: 1 })).page.totalCount!;
      expect(running).toBe(stat.machines.uncomplete! - (ok(await client.listVirusScanTask({ rootTaskId: stat.taskId!, statusList: [3, 4], pageSize: 1 })).page.totalCount!));
      const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
      console.log(`[virusScan.test] 10,000 machines: simulator start ${startMs} ms; 100-row page through the SDK ${times.map((t) => t.toFixed(1)).join(', ')} ms (median ${median.toFixed(1)})`);
      expect(median).toBeLessThan(250);
      // The same seed gives the same machines, IDs and timelines.
      const clock2 = manualClock();
      const h2 = await startSimulator({ scenario, now: clock2.now, wallNow });
      clock2.set(30_000);
      try {
        const again = ok(await sasClient(h2, staticCredential({ accessKeyId: 'LTAI-demo-access-key-id', accessKeySecret: 'demo-access-key-secret' })).listVirusScanTask({ rootTaskId: stat.taskId!, pageSize: 100, currentPage: 7 }));
        const first = ok(await client.listVirusScanTask({ rootTaskId: stat.taskId!, pageSize: 100, currentPage: 7 }));
        expect(again.rows).toEqual(first.rows);
      } finally {
        await h2.close();
      }
    } finally {
      await h.close();
    }
  });
});

async function withScans(clock: ReturnType<typeof manualClock>, fn: (h: SimulatorHandle, client: SasClient) => Promise<void>): Promise<void> {
  const h = await startSimulator({ scenario: scans, now: clock.now });
  try {
    await fn(h, sasClient(h, staticCredential(SCAN)));
  } finally {
    await h.close();
  }
}
