/**
 * Scenario schema for accounts, STS roles and virus scans. The field helpers
 * (durations, enums, faults, tasks, key pairs) are those of scenario.ts,
 * passed in, so that every rejection reads the same and this file needs no
 * import of scenario.ts.
 *
 *   accounts:                       # several accounts; without it the top level is the one account
 *     - name: prod
 *       credentials: [...]          # key pairs of this account
 *       qps_limit: 10
 *       faults: [...]               # account-level; `actions` narrows a fault to some actions
 *       tasks: [...]                # DescribeScanTaskProgress tasks
 *       roles: [...]                # STS roles in this account
 *       virus_scans: [...]          # the latest-scan history (GetVirusScanLatestTaskStatistic, ListVirusScanTask)
 *       no_scan_data: absent        # or empty: how "never scanned" answers
 */
import { z } from 'zod';
import type { AccountSpec, RoleSpec } from './accounts.js';
import { DEFAULT_ACCOUNT, DEFAULT_MAX_SESSION_DURATION_S } from './accounts.js';
import { ALL_ACTIONS } from './actions.js';
import { actionsOfKind } from './faults.js';
import { RESULT_FAULT_KINDS, TARGET_INFO_FORMATS, type AccountFaultSpec, type TargetInfoFormat, type ScenarioTask } from './model.js';
import type { KeyPair } from './signature.js';
import { MIN_DURATION_S, ROLE_ARN_PATTERN } from './sts.js';
import {
  MACHINE_STATUSES,
  NO_SCAN_DATA_FORMS,
  RISK_LEVELS,
  SCAN_TYPES,
  type MachineGenerator,
  type MachineSpec,
  type MachineStatus,
  type MachineStep,
  type NoScanData,
  type RiskLevel,
  type ScanType,
  type VirusScanSpec,
} from './virusScan.js';

type Field<T> = z.ZodType<T, z.ZodTypeDef, unknown>;

export interface FieldKit {
  readonly durationField: Field<number>;
  readonly numberField: (what: string) => Field<number>;
  readonly integerField: (what: string) => Field<number>;
  readonly stringish: (what: string) => Field<string>;
  readonly nonEmptyString: (what: string) => z.ZodString;
  readonly oneOf: <T extends string>(values: readonly T[], what: string) => Field<T>;
  readonly describe: (v: unknown) => string;
  readonly faultSchema: Field<AccountFaultSpec>;
  readonly taskSchema: Field<ScenarioTask>;
  readonly credentialSchema: Field<KeyPair>;
}

/** Keys of an account that, in the multi-account form, may not also stand at the top level. */
export const ACCOUNT_ONLY_KEYS = ['credentials', 'qps_limit', 'faults', 'tasks', 'roles', 'virus_scans', 'no_scan_data'] as const;

const HEX32 = /^[0-9a-f]{32}$/;
const ACCOUNT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_GENERATED_MACHINES = 100_000;

/** The parsed (snake_case) fields an account has, in either form. */
export interface RawAccount {
  readonly name?: string;
  readonly credentials?: readonly KeyPair[];
  readonly target_info_format?: TargetInfoFormat;
  readonly qps_limit?: number;
  readonly faults?: readonly AccountFaultSpec[];
  readonly tasks?: readonly ScenarioTask[];
  readonly roles?: readonly RoleSpec[];
  readonly virus_scans?: readonly VirusScanSpec[];
  readonly no_scan_data?: NoScanData;
}

/** Re-reports a nested schema's issues from inside a transform, keeping paths and the unknown-key wording. */
function forward(ctx: z.RefinementCtx, issues: readonly z.ZodIssue[]): void {
  for (const issue of issues) {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      const key = issue.keys[0]!;
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [...issue.path, key],
        message: issue.keys.length === 1 ? `unknown key ${JSON.stringify(key)}` : `unknown keys ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`,
      });
    } else {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...issue.path], message: issue.message });
    }
  }
}

export function accountSchemas(f: FieldKit) {
  const rate = (what: string) =>
    f.numberField(what).pipe(z.number().min(0, `${what} must be between 0 and 1`).max(1, `${what} must be between 0 and 1`));
  const hex32 = (what: string) =>
    f.stringish(what).pipe(z.string().regex(HEX32, `${what} must be 32 lowercase hexadecimal digits`));

  const stepSchema = z
    .object({
      status: f.oneOf(MACHINE_STATUSES, 'status'),
      for: f.durationField.optional(),
      progress: f.integerField('progress').pipe(z.number().min(0, 'progress must be 0..100').max(100, 'progress must be 0..100')).optional(),
    })
    .strict()
    .superRefine((s, ctx) => {
      if (s.progress === undefined) return;
      if (s.status === 'complete' && s.progress !== 100) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['progress'], message: 'a complete machine shows progress 100' });
      }
      if (s.status === 'running' && s.progress > 99) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['progress'], message: 'a running machine shows progress 0..99' });
      }
    });

  const machineSchema = z
    .object({
      uuid: f.stringish('uuid').pipe(z.string().min(1, 'uuid must not be empty')),
      instance_name: f.stringish('instance_name'),
      internet_ip: f.stringish('internet_ip').optional(),
      intranet_ip: f.stringish('intranet_ip').optional(),
      subtask_id: hex32('subtask_id').optional(),
      status: f.oneOf(MACHINE_STATUSES, 'status').optional(),
      timeline: z.array(stepSchema, { invalid_type_error: 'timeline must be a list' }).optional(),
      alerts: f.integerField('alerts').pipe(z.number().min(0, 'alerts must not be negative')).optional(),
      risk_level: f.oneOf(RISK_LEVELS, 'risk_level').optional(),
    })
    .strict()
    .superRefine((m, ctx) => {
      if (m.status !== undefined && m.timeline !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['status'], message: 'give either status or timeline, not both' });
      } else if (m.status === undefined && m.timeline === undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'a machine needs a timeline (or a fixed status)' });
      }
      if (m.timeline !== undefined) {
        if (m.timeline.length === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['timeline'], message: 'timeline needs at least one step' });
        m.timeline.forEach((step, i) => {
          if (i < m.timeline!.length - 1 && step.for === undefined) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['timeline', i], message: 'every step but the last needs `for` (the last one holds forever)' });
          }
        });
      }
      if (m.risk_level !== undefined && !(m.alerts !== undefined && m.alerts > 0)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['risk_level'], message: 'risk_level needs alerts above 0' });
      }
    })
    .transform((m): MachineSpec => {
      const timeline: MachineStep[] = m.timeline
        ? m.timeline.map((s) => ({
            status: s.status as MachineStatus,
            ...(s.for !== undefined ? { forMs: s.for } : {}),
            ...(s.progress !== undefined ? { progress: s.progress } : {}),
          }))
        : [{ status: m.status as MachineStatus }];
      const alerts = m.alerts ?? 0;
      return {
        uuid: m.uuid,
        instanceName: m.instance_name,
        ...(m.internet_ip !== undefined ? { internetIp: m.internet_ip } : {}),
        ...(m.intranet_ip !== undefined ? { intranetIp: m.intranet_ip } : {}),
        ...(m.subtask_id !== undefined ? { subtaskId: m.subtask_id } : {}),
        timeline,
        alerts,
        ...(alerts > 0 ? { riskLevel: (m.risk_level ?? 'medium') as RiskLevel } : {}),
      };
    });

  const generatorSchema = z
    .object({
      count: f.integerField('count').pipe(
        z.number().min(0, 'count must not be negative').max(MAX_GENERATED_MACHINES, `count must be at most ${MAX_GENERATED_MACHINES}`),
      ),
      name_prefix: z.string({ invalid_type_error: 'name_prefix must be a string' }).optional(),
      run_time_min: f.durationField.optional(),
      run_time_max: f.durationField.optional(),
      failed_rate: rate('failed_rate').optional(),
      timeout_rate: rate('timeout_rate').optional(),
      suspicious_rate: rate('suspicious_rate').optional(),
      max_alerts: f.integerField('max_alerts').pipe(z.number().min(1, 'max_alerts must be at least 1')).optional(),
    })
    .strict()
    .superRefine((g, ctx) => {
      if ((g.failed_rate ?? 0) + (g.timeout_rate ?? 0) > 1) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['timeout_rate'], message: 'failed_rate + timeout_rate must not exceed 1' });
      }
      if (g.run_time_min !== undefined && g.run_time_max !== undefined && g.run_time_max < g.run_time_min) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['run_time_max'], message: 'run_time_max must not be below run_time_min' });
      }
    })
    .transform((g): MachineGenerator => {
      const min = g.run_time_min ?? Math.min(5_000, g.run_time_max ?? 5_000);
      return {
        count: g.count,
        namePrefix: g.name_prefix ?? 'host-',
        runMinMs: min,
        runMaxMs: g.run_time_max ?? Math.max(min, 60_000),
        failedRate: g.failed_rate ?? 0,
        timeoutRate: g.timeout_rate ?? 0,
        suspiciousRate: g.suspicious_rate ?? 0,
        maxAlerts: g.max_alerts ?? 5,
      };
    });

  const machinesField = z.unknown().transform((v, ctx): readonly MachineSpec[] | MachineGenerator => {
    if (Array.isArray(v)) {
      const r = z.array(machineSchema).safeParse(v);
      if (r.success) return r.data;
      forward(ctx, r.error.issues);
      return z.NEVER;
    }
    if (v !== null && typeof v === 'object') {
      const r = generatorSchema.safeParse(v);
      if (r.success) return r.data;
      forward(ctx, r.error.issues);
      return z.NEVER;
    }
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: v === undefined ? 'machines is required' : `machines must be a list of machines or a generator mapping ({count: N, ...}), got ${f.describe(v)}`,
    });
    return z.NEVER;
  });

  const isoTime = z.unknown().transform((v, ctx): number => {
    const t = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(t)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a UTC time such as 2025-05-01T08:00:00Z, got ${f.describe(v)}` });
      return z.NEVER;
    }
    return t;
  });

  const scanSchema = z
    .object({
      at: f.durationField.optional(),
      task_id: hex32('task_id').optional(),
      scan_type: f.oneOf(SCAN_TYPES, 'scan_type').optional(),
      scan_path: z.array(f.stringish('scan_path'), { invalid_type_error: 'scan_path must be a list' }).optional(),
      pending: f.durationField.optional(),
      scan_time: isoTime.optional(),
      machines: machinesField,
    })
    .strict()
    .superRefine((s, ctx) => {
      if (s.scan_path !== undefined && s.scan_type !== 'user') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['scan_path'], message: 'scan_path only applies to scan_type user' });
      }
    })
    .transform((s): { at?: number; spec: VirusScanSpec } => ({
      ...(s.at !== undefined ? { at: s.at } : {}),
      spec: {
        atMs: s.at ?? 0,
        ...(s.task_id !== undefined ? { taskId: s.task_id } : {}),
        scanType: (s.scan_type ?? 'system') as ScanType,
        scanPaths: s.scan_path ?? [],
        pendingMs: s.pending ?? 0,
        ...(s.scan_time !== undefined ? { scanTimeMs: s.scan_time } : {}),
        machines: s.machines,
      },
    }));

  const virusScansSchema = z
    .array(scanSchema, { invalid_type_error: 'virus_scans must be a list' })
    .superRefine((scans, ctx) => {
      let previous: number | undefined;
      const seen = new Map<string, number>();
      scans.forEach(({ at, spec }, i) => {
        if (i > 0 && at === undefined) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i], message: 'every scan but the first needs `at` (when it replaces the one before)' });
        }
        if (at !== undefined && previous !== undefined && at <= previous) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'at'], message: 'at must be later than the previous scan' });
        }
        previous = at ?? previous ?? 0;
        if (spec.taskId === undefined) return;
        const first = seen.get(spec.taskId);
        if (first !== undefined) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'task_id'], message: `task_id ${spec.taskId} is already used by virus_scans[${first}]` });
        } else seen.set(spec.taskId, i);
      });
    })
    .transform((scans): VirusScanSpec[] => scans.map((s) => s.spec));

  const roleSchema = z
    .object({
      arn: f.nonEmptyString('arn').regex(ROLE_ARN_PATTERN, 'arn must look like acs:ram::<account id>:role/<role name>'),
      external_id: f.nonEmptyString('external_id').optional(),
      assumable_by: z.array(f.nonEmptyString('assumable_by entry'), { invalid_type_error: 'assumable_by must be a list' }).min(1, 'assumable_by must not be empty').optional(),
      lifetime: f.durationField.pipe(z.number().positive('lifetime must be positive')).optional(),
      reported_lifetime: f.durationField.pipe(z.number().positive('reported_lifetime must be positive')).optional(),
      max_session_duration: f.durationField
        .pipe(z.number().min(MIN_DURATION_S * 1000, 'max_session_duration must be at least 15m').max(12 * 3600_000, 'max_session_duration must be at most 12h'))
        .optional(),
    })
    .strict()
    .transform(
      (r): RoleSpec => ({
        arn: r.arn,
        ...(r.external_id !== undefined ? { externalId: r.external_id } : {}),
        ...(r.assumable_by !== undefined ? { assumableBy: r.assumable_by } : {}),
        ...(r.lifetime !== undefined ? { lifetimeMs: r.lifetime } : {}),
        ...(r.reported_lifetime !== undefined ? { reportedLifetimeMs: r.reported_lifetime } : {}),
        maxSessionDurationS: r.max_session_duration !== undefined ? Math.floor(r.max_session_duration / 1000) : DEFAULT_MAX_SESSION_DURATION_S,
      }),
    );

  /** Fields an account has in both forms (the top level adds seed; an account entry adds name). */
  const accountFields = {
    credentials: z.array(f.credentialSchema, { invalid_type_error: 'credentials must be a list' }).min(1, 'credentials must not be empty').optional(),
    target_info_format: f.oneOf(TARGET_INFO_FORMATS, 'target_info_format').optional(),
    qps_limit: f.numberField('qps_limit').pipe(z.number().positive('qps_limit must be positive')).optional(),
    faults: z.array(f.faultSchema, { invalid_type_error: 'faults must be a list' }).optional(),
    tasks: z.array(f.taskSchema, { invalid_type_error: 'tasks must be a list', required_error: 'tasks is required' }).optional(),
    roles: z.array(roleSchema, { invalid_type_error: 'roles must be a list' }).optional(),
    virus_scans: virusScansSchema.optional(),
    no_scan_data: f.oneOf(NO_SCAN_DATA_FORMS, 'no_scan_data').optional(),
  };

  const accountSchema = z
    .object({ name: f.nonEmptyString('name').regex(ACCOUNT_NAME, 'name must be 1 to 64 letters, digits, dots, dashes or underscores'), ...accountFields })
    .strict()
    .superRefine((a, ctx) => {
      checkTasks(a.tasks ?? [], ctx, ['tasks']);
      if (a.credentials === undefined && (a.roles ?? []).length === 0) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `account ${a.name} has neither credentials nor roles: no call could reach it` });
      }
    });

  return {
    accountFields,
    accounts: z.array(accountSchema, { invalid_type_error: 'accounts must be a list' }).min(1, 'accounts must not be empty').optional(),
  };
}

/** Task IDs are unique within an account (the same ID in two accounts is two tasks). */
export function checkTasks(tasks: readonly ScenarioTask[], ctx: z.RefinementCtx, at: ReadonlyArray<string | number>): void {
  const seen = new Map<string, number>();
  tasks.forEach((t, i) => {
    const first = seen.get(t.id);
    if (first !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...at, i, 'id'], message: `task ${t.id} is already defined at tasks[${first}]` });
    } else seen.set(t.id, i);
    t.faults.forEach((fault, j) => {
      if ((RESULT_FAULT_KINDS as readonly string[]).includes(fault.kind)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [...at, i, 'faults', j, 'kind'],
          message: `kind ${fault.kind} only applies to account-level faults (it bends ${actionsOfKind(fault.kind).join(', ')} answers)`,
        });
      }
      if (fault.actions !== undefined) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [...at, i, 'faults', j, 'actions'],
          message: 'actions only applies to account-level faults (a task is only ever asked about by DescribeScanTaskProgress)',
        });
      }
    });
  });
}

/** Checks a fault's `actions` and `delta` (called from the fault schema). */
export function checkFaultActions(fault: { kind: AccountFaultSpec['kind']; actions?: readonly string[] | undefined; delta?: number | undefined }, ctx: z.RefinementCtx): void {
  if (fault.actions !== undefined) {
    const allowed = actionsOfKind(fault.kind);
    fault.actions.forEach((a, i) => {
      if (!ALL_ACTIONS.includes(a)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['actions', i], message: `action must be one of ${ALL_ACTIONS.join(', ')}, got ${JSON.stringify(a)}` });
      } else if (!allowed.includes(a)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['actions', i], message: `kind ${fault.kind} only applies to ${allowed.join(', ')}` });
      }
    });
  }
  if (fault.delta !== undefined && fault.kind !== 'total_count_mismatch') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['delta'], message: 'delta only applies to kind total_count_mismatch' });
  }
}

interface RawScenario extends RawAccount {
  readonly accounts?: readonly RawAccount[];
}

/** Cross-field rules of the whole scenario: the two forms, unique names, keys and role ARNs, trust references. */
export function checkScenario(s: RawScenario, ctx: z.RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string): void => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
  let accounts: Array<{ a: RawAccount; path: Array<string | number> }>;
  if (s.accounts !== undefined) {
    for (const k of ACCOUNT_ONLY_KEYS) {
      if (s[k] !== undefined) issue([k], `with accounts, ${k} belongs inside each account`);
    }
    accounts = s.accounts.map((a, i) => ({ a, path: ['accounts', i] }));
    const names = new Map<string, number>();
    s.accounts.forEach((a, i) => {
      const first = names.get(a.name!);
      if (first !== undefined) issue(['accounts', i, 'name'], `account ${a.name} is already defined at accounts[${first}]`);
      else names.set(a.name!, i);
    });
  } else {
    accounts = [{ a: s, path: [] }];
    checkTasks(s.tasks ?? [], ctx, ['tasks']);
    if (s.tasks === undefined && s.virus_scans === undefined && s.roles === undefined) issue(['tasks'], 'tasks is required (or virus_scans, roles, accounts)');
  }
  const keys = new Map<string, string>();
  const arns = new Map<string, string>();
  for (const { a, path } of accounts) {
    (a.credentials ?? []).forEach((c, j) => {
      const at = [...path, 'credentials', j];
      const first = keys.get(c.accessKeyId);
      if (first !== undefined) issue([...at, 'access_key_id'], `access key ${c.accessKeyId} is listed twice (first at ${first})`);
      else keys.set(c.accessKeyId, fmt(at));
    });
    (a.roles ?? []).forEach((r, j) => {
      const at = [...path, 'roles', j];
      const first = arns.get(r.arn);
      if (first !== undefined) issue([...at, 'arn'], `role ${r.arn} is already defined at ${first}`);
      else arns.set(r.arn, fmt(at));
    });
  }
  for (const { a, path } of accounts) {
    (a.roles ?? []).forEach((r, j) => {
      (r.assumableBy ?? []).forEach((who, k) => {
        if (!keys.has(who) && !arns.has(who)) {
          issue([...path, 'roles', j, 'assumable_by', k], `${who} is neither an access_key_id nor a role arn of this scenario`);
        }
      });
    });
  }
}

function fmt(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** The normalised accounts: one named `default` in the single-account form. */
export function normaliseAccounts(s: RawScenario, defaults: { credentials: readonly KeyPair[]; targetInfoFormat: TargetInfoFormat }): AccountSpec[] {
  const one = (a: RawAccount, name: string, credentials: readonly KeyPair[]): AccountSpec => ({
    name,
    credentials: a.credentials ?? credentials,
    targetInfoFormat: a.target_info_format ?? defaults.targetInfoFormat,
    ...(a.qps_limit !== undefined ? { qpsLimit: a.qps_limit } : {}),
    faults: a.faults ?? [],
    tasks: a.tasks ?? [],
    roles: a.roles ?? [],
    virusScans: a.virus_scans ?? [],
    noScanData: a.no_scan_data ?? 'absent',
  });
  if (s.accounts === undefined) return [one(s, DEFAULT_ACCOUNT, defaults.credentials)];
  return s.accounts.map((a) => one(a, a.name!, []));
}
