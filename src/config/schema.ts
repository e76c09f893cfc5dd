/**
 * The exporter's YAML configuration: schema, defaults and the typed result.
 * Keys are snake_case like Prometheus' own files; durations are Prometheus
 * durations ("500ms", "10s", "5m").
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import type { TaskSpec } from '../model/snapshot.js';
import { scheduleProblem } from './schedule.js';
import { quote } from '../yaml/issues.js';
import { parseTaskId } from './taskId.js';
import { parseEndpoint } from './endpoint.js';

export interface RetryConfig {
  /** Attempts per task per cycle, the first included. */
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Bound on retries in one cycle, over all tasks: a long task list never turns into a retry storm. */
  readonly maxRetriesPerCycle: number;
}

export interface RateLimitConfig {
  readonly qps: number;
  readonly burst: number;
}

/**
 * Where an account's access key comes from: never the key itself, only the
 * names of environment variables or of a profile, and a role to assume.
 * Absent: the default credential chain.
 */
export interface CredentialsConfig {
  /** Names of the environment variables holding the key pair (and an STS token). */
  readonly env?: { readonly accessKeyId: string; readonly accessKeySecret: string; readonly securityToken?: string };
  /** A profile of the Alibaba Cloud credentials file (~/.alibabacloud/credentials or ALIBABA_CLOUD_CREDENTIALS_FILE). */
  readonly profile?: string;
  /** A RAM role assumed through STS with the credential above (or the default chain). */
  readonly role?: {
    readonly arn: string;
    readonly sessionName: string;
    readonly externalId?: string;
    /** host[:port] of STS; default: the provider's (sts.aliyuncs.com, or by ALIBABA_CLOUD_STS_REGION). */
    readonly stsEndpoint?: string;
    readonly durationSeconds: number;
  };
}

export interface LatestScanConfig {
  /** Poll GetVirusScanLatestTaskStatistic (and ListVirusScanTask when `machines`). */
  readonly enabled: boolean;
  /** Export one series set per machine of the latest scan. */
  readonly machines: boolean;
  /** Per-machine series per account at most; rows beyond are counted, not exported. */
  readonly maxMachines: number;
  /** ListVirusScanTask page size (1-100). */
  readonly pageSize: number;
}

/** One Alibaba Cloud account: its endpoint, credentials, limits and tasks. */
export interface AccountConfig {
  /** The `account` label; empty in the single-account form (no label). */
  readonly name: string;
  readonly region: string | undefined;
  /** host[:port]; from `endpoint`, else from the region map. Empty only with `simulator`. */
  readonly endpoint: string;
  readonly protocol: 'https' | 'http';
  /** Undefined: the default credential chain. */
  readonly credentials: CredentialsConfig | undefined;
  readonly requestTimeoutMs: number;
  readonly concurrency: number;
  readonly retry: RetryConfig;
  /** Per account: the API's rate limit is per account. */
  readonly rateLimit: RateLimitConfig;
  /** How often a task in `success` or `failed` is polled again; 0 = every cycle. */
  readonly terminalRecheckIntervalMs: number;
  readonly tasks: readonly TaskSpec[];
  readonly latestScan: LatestScanConfig;
}

export interface ExporterConfig {
  /** The file this came from, for messages. */
  readonly file: string;
  /** One cycle per tick covers every account. */
  readonly schedule: string;
  /** True for the `accounts:` form: every series carries an `account` label. */
  readonly multiAccount: boolean;
  /** In configuration order; exactly one (named '') in the single-account form. */
  readonly accounts: readonly AccountConfig[];
  /** Demo mode: run the built-in simulator in-process with this scenario file (absolute path). */
  readonly simulator: { readonly scenario: string } | undefined;
}

export const DEFAULTS = {
  protocol: 'https',
  schedule: '*/30 * * * * *',
  requestTimeout: '10s',
  concurrency: 4,
  retry: { maxAttempts: 3, initialBackoff: '1s', maxBackoff: '10s', maxRetriesPerCycle: 100 },
  rateLimit: { qps: 5, burst: 5 },
  terminalRecheckInterval: '10m',
  latestScan: { enabled: false, machines: true, maxMachines: 10_000, pageSize: 100 },
  roleSessionName: 'aliyun-sas-exporter',
  roleDuration: '1h',
} as const;

const integer = (min: number, max: number) =>
  z
    .union([z.bigint(), z.number()], { errorMap: () => ({ message: 'must be an integer' }) })
    .transform((v) => Number(v))
    .pipe(z.number().int('must be an integer').min(min, `must be >= ${min}`).max(max, `must be <= ${max}`));

const positiveNumber = (max: number) =>
  z
    .union([z.bigint(), z.number()], { errorMap: () => ({ message: 'must be a number' }) })
    .transform((v) => Number(v))
    .pipe(z.number().gt(0, 'must be > 0').max(max, `must be <= ${max}`));

const duration = (min: number, max: number) =>
  z.preprocess((v) => (v === 0n || v === 0 ? '0' : v), z.string({ invalid_type_error: 'must be a duration such as "10s" or "500ms"' }).transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${quote(s)} is not a duration such as "10s" or "500ms"` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${quote(s)} is out of range (${min} ms .. ${max} ms)` });
      return z.NEVER;
    }
    return ms;
  }));

const taskObject = z.object({ id: z.unknown(), name: z.string().max(256, 'must be at most 256 characters').optional() }).strict();

/** A bare ID (`- 282832`, `- "282832"`) or `{id, name}`. */
const taskItem = z.unknown().transform((v, ctx): TaskSpec => {
  let idValue: unknown = v;
  let name = '';
  const isObject = v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject) {
    const r = taskObject.safeParse(v);
    if (!r.success) {
      for (const issue of r.error.issues) ctx.addIssue(issue as z.IssueData);
      return z.NEVER;
    }
    if (!('id' in (v as object))) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'a task entry needs an id' });
      return z.NEVER;
    }
    idValue = r.data.id;
    name = r.data.name ?? '';
  }
  const id = parseTaskId(idValue);
  if (!id.ok) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: id.reason, path: isObject ? ['id'] : [] });
    return z.NEVER;
  }
  return { id: id.id, name };
});

/** host[:port], checked like a connection would need it (see endpoint.ts). */
const endpointField = z.string().superRefine((s, ctx) => {
  const r = parseEndpoint(s);
  if (!r.ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: r.reason });
});
const regionField = z.string().regex(/^[a-z]{2,}(?:-[a-z0-9]+)+$/, 'must be a region ID such as cn-shanghai');
const protocolField = z.enum(['https', 'http']);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of an environment variable (letters, digits, _)');

const retrySchema = z
  .object({
    max_attempts: integer(1, 10).default(DEFAULTS.retry.maxAttempts),
    initial_backoff: duration(1, 60_000).default(DEFAULTS.retry.initialBackoff),
    max_backoff: duration(1, 600_000).default(DEFAULTS.retry.maxBackoff),
    max_retries_per_cycle: integer(0, 1_000_000).default(DEFAULTS.retry.maxRetriesPerCycle),
  })
  .strict();

const rateLimitSchema = z
  .object({
    qps: positiveNumber(10_000).default(DEFAULTS.rateLimit.qps),
    burst: integer(1, 10_000).default(DEFAULTS.rateLimit.burst),
  })
  .strict();

const latestScanSchema = z
  .object({
    enabled: z.boolean().default(DEFAULTS.latestScan.enabled),
    machines: z.boolean().default(DEFAULTS.latestScan.machines),
    max_machines: integer(0, 1_000_000).default(DEFAULTS.latestScan.maxMachines),
    page_size: integer(1, 100).default(DEFAULTS.latestScan.pageSize),
  })
  .strict();

/** `acs:ram::<account ID>:role/<name>`: a RAM role's ARN. */
export const ROLE_ARN = /^acs:ram::\d{1,32}:role\/[A-Za-z0-9._@-]{1,64}$/;

const credentialsSchema = z
  .object({
    access_key_id_env: envName.optional(),
    access_key_secret_env: envName.optional(),
    security_token_env: envName.optional(),
    profile: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a profile name (letters, digits, . _ -)').optional(),
    role_arn: z.string().regex(ROLE_ARN, 'must be a RAM role ARN such as acs:ram::1234567890123456:role/sas-readonly').optional(),
    role_session_name: z.string().regex(/^[A-Za-z0-9.@_-]{2,64}$/, 'must be 2-64 letters, digits or . @ _ -').optional(),
    external_id: z.string().min(2).max(1224).optional(),
    sts_endpoint: endpointField.optional(),
    role_duration: duration(900_000, 43_200_000).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const env = c.access_key_id_env !== undefined || c.access_key_secret_env !== undefined || c.security_token_env !== undefined;
    if (env && (c.access_key_id_env === undefined || c.access_key_secret_env === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [c.access_key_id_env === undefined ? 'access_key_secret_env' : 'access_key_id_env'], message: 'access_key_id_env and access_key_secret_env go together' });
    }
    if (env && c.profile !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['profile'], message: 'give either profile or the *_env variables, not both' });
    if (c.role_arn === undefined) {
      for (const k of ['role_session_name', 'external_id', 'sts_endpoint', 'role_duration'] as const) {
        if (c[k] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `${k} needs role_arn` });
      }
    }
    if (!env && c.profile === undefined && c.role_arn === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'name *_env variables, a profile or a role_arn (or leave credentials out for the default chain)' });
    }
  });

/** An account's own settings; what it leaves out comes from the top level. */
const accountSchema = z
  .object({
    name: z.string({ required_error: 'every account needs a name' }).regex(/^[a-z0-9_-]{1,63}$/, 'must be 1-63 of a-z, 0-9, _ and - (it becomes the `account` label)'),
    region: regionField.optional(),
    endpoint: endpointField.optional(),
    protocol: protocolField.optional(),
    credentials: credentialsSchema.optional(),
    request_timeout: duration(100, 120_000).optional(),
    concurrency: integer(1, 256).optional(),
    retry: retrySchema.optional(),
    rate_limit: rateLimitSchema.optional(),
    terminal_recheck_interval: duration(0, 30 * 86_400_000).optional(),
    tasks: z.array(taskItem, { invalid_type_error: 'must be a list of task IDs' }).optional(),
    latest_scan: latestScanSchema.optional(),
  })
  .strict();

/** Task IDs are unique within one list (5, "5" and "05" are the same task). */
function checkDuplicates(tasks: readonly TaskSpec[] | undefined, at: (string | number)[], ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  (tasks ?? []).forEach((t, i) => {
    if (typeof t?.id !== 'string') return; // already reported as invalid
    const first = seen.get(t.id);
    if (first !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...at, i], message: `duplicate task ID ${t.id} (also ${[...at].pop()}[${first}])`, params: { relatedPath: [...at, first] } });
    } else {
      seen.set(t.id, i);
    }
  });
}

export const configSchema = z
  .object({
    region: regionField.optional(),
    endpoint: endpointField.optional(),
    protocol: protocolField.optional(),
    schedule: z
      .string()
      .default(DEFAULTS.schedule)
      .superRefine((s, ctx) => {
        const problem = scheduleProblem(s);
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${quote(s)} ${problem}` });
      }),
    request_timeout: duration(100, 120_000).default(DEFAULTS.requestTimeout),
    concurrency: integer(1, 256).default(DEFAULTS.concurrency),
    retry: retrySchema.default({}),
    rate_limit: rateLimitSchema.default({}),
    terminal_recheck_interval: duration(0, 30 * 86_400_000).default(DEFAULTS.terminalRecheckInterval),
    latest_scan: latestScanSchema.default({}),
    tasks: z.array(taskItem, { invalid_type_error: 'must be a list of task IDs' }).optional(),
    accounts: z.array(accountSchema, { invalid_type_error: 'must be a list of accounts' }).min(1, 'must list at least one account').optional(),
    simulator: z.object({ scenario: z.string().min(1) }).strict().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const backoffs = [[['retry'], c.retry], ...(c.accounts ?? []).map((a, i) => [['accounts', i, 'retry'], a.retry] as const)] as const;
    for (const [at, r] of backoffs) {
      if (r && typeof r.initial_backoff === 'number' && r.initial_backoff > r.max_backoff) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...at, 'initial_backoff'], message: 'must not exceed retry.max_backoff' });
      }
    }
    if (c.accounts === undefined) {
      // The single-account form of the first releases.
      if (!c.region && !c.endpoint && !c.simulator) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['region'], message: 'set region (e.g. cn-shanghai) or endpoint' });
      if (c.tasks === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tasks'], message: 'is required (or list accounts, each with its tasks)' });
      else if (c.tasks.length === 0 && !c.latest_scan.enabled) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tasks'], message: 'must list at least one task' });
      checkDuplicates(c.tasks, ['tasks'], ctx);
      return;
    }
    for (const key of ['tasks', 'region', 'endpoint', 'protocol'] as const) {
      if (c[key] !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: `${key} and accounts are mutually exclusive: with accounts, each account has its own ${key}` });
      }
    }
    const names = new Map<string, number>();
    c.accounts.forEach((a, i) => {
      const first = names.get(a.name);
      if (first !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['accounts', i, 'name'], message: `duplicate account name ${a.name} (also accounts[${first}])`, params: { relatedPath: ['accounts', first, 'name'] } });
      else names.set(a.name, i);
      if (!a.region && !a.endpoint && !c.simulator) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['accounts', i, 'region'], message: 'set region (e.g. cn-shanghai) or endpoint' });
      const scans = a.latest_scan?.enabled ?? c.latest_scan.enabled;
      if (a.tasks === undefined && !scans) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['accounts', i, 'tasks'], message: 'is required (task IDs, or latest_scan.enabled)' });
      else if (a.tasks !== undefined && a.tasks.length === 0 && !scans) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['accounts', i, 'tasks'], message: 'must list at least one task' });
      checkDuplicates(a.tasks, ['accounts', i, 'tasks'], ctx);
    });
  });

export type RawConfig = z.output<typeof configSchema>;
