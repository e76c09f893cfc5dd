/**
 * Scenario files: YAML in, a validated Scenario out. Every rejection names
 * the file and the line, because a scenario is edited by hand and "invalid
 * input" with no position wastes the reader's time.
 */
import { YamlFile } from '../yaml/document.js';
import { readBoundedFile } from '../yaml/file.js';
import { YamlError, type YamlIssue } from '../yaml/issues.js';
import { z } from 'zod';
import { parseDuration } from '../config/duration.js';
import {
  DEFAULT_LATENCY_MS,
  DEFAULT_SEED,
  DEFAULT_UNDOCUMENTED_STATUS,
  DEMO_CREDENTIALS,
  FAULT_KINDS,
  RESULT_FAULT_KINDS,
  SCAN_STATUSES,
  TARGET_INFO_FORMATS,
  TARGET_TYPES,
  type AccountFaultSpec,
  type FaultSpec,
  type KeyPair,
  type Scenario,
  type ScanStatus,
  type ScenarioTask,
} from './model.js';
import { canonicalTaskId } from '../config/taskId.js';
import { accountSchemas, checkFaultActions, checkScenario, normaliseAccounts } from './scenarioAccounts.js';

export { statusAt, settlesAtMs } from './timeline.js';

/** A problem in a scenario: file, line, column, field (`tasks[2].timeline[0].for`) and message. */
export type ScenarioIssue = YamlIssue;

export class ScenarioError extends YamlError {
  override name = 'ScenarioError';
}

/** Generated machine lists keep files small; a hand-written one of 100,000 machines still fits. */
export const MAX_SCENARIO_BYTES = 32 * 1024 * 1024;

// --- field schemas -------------------------------------------------------
// The YAML is parsed with intAsBigInt so task IDs above 2^53 stay exact;
// every other integer field therefore arrives as a bigint and is narrowed here.

const toNumber = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);

const numberField = (what: string) =>
  z.preprocess(toNumber, z.number({ invalid_type_error: `${what} must be a number`, required_error: `${what} is required` }));

const integerField = (what: string) => numberField(what).pipe(z.number().int(`${what} must be an integer`));

/** Bare numbers are refused (except 0): `for: 10` would silently mean 10 ms to one reader and 10 s to another. */
const durationField = z.unknown().transform((v, ctx): number => {
  if (v === 0 || v === 0n) return 0;
  const ms = typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `expected a duration such as 500ms, 10s or 2m, got ${describe(v)}`,
    });
    return z.NEVER;
  }
  return ms;
});

/** Target IDs and names are strings in the API; a YAML author may well write a group ID unquoted. */
const stringish = (what: string) =>
  z.unknown().transform((v, ctx): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'bigint' || (typeof v === 'number' && Number.isFinite(v))) return String(v);
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: v === undefined ? `${what} is required` : `${what} must be a string, got ${describe(v)}` });
    return z.NEVER;
  });

const nonEmptyString = (what: string) =>
  z.string({ invalid_type_error: `${what} must be a string`, required_error: `${what} is required` }).min(1, `${what} must not be empty`);

function oneOf<T extends string>(values: readonly T[], what: string) {
  return z.unknown().transform((v, ctx): T => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    const hint =
      typeof v === 'string' ? values.find((x) => x.toLowerCase() === v.toLowerCase()) : undefined;
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message:
        `${what} must be one of ${values.join(', ')}, got ${describe(v)}` + (hint ? ` (the API spells it ${hint})` : ''),
    });
    return z.NEVER;
  });
}

const taskIdField = z.unknown().transform((v, ctx): string => {
  const id = canonicalTaskId(v);
  if (id === undefined) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `task id must be a positive integer up to 2^63-1 (unquoted or as a string of digits), got ${describe(v)}`,
    });
    return z.NEVER;
  }
  return id;
});

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

const faultSchema = z
  .object({
    kind: oneOf([...FAULT_KINDS, ...RESULT_FAULT_KINDS], 'kind'),
    rate: numberField('rate').pipe(z.number().min(0, 'rate must be between 0 and 1').max(1, 'rate must be between 0 and 1')).optional(),
    times: integerField('times').pipe(z.number().positive('times must be at least 1')).optional(),
    from: durationField.optional(),
    to: durationField.optional(),
    latency: durationField.optional(),
    status: nonEmptyString('status').optional(),
    http_status: integerField('http_status').pipe(z.number().min(400, 'http_status must be 400..599').max(599, 'http_status must be 400..599')).optional(),
    code: nonEmptyString('code').optional(),
    message: z.string().optional(),
    actions: z.array(z.string({ invalid_type_error: 'an action must be a string' }), { invalid_type_error: 'actions must be a list' }).min(1, 'actions must not be empty').optional(),
    delta: integerField('delta').optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    checkFaultActions(f, ctx);
    // A field that the kind ignores is most likely a mistake the author wants to hear about.
    const only: Array<[keyof typeof f, string]> = [
      ['latency', 'latency'],
      ['status', 'undocumented_status'],
      ['http_status', 'api_error'],
      ['code', 'api_error'],
      ['message', 'api_error'],
    ];
    for (const [field, kind] of only) {
      if (f[field] !== undefined && f.kind !== kind) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message: `${field} only applies to kind ${kind}` });
      }
    }
    if (f.kind === 'api_error' && f.code === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['code'], message: 'kind api_error needs a code' });
    }
    if (f.from !== undefined && f.to !== undefined && f.to <= f.from) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['to'], message: 'to must be later than from' });
    }
  })
  .transform((f): AccountFaultSpec => {
    const spec: { -readonly [K in keyof AccountFaultSpec]: AccountFaultSpec[K] } = { kind: f.kind };
    if (f.rate !== undefined) spec.rate = f.rate;
    if (f.times !== undefined) spec.times = f.times;
    if (f.from !== undefined) spec.fromMs = f.from;
    if (f.to !== undefined) spec.toMs = f.to;
    if (f.kind === 'latency') spec.latencyMs = f.latency ?? DEFAULT_LATENCY_MS;
    if (f.kind === 'undocumented_status') spec.status = f.status ?? DEFAULT_UNDOCUMENTED_STATUS;
    if (f.kind === 'api_error') {
      spec.httpStatus = f.http_status ?? 400;
      spec.code = f.code!;
      spec.message = f.message ?? f.code!;
    }
    if (f.actions !== undefined) spec.actions = f.actions;
    if (f.kind === 'total_count_mismatch') spec.delta = f.delta ?? 1;
    return spec;
  });

const targetSchema = z
  .object({
    type: oneOf(TARGET_TYPES, 'type'),
    target: stringish('target').pipe(z.string().min(1, 'target must not be empty')),
    name: stringish('name'),
  })
  .strict();

const stepSchema = z
  .object({
    status: oneOf(SCAN_STATUSES, 'status'),
    for: durationField.optional(),
  })
  .strict();

const taskSchema = z
  .object({
    id: taskIdField,
    name: stringish('name').optional(),
    targets: z.array(targetSchema, { invalid_type_error: 'targets must be a list' }).default([]),
    status: oneOf(SCAN_STATUSES, 'status').optional(),
    timeline: z.array(stepSchema, { invalid_type_error: 'timeline must be a list' }).optional(),
    target_info_format: oneOf(TARGET_INFO_FORMATS, 'target_info_format').optional(),
    faults: z.array(faultSchema, { invalid_type_error: 'faults must be a list' }).default([]),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.status !== undefined && t.timeline !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['status'], message: 'give either status or timeline, not both' });
    } else if (t.status === undefined && t.timeline === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'a task needs a timeline (or a fixed status)' });
    }
    if (t.timeline !== undefined) {
      if (t.timeline.length === 0) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['timeline'], message: 'timeline needs at least one step' });
      }
      t.timeline.forEach((step, i) => {
        if (i < t.timeline!.length - 1 && step.for === undefined) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['timeline', i],
            message: 'every step but the last needs `for` (the last one holds forever)',
          });
        }
      });
    }
  })
  .transform((t): ScenarioTask => {
    const timeline = t.timeline
      ? t.timeline.map((s) => (s.for === undefined ? { status: s.status } : { status: s.status, forMs: s.for }))
      : [{ status: t.status as ScanStatus }];
    return {
      id: t.id,
      ...(t.name !== undefined ? { name: t.name } : {}),
      targets: t.targets.map((x) => ({ type: x.type, name: x.name, target: x.target })),
      timeline,
      // Kinds of the scan-results actions are refused in a task (checkTasks).
      faults: t.faults as FaultSpec[],
      ...(t.target_info_format !== undefined ? { targetInfoFormat: t.target_info_format } : {}),
    };
  });

const credentialSchema = z
  .object({
    access_key_id: nonEmptyString('access_key_id'),
    access_key_secret: nonEmptyString('access_key_secret'),
    security_token: nonEmptyString('security_token').optional(),
  })
  .strict()
  .transform(
    (c): KeyPair => ({
      accessKeyId: c.access_key_id,
      accessKeySecret: c.access_key_secret,
      ...(c.security_token !== undefined ? { securityToken: c.security_token } : {}),
    }),
  );

/**
 * Top-level keys starting with `x-` are ignored (as in docker-compose), so a
 * file can hold YAML anchors for servers it reuses across tasks.
 */
const dropExtensionKeys = (v: unknown): unknown => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('x-')));
};

const ext = accountSchemas({ durationField, numberField, integerField, stringish, nonEmptyString, oneOf, describe, faultSchema, taskSchema, credentialSchema });

const scenarioObject = z
  .object(
    {
      ...ext.accountFields,
      seed: integerField('seed').pipe(z.number().safe('seed is too large')).optional(),
      accounts: ext.accounts,
    },
    { invalid_type_error: 'a scenario must be a mapping' },
  )
  .strict()
  .superRefine((s, ctx) => checkScenario(s, ctx));

const scenarioSchema = z.preprocess(dropExtensionKeys, scenarioObject);

/** The YAML shape (snake_case), for buildScenario callers. */
export type ScenarioInput = Record<string, unknown>;
type ScenarioOutput = z.output<typeof scenarioObject>;

// --- entry points --------------------------------------------------------

/** Parses and validates scenario YAML; `fileName` is only used in messages. */
export function parseScenario(text: string, fileName: string): Scenario {
  const fail = (issues: readonly YamlIssue[]) => new ScenarioError(issues);
  const yaml = YamlFile.parse(text, fileName, { intAsBigInt: true, maxAliasCount: 1000 });
  yaml.throwIfIssues(fail);
  if (yaml.empty) {
    yaml.addFile('the scenario is empty');
    yaml.throwIfIssues(fail);
  }
  const raw = yaml.toJS();
  yaml.throwIfIssues(fail);
  const result = scenarioSchema.safeParse(raw);
  if (!result.success) {
    yaml.addZod(result.error.issues);
    yaml.throwIfIssues(fail);
  }
  return normalise(result.data!, fileName);
}

/** Validates a scenario given as a plain object (snake_case, as in YAML); errors carry paths, not lines. */
export function buildScenario(input: unknown, source = '<inline>'): Scenario {
  const result = scenarioSchema.safeParse(input);
  if (!result.success) {
    const noText = YamlFile.parse('', source);
    noText.addZod(result.error.issues);
    throw new ScenarioError(noText.issues);
  }
  return normalise(result.data, source);
}

export async function loadScenarioFile(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = (await readBoundedFile(path, MAX_SCENARIO_BYTES)).toString('utf8');
  } catch (e) {
    throw new ScenarioError([{ file: path, field: '', message: `cannot read: ${(e as Error).message}` }]);
  }
  return parseScenario(text, path);
}

function normalise(s: ScenarioOutput, source: string): Scenario {
  const accounts = normaliseAccounts(s, { credentials: [{ ...DEMO_CREDENTIALS }], targetInfoFormat: s.target_info_format ?? 'string' });
  const first = accounts[0]!;
  return {
    source,
    credentials: first.credentials,
    targetInfoFormat: first.targetInfoFormat,
    ...(first.qpsLimit !== undefined ? { qpsLimit: first.qpsLimit } : {}),
    seed: s.seed ?? DEFAULT_SEED,
    faults: first.faults,
    tasks: first.tasks,
    accounts,
  };
}
