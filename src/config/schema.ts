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

export interface ExporterConfig {
  /** The file this came from, for messages. */
  readonly file: string;
  readonly region: string | undefined;
  /** host[:port]; from `endpoint`, else from the region map. Empty only with `simulator`. */
  readonly endpoint: string;
  readonly protocol: 'https' | 'http';
  readonly schedule: string;
  readonly requestTimeoutMs: number;
  readonly concurrency: number;
  readonly retry: RetryConfig;
  readonly rateLimit: RateLimitConfig;
  /** How often a task in `success` or `failed` is polled again; 0 = every cycle. */
  readonly terminalRecheckIntervalMs: number;
  readonly tasks: readonly TaskSpec[];
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

export const configSchema = z
  .object({
    region: z.string().regex(/^[a-z]{2,}(?:-[a-z0-9]+)+$/, 'must be a region ID such as cn-shanghai').optional(),
    endpoint: z
      .string()
      .superRefine((s, ctx) => {
        const r = parseEndpoint(s);
        if (!r.ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: r.reason });
      })
      .optional(),
    protocol: z.enum(['https', 'http']).default(DEFAULTS.protocol),
    schedule: z
      .string()
      .default(DEFAULTS.schedule)
      .superRefine((s, ctx) => {
        const problem = scheduleProblem(s);
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${quote(s)} ${problem}` });
      }),
    request_timeout: duration(100, 120_000).default(DEFAULTS.requestTimeout),
    concurrency: integer(1, 256).default(DEFAULTS.concurrency),
    retry: z
      .object({
        max_attempts: integer(1, 10).default(DEFAULTS.retry.maxAttempts),
        initial_backoff: duration(1, 60_000).default(DEFAULTS.retry.initialBackoff),
        max_backoff: duration(1, 600_000).default(DEFAULTS.retry.maxBackoff),
        max_retries_per_cycle: integer(0, 1_000_000).default(DEFAULTS.retry.maxRetriesPerCycle),
      })
      .strict()
      .default({}),
    rate_limit: z
      .object({
        qps: positiveNumber(10_000).default(DEFAULTS.rateLimit.qps),
        burst: integer(1, 10_000).default(DEFAULTS.rateLimit.burst),
      })
      .strict()
      .default({}),
    terminal_recheck_interval: duration(0, 30 * 86_400_000).default(DEFAULTS.terminalRecheckInterval),
    tasks: z.array(taskItem, { invalid_type_error: 'must be a list of task IDs' }).min(1, 'must list at least one task'),
    simulator: z.object({ scenario: z.string().min(1) }).strict().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.region && !c.endpoint && !c.simulator) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['region'], message: 'set region (e.g. cn-shanghai) or endpoint' });
    }
    if (typeof c.retry?.initial_backoff === 'number' && c.retry.initial_backoff > c.retry.max_backoff) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['retry', 'initial_backoff'], message: 'must not exceed retry.max_backoff' });
    }
    const seen = new Map<string, number>();
    c.tasks.forEach((t, i) => {
      if (typeof t?.id !== 'string') return; // already reported as invalid
      const first = seen.get(t.id);
      if (first !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tasks', i], message: `duplicate task ID ${t.id} (also tasks[${first}])`, params: { relatedPath: ['tasks', first] } });
      } else {
        seen.set(t.id, i);
      }
    });
  });

export type RawConfig = z.output<typeof configSchema>;
