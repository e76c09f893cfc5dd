/**
 * The scenario format for accounts, roles and virus scans: what it accepts,
 * how it normalises, and every rejection with file, line and field.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadScenarioFile, parseScenario, RESULT_FAULT_KINDS, ScenarioError } from '../../src/simulator/index.js';

const CONFIG = fileURLToPath(new URL('../../config/', import.meta.url));

function rejection(text: string): { line: number; col: number; path: string; message: string; all: string } {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    const err = e as ScenarioError;
    expect(err.message).toMatch(/^bad\.yaml:\d+:\d+: /);
    const i = err.issues[0]!;
    return { line: i.line ?? 0, col: i.column ?? 0, path: i.field, message: i.message, all: err.message };
  }
  throw new Error('the scenario was accepted');
}

const TWO = `seed: 3
accounts:
  - name: a
    credentials: [{ access_key_id: AK-A, access_key_secret: SA }]
    qps_limit: 5
    target_info_format: array
    faults:
      - { kind: no_permission, actions: [ListVirusScanTask, GetVirusScanLatestTaskStatistic] }
      - { kind: total_count_mismatch, delta: -3, times: 2 }
    tasks:
      - { id: 1, status: Success }
    roles:
      - arn: acs:ram::1234567890123456:role/reader
        external_id: ext
        assumable_by: [AK-B]
        lifetime: 20m
        reported_lifetime: 903s
        max_session_duration: 2h
    virus_scans:
      - task_id: 0123456789abcdef0123456789abcdef
        scan_type: user
        scan_path: [/root]
        pending: 2s
        scan_time: 2025-05-01T08:00:00Z
        machines:
          - uuid: u-1
            instance_name: "a \\"b\\" \\\\ 中"
            internet_ip: 1.2.3.4
            intranet_ip: 10.0.0.1
            subtask_id: ffffffffffffffffffffffffffffffff
            timeline:
              - { status: running, for: 3s, progress: 10 }
              - { status: failed }
            alerts: 2
      - at: 1m
        machines: { count: 3 }
  - name: b
    credentials: [{ access_key_id: AK-B, access_key_secret: SB }]
    no_scan_data: empty
    tasks:
      - { id: 1, status: Failed }
`;

describe('accepted', () => {
  it('two accounts, each normalised; the top-level fields are the first account’s', () => {
    const s = parseScenario(TWO, 'two.yaml');
    expect(s.accounts!.map((a) => a.name)).toEqual(['a', 'b']);
    expect(s.credentials).toEqual([{ accessKeyId: 'AK-A', accessKeySecret: 'SA' }]);
    expect(s.tasks).toEqual(s.accounts![0]!.tasks);
    expect(s.qpsLimit).toBe(5);
    const [a, b] = s.accounts!;
    expect(a).toMatchObject({ qpsLimit: 5, targetInfoFormat: 'array', noScanData: 'absent' });
    expect(a!.faults).toEqual([
      { kind: 'no_permission', actions: ['ListVirusScanTask', 'GetVirusScanLatestTaskStatistic'] },
      { kind: 'total_count_mismatch', delta: -3, times: 2 },
    ]);
    expect(a!.roles).toEqual([
      {
        arn: 'acs:ram::1234567890123456:role/reader',
        externalId: 'ext',
        assumableBy: ['AK-B'],
        lifetimeMs: 1_200_000,
        reportedLifetimeMs: 903_000,
        maxSessionDurationS: 7200,
      },
    ]);
    expect(a!.virusScans[0]).toEqual({
      atMs: 0,
      taskId: '0123456789abcdef0123456789abcdef',
      scanType: 'user',
      scanPaths: ['/root'],
      pendingMs: 2000,
      scanTimeMs: Date.parse('2025-05-01T08:00:00Z'),
      machines: [
        {
          uuid: 'u-1',
          instanceName: 'a "b" \\ 中',
          internetIp: '1.2.3.4',
          intranetIp: '10.0.0.1',
          subtaskId: 'f'.repeat(32),
          timeline: [{ status: 'running', forMs: 3000, progress: 10 }, { status: 'failed' }],
          alerts: 2,
          riskLevel: 'medium',
        },
      ],
    });
    expect(a!.virusScans[1]).toEqual({
      atMs: 60_000,
      scanType: 'system',
      scanPaths: [],
      pendingMs: 0,
      machines: { count: 3, namePrefix: 'host-', runMinMs: 5000, runMaxMs: 60_000, failedRate: 0, timeoutRate: 0, suspiciousRate: 0, maxAlerts: 5 },
    });
    expect(b).toMatchObject({ noScanData: 'empty', targetInfoFormat: 'string', roles: [], virusScans: [], faults: [] });
    expect(b!.tasks[0]!.timeline).toEqual([{ status: 'Failed' }]);
  });

  it('the single-account form is the account `default`, with roles and scans at the top level', () => {
    const s = parseScenario(
      `virus_scans:
  - machines: []
roles:
  - arn: acs:ram::1:role/r
`,
      'one.yaml',
    );
    expect(s.tasks).toEqual([]);
    expect(s.accounts).toHaveLength(1);
    expect(s.accounts![0]).toMatchObject({ name: 'default', credentials: s.credentials, virusScans: [{ atMs: 0, machines: [] }] });
    expect(s.accounts![0]!.roles[0]).toEqual({ arn: 'acs:ram::1:role/r', maxSessionDurationS: 3600 });
  });

  it('an account with only roles (reached through AssumeRole) needs no key pairs', () => {
    const s = parseScenario(
      `accounts:
  - name: base
    credentials: [{ access_key_id: K, access_key_secret: S }]
  - name: target
    roles: [{ arn: "acs:ram::1:role/r", assumable_by: [K] }]
`,
      'roles.yaml',
    );
    expect(s.accounts![1]!.credentials).toEqual([]);
  });

  it('the same task ID in two accounts is allowed', () => {
    expect(parseScenario(TWO, 'two.yaml').accounts!.map((a) => a.tasks[0]!.id)).toEqual(['1', '1']);
  });

  it('config/simulator.example.yaml shows every scan-results fault kind and the accounts form', async () => {
    const s = await loadScenarioFile(`${CONFIG}simulator.example.yaml`);
    const all = s.accounts!.flatMap((a) => a.faults.map((f) => f.kind));
    for (const k of RESULT_FAULT_KINDS) expect(all, k).toContain(k);
    expect(s.accounts!.some((a) => a.roles.length > 0)).toBe(true);
    expect(s.accounts!.some((a) => a.virusScans.length > 0)).toBe(true);
  });
});

describe('rejected, with file, line and field', () => {
  const ACC = (body: string): string => `accounts:\n  - name: a\n    credentials: [{ access_key_id: K, access_key_secret: S }]\n${body}`;
  const SCAN = (body: string): string => `virus_scans:\n${body}`;
  const cases: Array<[string, string, number, string, RegExp]> = [
    ['an account key at the top level beside accounts', `tasks: []\n${ACC('')}`, 1, 'tasks', /belongs inside each account/],
    ['a duplicate account name', `${ACC('')}  - name: a\n    credentials: [{ access_key_id: K2, access_key_secret: S }]\n`, 4, 'accounts[1].name', /already defined/],
    ['a bad account name', 'accounts:\n  - name: "a b"\n    credentials: [{ access_key_id: K, access_key_secret: S }]\n', 2, 'accounts[0].name', /letters, digits/],
    ['an account with neither credentials nor roles', 'accounts:\n  - name: a\n    tasks: []\n', 2, 'accounts[0]', /neither credentials nor roles/],
    ['an empty accounts list', 'accounts: []\n', 1, 'accounts', /must not be empty/],
    ['an unknown account key', ACC('    taskz: []\n'), 4, 'accounts[0].taskz', /unknown key "taskz"/],
    [
      'an access key in two accounts',
      `${ACC('')}  - name: b\n    credentials: [{ access_key_id: K, access_key_secret: S2 }]\n`,
      5,
      'accounts[1].credentials[0].access_key_id',
      /listed twice \(first at accounts\[0\]\.credentials\[0\]\)/,
    ],
    ['a duplicate task within an account', ACC('    tasks:\n      - { id: 1, status: init }\n      - { id: "01", status: init }\n'), 6, 'accounts[0].tasks[1].id', /already defined/],
    ['a malformed role ARN', 'roles:\n  - arn: arn:aws:iam::1:role/x\n', 2, 'roles[0].arn', /acs:ram::/],
    ['a duplicate role ARN', 'roles:\n  - arn: acs:ram::1:role/x\n  - arn: acs:ram::1:role/x\n', 3, 'roles[1].arn', /already defined at roles\[0\]/],
    ['a role trusting a key nobody has', 'roles:\n  - arn: acs:ram::1:role/x\n    assumable_by: [NOPE]\n', 3, 'roles[0].assumable_by[0]', /neither an access_key_id nor a role arn/],
    ['a max_session_duration below 15m', 'roles:\n  - arn: acs:ram::1:role/x\n    max_session_duration: 10m\n', 3, 'roles[0].max_session_duration', /at least 15m/],
    ['a lifetime without unit', 'roles:\n  - arn: acs:ram::1:role/x\n    lifetime: 5\n', 3, 'roles[0].lifetime', /duration/],
    ['an unknown action', 'faults:\n  - { kind: server_error, actions: [DescribeVulList] }\ntasks: []\n', 2, 'faults[0].actions[0]', /action must be one of/],
    ['a kind on an action it cannot bend', 'faults:\n  - { kind: empty_page, actions: [DescribeScanTaskProgress] }\ntasks: []\n', 2, 'faults[0].actions[0]', /only applies to ListVirusScanTask/],
    ['delta on another kind', 'faults:\n  - { kind: empty_page, delta: 2 }\ntasks: []\n', 2, 'faults[0].delta', /only applies to kind total_count_mismatch/],
    ['an empty actions list', 'faults:\n  - { kind: hang, actions: [] }\ntasks: []\n', 2, 'faults[0].actions', /must not be empty/],
    [
      'actions on a task’s fault',
      'tasks:\n  - id: 1\n    status: init\n    faults:\n      - { kind: hang, actions: [DescribeScanTaskProgress] }\n',
      5,
      'tasks[0].faults[0].actions',
      /account-level faults/,
    ],
    ['a scan-results kind on a task', 'tasks:\n  - id: 1\n    status: init\n    faults:\n      - { kind: empty_page }\n', 5, 'tasks[0].faults[0].kind', /only applies to account-level faults \(it bends ListVirusScanTask answers\)/],
    ['a second scan without at', SCAN('  - machines: []\n  - machines: []\n'), 3, 'virus_scans[1]', /needs `at`/],
    ['scans out of order', SCAN('  - { at: 10s, machines: [] }\n  - { at: 5s, machines: [] }\n'), 3, 'virus_scans[1].at', /later than the previous/],
    ['a duplicate scan task_id', SCAN(`  - { task_id: ${'a'.repeat(32)}, machines: [] }\n  - { at: 1s, task_id: ${'a'.repeat(32)}, machines: [] }\n`), 3, 'virus_scans[1].task_id', /already used/],
    ['a task_id that is not 32 hex digits', SCAN('  - { task_id: ABC, machines: [] }\n'), 2, 'virus_scans[0].task_id', /32 lowercase hexadecimal/],
    ['scan_path on a system scan', SCAN('  - { scan_path: [/x], machines: [] }\n'), 2, 'virus_scans[0].scan_path', /only applies to scan_type user/],
    ['a bad scan_type', SCAN('  - { scan_type: manual, machines: [] }\n'), 2, 'virus_scans[0].scan_type', /system, user/],
    ['a bad scan_time', SCAN('  - { scan_time: yesterday, machines: [] }\n'), 2, 'virus_scans[0].scan_time', /UTC time/],
    ['machines missing', SCAN('  - { at: 0s }\n'), 2, 'virus_scans[0].machines', /machines is required/],
    ['machines neither a list nor a mapping', SCAN('  - { machines: 3 }\n'), 2, 'virus_scans[0].machines', /list of machines or a generator/],
    [
      'an unknown machine key',
      SCAN('  - machines:\n      - uuid: u\n        instance_name: n\n        status: running\n        colour: red\n'),
      6,
      'virus_scans[0].machines[0].colour',
      /unknown key "colour"/,
    ],
    ['a machine status with the wrong name', SCAN('  - machines:\n      - { uuid: u, instance_name: n, status: done }\n'), 3, 'virus_scans[0].machines[0].status', /running, complete, failed, timeout/],
    ['a machine with status and timeline', SCAN('  - machines:\n      - { uuid: u, instance_name: n, status: running, timeline: [{ status: running }] }\n'), 3, 'virus_scans[0].machines[0].status', /not both/],
    ['a machine without uuid', SCAN('  - machines:\n      - { instance_name: n, status: running }\n'), 3, 'virus_scans[0].machines[0].uuid', /uuid is required/],
    ['risk_level without alerts', SCAN('  - machines:\n      - { uuid: u, instance_name: n, status: complete, risk_level: high }\n'), 3, 'virus_scans[0].machines[0].risk_level', /needs alerts/],
    ['a complete step with progress 50', SCAN('  - machines:\n      - uuid: u\n        instance_name: n\n        timeline: [{ status: complete, progress: 50 }]\n'), 5, 'virus_scans[0].machines[0].timeline[0].progress', /100/],
    ['a running step before the last without for', SCAN('  - machines:\n      - uuid: u\n        instance_name: n\n        timeline: [{ status: running }, { status: complete }]\n'), 5, 'virus_scans[0].machines[0].timeline[0]', /needs `for`/],
    ['a generator of too many machines', SCAN('  - machines: { count: 200000 }\n'), 2, 'virus_scans[0].machines.count', /at most 100000/],
    ['generator rates above 1 together', SCAN('  - machines: { count: 5, failed_rate: 0.7, timeout_rate: 0.5 }\n'), 2, 'virus_scans[0].machines.timeout_rate', /must not exceed 1/],
    ['an unknown generator key', SCAN('  - machines: { count: 5, colour: red }\n'), 2, 'virus_scans[0].machines.colour', /unknown key "colour"/],
    ['run_time_max below run_time_min', SCAN('  - machines: { count: 5, run_time_min: 10s, run_time_max: 1s }\n'), 2, 'virus_scans[0].machines.run_time_max', /not be below/],
    ['a bad no_scan_data', 'no_scan_data: none\ntasks: []\n', 1, 'no_scan_data', /absent, empty/],
    ['virus_scans not a list', 'virus_scans: 3\n', 1, 'virus_scans', /must be a list/],
  ];
  for (const [what, text, line, path, message] of cases) {
    it(what, () => {
      const r = rejection(text);
      expect(r.line, r.all).toBe(line);
      expect(r.col, r.all).toBeGreaterThan(0);
      expect(r.path, r.all).toBe(path);
      expect(r.message, r.all).toMatch(message);
    });
  }

  it('reports problems in several accounts at once', () => {
    try {
      parseScenario(
        'accounts:\n  - name: a\n    credentials: [{ access_key_id: K, access_key_secret: S }]\n    qps_limit: -1\n  - name: b\n    credentials: [{ access_key_id: K2, access_key_secret: S }]\n    no_scan_data: maybe\n',
        'many.yaml',
      );
      expect.unreachable();
    } catch (e) {
      expect((e as ScenarioError).issues.map((i) => [i.line, i.field])).toEqual([
        [4, 'accounts[0].qps_limit'],
        [7, 'accounts[1].no_scan_data'],
      ]);
    }
  });
});
