/**
 * The scan-results parsers on literal bodies: the documented shapes, the
 * quirks, and every malformed field reported without a crash.
 */
import { describe, expect, it } from 'vitest';
import { listVirusScanTaskQuery } from '../../src/sas/client.js';
import {
  machineScanStatus,
  pageCount,
  parseLatestStatisticBody,
  parseScanTaskListBody,
  rootScanStatus,
} from '../../src/sas/virusScan.js';

/** The Go SDK model's examples, put together. */
const STATISTIC = {
  RequestId: '7532B7EE-7CE7-5F4D-BF04-B12447DDCAE1',
  Data: {
    CompleteMachine: 2,
    MachineName: 'testMahine1',
    Progress: '92',
    RiskLevel: 'medium',
    SafeMachine: 1,
    ScanMachine: 3,
    ScanPath: ['/root'],
    ScanTime: 1681145862000,
    ScanType: 'user',
    Status: 10,
    SuspiciousCount: 2,
    SuspiciousMachine: 2,
    TaskId: 'fc98d58eb56f699d49bf7ebbd6d70001',
    UnCompleteMachine: 1,
  },
};

const ROW = {
  EndTime: 1662343860051,
  InstanceName: 'sql-test-01',
  InternetIp: '8.210.XX.XX',
  IntranetIp: '172.25.XX.XX',
  Progress: 62,
  ScanPath: [],
  ScanType: 'system',
  StartTime: 1651290987000,
  Status: 2,
  TaskId: '2e75557bfa570381f5c516cad9b60001',
  TaskName: 'VIRUS_VUL_SCHEDULE_SCAN',
  Uuid: '49e25e0f-bb51-4a5a-a1b3-13a4ddaa0001',
};

describe('status vocabulary', () => {
  it('root: 0 pending, 10 running, 100 complete, anything else unknown', () => {
    expect([0, 10, 100, 20, 50, -1, undefined].map(rootScanStatus)).toEqual(['pending', 'running', 'complete', 'unknown', 'unknown', 'unknown', 'unknown']);
  });
  it('machine: 1 running, 2 complete, 3 failed, 4 timeout, anything else unknown', () => {
    expect([1, 2, 3, 4, 0, 5, undefined].map(machineScanStatus)).toEqual(['running', 'complete', 'failed', 'timeout', 'unknown', 'unknown', 'unknown']);
  });
});

describe('parseLatestStatisticBody', () => {
  it('the documented answer', () => {
    const r = parseLatestStatisticBody(STATISTIC);
    expect(r).toEqual({
      ok: true,
      value: {
        requestId: '7532B7EE-7CE7-5F4D-BF04-B12447DDCAE1',
        latest: {
          taskId: 'fc98d58eb56f699d49bf7ebbd6d70001',
          status: 'running',
          rawStatus: 10,
          progressPercent: 92,
          scanTimeMs: 1681145862000,
          scanType: 'user',
          scanPaths: ['/root'],
          machines: { scanned: 3, complete: 2, uncomplete: 1, safe: 1, suspicious: 2 },
          suspiciousCount: 2,
          riskLevel: 'medium',
          machineName: 'testMahine1',
        },
        problems: [],
      },
    });
  });

  it.each([
    ['Data absent', { RequestId: 'r' }],
    ['Data null', { RequestId: 'r', Data: null }],
    ['Data {}', { RequestId: 'r', Data: {} }],
  ])('%s: no scan yet, not an error', (_what, body) => {
    expect(parseLatestStatisticBody(body)).toEqual({ ok: true, value: { requestId: 'r', problems: [] } });
  });

  it('Progress as a number, "92.5", "92%"; counts and times as digit strings', () => {
    for (const [progress, want] of [
      [92, 92],
      ['92.5', 92.5],
      ['92%', 92],
      [' 100 ', 100],
    ] as const) {
      const r = parseLatestStatisticBody({ Data: { ...STATISTIC.Data, Progress: progress } });
      expect(r.ok && r.value.latest!.progressPercent, String(progress)).toBe(want);
    }
    const r = parseLatestStatisticBody({ Data: { ...STATISTIC.Data, ScanMachine: '3', ScanTime: '1681145862000', Status: '100' } });
    expect(r.ok && r.value.latest).toMatchObject({ machines: { scanned: 3 }, scanTimeMs: 1681145862000, status: 'complete' });
    expect(r.ok && r.value.problems).toEqual([]);
  });

  it('RiskLevel absent is none, any case is read, an undocumented one is unknown and reported', () => {
    const { RiskLevel: _r, ...noRisk } = STATISTIC.Data;
    const none = parseLatestStatisticBody({ Data: { ...noRisk, SuspiciousMachine: 0 } });
    expect(none.ok && none.value.latest!.riskLevel).toBe('none');
    const upper = parseLatestStatisticBody({ Data: { ...STATISTIC.Data, RiskLevel: 'HIGH' } });
    expect(upper.ok && upper.value.latest!.riskLevel).toBe('high');
    const odd = parseLatestStatisticBody({ Data: { ...STATISTIC.Data, RiskLevel: 'critical' } });
    expect(odd.ok && odd.value.latest!.riskLevel).toBe('unknown');
    expect(odd.ok && odd.value.problems).toEqual([{ field: 'Data.RiskLevel', problem: 'undocumented risk level "critical"' }]);
  });

  it('every malformed field is left out and reported; the rest is kept', () => {
    const r = parseLatestStatisticBody({
      RequestId: 42,
      Data: {
        TaskId: 12345,
        Status: 'running',
        Progress: '101',
        ScanTime: -5,
        ScanType: ['user'],
        ScanPath: ['/ok', 7],
        ScanMachine: 3.5,
        CompleteMachine: -1,
        UnCompleteMachine: '1',
        SafeMachine: {},
        SuspiciousMachine: 'two',
        SuspiciousCount: 1e20,
        RiskLevel: 3,
        MachineName: null,
      },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.requestId).toBe('');
    expect(r.value.latest).toEqual({
      status: 'unknown',
      scanPaths: ['/ok'],
      machines: { uncomplete: 1 },
      riskLevel: 'none',
    });
    expect(r.value.problems.map((p) => p.field)).toEqual([
      'Data.Status',
      'Data.RiskLevel',
      'Data.TaskId',
      'Data.Progress',
      'Data.ScanTime',
      'Data.ScanType',
      'Data.ScanPath[1]',
      'Data.ScanMachine',
      'Data.CompleteMachine',
      'Data.SafeMachine',
      'Data.SuspiciousMachine',
      'Data.SuspiciousCount',
    ]);
    expect(r.value.problems[0]).toEqual({ field: 'Data.Status', problem: 'expected an integer status, got "running"' });
  });

  it('an undocumented root status is unknown, kept, and reported', () => {
    const r = parseLatestStatisticBody({ Data: { ...STATISTIC.Data, Status: 50 } });
    expect(r.ok && r.value.latest).toMatchObject({ status: 'unknown', rawStatus: 50 });
    expect(r.ok && r.value.problems).toEqual([{ field: 'Data.Status', problem: 'undocumented root status 50' }]);
  });

  it('inconsistent machine counts are reported', () => {
    const r = parseLatestStatisticBody({ Data: { ...STATISTIC.Data, CompleteMachine: 3, SafeMachine: 3 } });
    expect(r.ok && r.value.problems.map((p) => p.problem)).toEqual([
      'CompleteMachine 3 + UnCompleteMachine 1 is not ScanMachine 3',
      'SafeMachine 3 + SuspiciousMachine 2 exceeds ScanMachine 3',
    ]);
  });

  it('a missing TaskId is reported', () => {
    const { TaskId: _t, ...rest } = STATISTIC.Data;
    const r = parseLatestStatisticBody({ Data: rest });
    expect(r.ok && r.value.problems).toEqual([{ field: 'Data.TaskId', problem: 'missing' }]);
  });

  it.each([
    ['null', null],
    ['a list', []],
    ['a string', 'OK'],
    ['Data a string', { Data: 'x' }],
    ['Data a list', { Data: [STATISTIC.Data] }],
  ])('unusable: %s', (_what, body) => {
    expect(parseLatestStatisticBody(body)).toMatchObject({ ok: false, detail: expect.any(String) });
  });
});

describe('parseScanTaskListBody', () => {
  it('the documented answer', () => {
    const r = parseScanTaskListBody({
      RequestId: 'A4EB8B1C-1DEC-5E18-BCD0-D1BBB3936FA7',
      List: [ROW],
      PageInfo: { CurrentPage: 1, PageSize: 20, TotalCount: 1, Count: 1 },
    });
    expect(r).toEqual({
      ok: true,
      value: {
        requestId: 'A4EB8B1C-1DEC-5E18-BCD0-D1BBB3936FA7',
        rows: [
          {
            taskId: '2e75557bfa570381f5c516cad9b60001',
            taskName: 'VIRUS_VUL_SCHEDULE_SCAN',
            status: 'complete',
            rawStatus: 2,
            progressPercent: 62,
            startTimeMs: 1651290987000,
            endTimeMs: 1662343860051,
            scanType: 'system',
            scanPaths: [],
            uuid: '49e25e0f-bb51-4a5a-a1b3-13a4ddaa0001',
            instanceName: 'sql-test-01',
            internetIp: '8.210.XX.XX',
            intranetIp: '172.25.XX.XX',
          },
        ],
        page: { currentPage: 1, pageSize: 20, totalCount: 1, count: 1 },
        problems: [],
      },
    });
  });

  it('no List and no Count (Go drops empty lists): an empty page, no problem', () => {
    expect(parseScanTaskListBody({ RequestId: 'r', PageInfo: { CurrentPage: 1, PageSize: 20, TotalCount: 0 } })).toEqual({
      ok: true,
      value: { requestId: 'r', rows: [], page: { currentPage: 1, pageSize: 20, totalCount: 0 }, problems: [] },
    });
  });

  it('Progress as a string in a row, statuses 1..4 and undocumented ones', () => {
    const r = parseScanTaskListBody({
      List: [1, 2, 3, 4, 9].map((s) => ({ ...ROW, Status: s, Progress: '50' })),
    });
    expect(r.ok && r.value.rows.map((x) => [x.status, x.progressPercent])).toEqual([
      ['running', 50],
      ['complete', 50],
      ['failed', 50],
      ['timeout', 50],
      ['unknown', 50],
    ]);
    expect(r.ok && r.value.problems).toEqual([{ field: 'List[4].Status', problem: 'undocumented status 9' }]);
  });

  it('names with quotes, non-ASCII and backslashes come through untouched', () => {
    const names = [`quote's "web" 01`, '数据库-主', 'C:\\scan\\node'];
    const r = parseScanTaskListBody(JSON.parse(JSON.stringify({ List: names.map((n) => ({ ...ROW, InstanceName: n })) })));
    expect(r.ok && r.value.rows.map((x) => x.instanceName)).toEqual(names);
  });

  it('malformed rows and fields are reported by position; good rows stay', () => {
    const r = parseScanTaskListBody({
      List: [ROW, 'not a row', { ...ROW, Status: undefined, StartTime: 'soon', EndTime: 0, Progress: -3, Uuid: 5, ScanPath: 'x' }, null],
      PageInfo: { CurrentPage: 'one', PageSize: 20, TotalCount: 4, Count: 3 },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.rows).toHaveLength(2);
    expect(r.value.rows[1]).toMatchObject({ status: 'unknown', taskId: ROW.TaskId });
    expect(r.value.rows[1]).not.toHaveProperty('startTimeMs');
    expect(r.value.problems.map((p) => p.field)).toEqual([
      'List[1]',
      'List[2].Status',
      'List[2].Progress',
      'List[2].StartTime',
      'List[2].EndTime',
      'List[2].ScanPath',
      'List[2].Uuid',
      'List[3]',
      'PageInfo.CurrentPage',
      'PageInfo.Count',
    ]);
    expect(r.value.page).toEqual({ pageSize: 20, totalCount: 4, count: 3 });
  });

  it('page arithmetic that does not add up is reported', () => {
    const rows = Array.from({ length: 3 }, () => ROW);
    const r = parseScanTaskListBody({ List: rows, PageInfo: { CurrentPage: 2, PageSize: 2, TotalCount: 3 } });
    expect(r.ok && r.value.problems).toEqual([
      { field: 'PageInfo.PageSize', problem: '2, but the page has 3 rows' },
      { field: 'PageInfo.TotalCount', problem: '3, but this page reaches row 5' },
    ]);
    const bad = parseScanTaskListBody({ List: [], PageInfo: 'x' });
    expect(bad.ok && bad.value.problems).toEqual([{ field: 'PageInfo', problem: 'expected an object, got "x"' }]);
  });

  it.each([
    ['not an object', 'x'],
    ['List an object', { List: { a: 1 } }],
    ['List a string', { List: '[]' }],
  ])('unusable: %s', (_what, body) => {
    expect(parseScanTaskListBody(body)).toMatchObject({ ok: false });
  });

  it('never throws, whatever the input', () => {
    const odd: unknown[] = [undefined, 0, true, Symbol('s'), () => 1, new Date(), { List: [Symbol('x')] }, { Data: { Progress: Symbol('p') } }];
    for (const v of odd) {
      expect(() => parseScanTaskListBody(v)).not.toThrow();
      expect(() => parseLatestStatisticBody(v)).not.toThrow();
    }
  });

  it('pageCount', () => {
    expect([pageCount(250, 100), pageCount(0, 100), pageCount(100, 100), pageCount(5, 0)]).toEqual([3, 0, 1, 0]);
  });
});

describe('the ListVirusScanTask query', () => {
  it('maps the request onto the API’s names and leaves unset ones out', () => {
    expect(listVirusScanTaskQuery({ currentPage: 2, pageSize: 100, rootTaskId: 'r', statusList: [3, 4], startTimeMs: 5, rootTask: false })).toEqual({
      CurrentPage: 2,
      PageSize: 100,
      RootTaskId: 'r',
      RootTask: false,
      StatusList: [3, 4],
      StartTime: 5,
    });
    expect(listVirusScanTaskQuery({ statusList: [] })).toEqual({});
  });
});
