import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildScenario, DEMO_CREDENTIALS, loadScenarioFile, parseScenario, ScenarioError, statusAt } from '../../src/simulator/index.js';
import { fixture } from './helpers.js';

const CONFIG = fileURLToPath(new URL('../../config/', import.meta.url));

/** The first issue of a rejected scenario, as "line: message". */
function rejection(text: string): { line: number; message: string; all: string } {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    const err = e as ScenarioError;
    expect(err.message).toMatch(/^bad\.yaml(:\d+:\d+)?: /);
    return { line: err.issues[0]!.line ?? 0, message: err.issues[0]!.message, all: err.message };
  }
  throw new Error('the scenario was accepted');
}

const TASK = `tasks:
  - id: 1
    status: Success
`;

describe('parseScenario: accepted', () => {
  it('fills defaults: demo credentials, string TargetInfo, a fixed seed', () => {
    const s = parseScenario(TASK, 'ok.yaml');
    expect(s.credentials).toEqual([{ ...DEMO_CREDENTIALS }]);
    expect(s.targetInfoFormat).toBe('string');
    expect(s.qpsLimit).toBeUndefined();
    expect(typeof s.seed).toBe('number');
    expect(s.faults).toEqual([]);
    expect(s.tasks).toEqual([{ id: '1', targets: [], timeline: [{ status: 'Success' }], faults: [] }]);
    expect(s.source).toBe('ok.yaml');
  });

  it('keeps task IDs exact as canonical decimal strings', () => {
    const s = parseScenario(
      `tasks:
  - { id: 9007199254740993, status: init }
  - { id: 9007199254740992, status: init }
  - { id: "0042", status: init }
  - { id: 9223372036854775807, status: init }
`,
      'ids.yaml',
    );
    expect(s.tasks.map((t) => t.id)).toEqual(['9007199254740993', '9007199254740992', '42', '9223372036854775807']);
  });

  it('normalises every option', () => {
    const s = parseScenario(
      `credentials:
  - { access_key_id: AK1, access_key_secret: S1 }
  - { access_key_id: STS.AK2, access_key_secret: S2, security_token: T2 }
target_info_format: array
qps_limit: 20
seed: 42
faults: [{ kind: latency, latency: 1m30s }]
x-anchors:
  - &h { type: uuid, target: 503201a7-14c6-4280-801b-1169ed42a001, name: host001 }
tasks:
  - id: 282832
    name: example
    targets: [*h, { type: groupId, target: 8812, name: web }]
    target_info_format: string
    timeline:
      - { status: init, for: 500ms }
      - { status: Processing, for: 2m }
      - { status: Success }
    faults:
      - { kind: server_error, rate: 0.3 }
      - { kind: throttling, times: 2 }
      - { kind: no_permission, from: 10s, to: 40s }
      - { kind: undocumented_status }
      - { kind: api_error, code: Foo }
`,
      'full.yaml',
    );
    expect(s.credentials).toEqual([
      { accessKeyId: 'AK1', accessKeySecret: 'S1' },
      { accessKeyId: 'STS.AK2', accessKeySecret: 'S2', securityToken: 'T2' },
    ]);
    expect(s).toMatchObject({ targetInfoFormat: 'array', qpsLimit: 20, seed: 42, faults: [{ kind: 'latency', latencyMs: 90_000 }] });
    expect(s.tasks[0]).toEqual({
      id: '282832',
      name: 'example',
      targets: [
        { type: 'uuid', name: 'host001', target: '503201a7-14c6-4280-801b-1169ed42a001' },
        { type: 'groupId', name: 'web', target: '8812' },
      ],
      targetInfoFormat: 'string',
      timeline: [
        { status: 'init', forMs: 500 },
        { status: 'Processing', forMs: 120_000 },
        { status: 'Success' },
      ],
      faults: [
        { kind: 'server_error', rate: 0.3 },
        { kind: 'throttling', times: 2 },
        { kind: 'no_permission', fromMs: 10_000, toMs: 40_000 },
        { kind: 'undocumented_status', status: 'Paused' },
        { kind: 'api_error', code: 'Foo', httpStatus: 400, message: 'Foo' },
      ],
    });
  });

  it('buildScenario validates a plain object', () => {
    const s = buildScenario({ tasks: [{ id: '7', status: 'Failed' }] });
    expect(s.tasks[0]!.id).toBe('7');
    expect(() => buildScenario({ tasks: [{ id: '7', status: 'failed' }] })).toThrow(/tasks\[0\]\.status: .*Failed/);
  });
});

describe('parseScenario: every rejection names the file and line', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['YAML syntax (bad indentation)', 'tasks:\n  - id: 1\n   status: init\n', 3, /./],
    ['a duplicate key', 'tasks:\n  - id: 1\n    status: init\n    status: Success\n', 4, /unique|duplicate/i],
    ['an unknown top-level key', `seeed: 1\n${TASK}`, 1, /unknown key "seeed"/],
    ['an unknown task key', 'tasks:\n  - id: 1\n    timline: []\n', 3, /unknown key "timline"/],
    ['a status with the wrong casing', 'tasks:\n  - id: 1\n    timeline:\n      - { status: processing }\n', 4, /spells it Processing/],
    ['a duration without a unit', 'tasks:\n  - id: 1\n    timeline:\n      - { status: init, for: 10 }\n      - { status: Success }\n', 4, /duration/],
    ['a malformed duration', 'tasks:\n  - id: 1\n    timeline:\n      - { status: init, for: 10 sec }\n      - { status: Success }\n', 4, /duration/],
    ['a step without `for` before the last', 'tasks:\n  - id: 1\n    timeline:\n      - { status: init }\n      - { status: Success }\n', 4, /for/],
    ['an empty timeline', 'tasks:\n  - id: 1\n    timeline: []\n', 3, /at least one step/],
    ['status and timeline together', 'tasks:\n  - id: 1\n    status: init\n    timeline: [{ status: init }]\n', 3, /not both/],
    ['neither status nor timeline', 'tasks:\n  - id: 1\n', 2, /timeline/],
    ['a duplicate task', 'tasks:\n  - { id: 5, status: init }\n  - { id: "005", status: init }\n', 3, /already defined/],
    ['a task ID above 2^63-1', 'tasks:\n  - { id: 9223372036854775808, status: init }\n', 2, /2\^63-1/],
    ['a negative task ID', 'tasks:\n  - { id: -1, status: init }\n', 2, /positive/],
    ['a fractional task ID', 'tasks:\n  - { id: 1.5, status: init }\n', 2, /task id/],
    ['a missing task ID', 'tasks:\n  - { status: init }\n', 2, /task id/],
    ['an unknown fault kind', 'tasks:\n  - id: 1\n    status: init\n    faults:\n      - { kind: explode }\n', 5, /kind must be one of/],
    ['a rate above 1', 'tasks:\n  - id: 1\n    status: init\n    faults:\n      - { kind: hang, rate: 1.5 }\n', 5, /rate/],
    ['times of 0', 'tasks:\n  - id: 1\n    status: init\n    faults:\n      - { kind: hang, times: 0 }\n', 5, /times/],
    ['a window that ends before it starts', 'tasks:\n  - id: 1\n    status: init\n    faults:\n      - { kind: hang, from: 10s, to: 5s }\n', 5, /later/],
    ['an option of another kind', 'tasks:\n  - id: 1\n    status: init\n    faults:\n      - { kind: server_error, latency: 1s }\n', 5, /only applies/],
    ['api_error without a code', 'faults:\n  - { kind: api_error }\ntasks: []\n', 2, /code/],
    ['a bad target type', 'tasks:\n  - id: 1\n    status: init\n    targets:\n      - { type: host, target: x, name: y }\n', 5, /uuid, groupId/],
    ['a target without a name', 'tasks:\n  - id: 1\n    status: init\n    targets:\n      - { type: uuid, target: x }\n', 5, /name/],
    ['a bad target_info_format', `target_info_format: json\n${TASK}`, 1, /string, array/],
    ['empty credentials', `credentials: []\n${TASK}`, 1, /credentials/],
    ['a credential without a secret', `credentials:\n  - { access_key_id: AK }\n${TASK}`, 2, /access_key_secret/],
    ['a negative qps_limit', `qps_limit: -1\n${TASK}`, 1, /positive/],
    ['no tasks at all', 'seed: 1\n', 1, /tasks/],
    ['tasks that is not a list', 'tasks: 3\n', 1, /list/],
    ['a document that is not a mapping', '- 1\n- 2\n', 1, /mapping/],
    ['an empty file (no line to name)', '', 0, /empty/],
  ];
  for (const [what, text, line, message] of cases) {
    it(what, () => {
      const r = rejection(text);
      expect(r.line, r.all).toBe(line);
      expect(r.message).toMatch(message);
    });
  }

  it('reports several problems at once', () => {
    try {
      parseScenario('tasks:\n  - { id: 1, status: nope }\n  - { id: 2, status: init, faults: [{ kind: hang, rate: 2 }] }\n', 'many.yaml');
      expect.unreachable();
    } catch (e) {
      const err = e as ScenarioError;
      expect(err.issues.map((i) => i.line)).toEqual([2, 3]);
      expect(err.message.split('\n')).toHaveLength(2);
    }
  });

  it('loadScenarioFile names a file it cannot read', async () => {
    await expect(loadScenarioFile('/nonexistent/scenario.yaml')).rejects.toThrow(/\/nonexistent\/scenario\.yaml: cannot read/);
  });
});

describe('shipped scenario files', () => {
  it('config/demo-scenario.yaml: a dozen tasks through every status within about two minutes', async () => {
    const s = await loadScenarioFile(`${CONFIG}demo-scenario.yaml`);
    expect(s.tasks.length).toBeGreaterThanOrEqual(10);
    const at = (ms: number) => new Set(s.tasks.map((t) => statusAt(t, ms)));
    expect(at(0).has('init')).toBe(true);
    expect(at(30_000).has('Processing')).toBe(true);
    const end = s.tasks.map((t) => statusAt(t, 120_000));
    expect(end).toContain('Success');
    expect(end).toContain('Failed');
    expect(end).toContain('Processing'); // the stuck one
    expect(s.tasks.some((t) => t.id === '9007199254740993')).toBe(true);
    expect(s.tasks.some((t) => t.faults.some((f) => f.kind === 'no_permission'))).toBe(true);
    expect(s.tasks.some((t) => t.faults.some((f) => f.kind === 'server_error' && f.rate !== undefined))).toBe(true);
    expect(s.tasks.some((t) => t.targetInfoFormat === 'array')).toBe(true);
    expect(s.tasks.some((t) => t.targetInfoFormat === 'string')).toBe(true);
    const servers = new Set(s.tasks.flatMap((t) => t.targets.filter((x) => x.type === 'uuid').map((x) => x.target)));
    const groups = new Set(s.tasks.flatMap((t) => t.targets.filter((x) => x.type === 'groupId').map((x) => x.target)));
    expect(servers.size).toBeGreaterThanOrEqual(24);
    expect(groups.size).toBeGreaterThanOrEqual(2);
  });

  it('config/simulator.example.yaml shows every fault kind', async () => {
    const s = await loadScenarioFile(`${CONFIG}simulator.example.yaml`);
    const kinds = new Set(s.tasks.flatMap((t) => t.faults.map((f) => f.kind)));
    const { FAULT_KINDS } = await import('../../src/simulator/index.js');
    for (const k of FAULT_KINDS) expect(kinds.has(k), k).toBe(true);
  });

  it.each(['timeline.yaml', 'faults.yaml', 'throttle.yaml', 'credentials.yaml'])('test/fixtures/scenarios/%s', async (name) => {
    const s = await loadScenarioFile(fixture(name));
    expect(s.tasks.length).toBeGreaterThan(0);
  });
});
