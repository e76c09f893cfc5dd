/**
 * Reads and validates the exporter's YAML file. Every rejection names the
 * file, the line and column, and the field; nothing half-valid comes out.
 */
import path from 'node:path';
import { endpointForRegion } from '../sas/endpoints.js';
import { YamlFile } from '../yaml/document.js';
import { FileReadError, readBoundedFile } from '../yaml/file.js';
import type { z } from 'zod';
import { quote, YamlError, type PathSegment, type YamlIssue } from '../yaml/issues.js';
import { parseDuration } from './duration.js';
import { configSchema, DEFAULTS, type AccountConfig, type CredentialsConfig, type ExporterConfig, type LatestScanConfig, type RawConfig, type RetryConfig } from './schema.js';

/**
 * Larger than any real configuration: 1 MiB holds about 15,000 tasks with
 * names, or 80,000 bare IDs. The YAML parser costs 100 to 250 times the
 * file's size in memory and about 2 s per MiB on a small machine (on the
 * main thread, at every reload), which is what the limit bounds: 53 MB used
 * to take 20 s and 2.6 GB. A larger file is refused before it is read.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export class ConfigError extends YamlError {
  override name = 'ConfigError';
}

/** Values set by command-line flags; they replace the file's. */
export type ConfigOverrides = Partial<Record<'region' | 'endpoint' | 'protocol' | 'schedule', string>>;

/** The keys of the mapping at `path`, for "unknown key" messages. */
function allowedKeys(path: readonly PathSegment[]): readonly string[] | undefined {
  let shape: unknown = configSchema;
  for (const seg of path) {
    shape = unwrap(shape);
    if (typeof seg === 'number') shape = (shape as { element?: unknown })?.element;
    else shape = (shape as { shape?: Record<string, unknown> })?.shape?.[seg];
  }
  const obj = unwrap(shape) as { shape?: Record<string, unknown> } | undefined;
  return obj?.shape ? Object.keys(obj.shape) : undefined;
}

/** Through zod's wrappers (default, optional, effects) to the schema inside. */
function unwrap(s: unknown): unknown {
  let cur = s as { _def?: { innerType?: unknown; schema?: unknown } } | undefined;
  for (let i = 0; i < 10 && cur?._def; i++) {
    const next = cur._def.innerType ?? cur._def.schema;
    if (!next) break;
    cur = next as typeof cur;
  }
  return cur;
}

/**
 * Bare task IDs as they are written, not as YAML reads them: the parser
 * turns `0x10` into 16, `1e3` into 1000 and `1.0` into 1, while the quoted
 * forms stay strings. Handing the validator the written text makes both
 * spellings follow the same rule (decimal digits only).
 */
function spellTaskIdsAsWritten(yaml: YamlFile, raw: Record<string, unknown>): void {
  const spell = (tasks: unknown, at: PathSegment[]): void => {
    if (!Array.isArray(tasks)) return;
    const written = (v: unknown, path: PathSegment[]): unknown => (typeof v === 'bigint' || typeof v === 'number' ? (yaml.plainSource(path) ?? v) : v);
    tasks.forEach((t: unknown, i) => {
      if (t !== null && typeof t === 'object' && !Array.isArray(t)) {
        const entry = t as Record<string, unknown>;
        if ('id' in entry) entry.id = written(entry.id, [...at, i, 'id']);
      } else {
        tasks[i] = written(t, [...at, i]);
      }
    });
  };
  spell(raw.tasks, ['tasks']);
  if (Array.isArray(raw.accounts)) {
    raw.accounts.forEach((a: unknown, i) => {
      if (a !== null && typeof a === 'object' && !Array.isArray(a)) spell((a as Record<string, unknown>).tasks, ['accounts', i, 'tasks']);
    });
  }
}

/** Parses and validates YAML text; `file` is only used in messages and to resolve relative paths. */
export function parseConfig(text: string, file: string, overrides: ConfigOverrides = {}): ExporterConfig {
  const fail = (issues: readonly YamlIssue[]) => new ConfigError(issues);
  // intAsBigInt keeps 9007199254740993 exact; the schema turns small integers back into numbers.
  const yaml = YamlFile.parse(text, file, { intAsBigInt: true, allowedKeys });
  yaml.throwIfIssues(fail);
  if (yaml.empty) {
    yaml.addFile('the file is empty; it needs at least a region (or endpoint) and a task list');
    yaml.throwIfIssues(fail);
  }
  const raw = yaml.toJS();
  yaml.throwIfIssues(fail);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    yaml.addFile('the top level must be a mapping (region, tasks, ...)');
    yaml.throwIfIssues(fail);
  }

  if ('accounts' in (raw as object) && (overrides.region !== undefined || overrides.endpoint !== undefined || overrides.protocol !== undefined)) {
    yaml.add(['accounts'], 'the --sas.region, --sas.endpoint and --sas.protocol flags apply to the single-account form; with accounts, set them per account');
    yaml.throwIfIssues(fail);
  }
  spellTaskIdsAsWritten(yaml, raw as Record<string, unknown>);
  const result = configSchema.safeParse({ ...(raw as object), ...overrides });
  if (!result.success) {
    yaml.addZod(result.error.issues.map((i) => withAccountName(i, raw)));
    yaml.throwIfIssues(fail);
  }
  return toExporterConfig(result.data!, file);
}

/** A problem inside `accounts[i]` says which account, by name, when it has one. */
function withAccountName(issue: z.ZodIssue, raw: unknown): z.ZodIssue {
  const [top, i] = issue.path;
  if (top !== 'accounts' || typeof i !== 'number' || issue.code === 'unrecognized_keys') return issue;
  const name = (raw as { accounts?: { name?: unknown }[] }).accounts?.[i]?.name;
  if (typeof name !== 'string' || name === '') return issue;
  return { ...issue, message: `account ${/^[a-z0-9_-]{1,63}$/.test(name) ? name : quote(name)}: ${issue.message}` };
}

function retryOf(r: RawConfig['retry']): RetryConfig {
  return { maxAttempts: r.max_attempts, initialBackoffMs: r.initial_backoff, maxBackoffMs: r.max_backoff, maxRetriesPerCycle: r.max_retries_per_cycle };
}

function latestScanOf(l: RawConfig['latest_scan']): LatestScanConfig {
  return { enabled: l.enabled, machines: l.machines, maxMachines: l.max_machines, pageSize: l.page_size };
}

type RawAccount = NonNullable<RawConfig['accounts']>[number];

function credentialsOf(c: NonNullable<RawAccount['credentials']>): CredentialsConfig {
  return {
    ...(c.access_key_id_env && c.access_key_secret_env
      ? { env: { accessKeyId: c.access_key_id_env, accessKeySecret: c.access_key_secret_env, ...(c.security_token_env ? { securityToken: c.security_token_env } : {}) } }
      : {}),
    ...(c.profile ? { profile: c.profile } : {}),
    ...(c.role_arn
      ? {
          role: {
            arn: c.role_arn,
            sessionName: c.role_session_name ?? DEFAULTS.roleSessionName,
            ...(c.external_id ? { externalId: c.external_id } : {}),
            ...(c.sts_endpoint ? { stsEndpoint: c.sts_endpoint } : {}),
            durationSeconds: (c.role_duration ?? (parseDuration(DEFAULTS.roleDuration) as number)) / 1000,
          },
        }
      : {}),
  };
}

/** The validated YAML as the pipeline wants it: the top-level settings are the defaults of every account. */
function toExporterConfig(c: RawConfig, file: string): ExporterConfig {
  const endpointOf = (region: string | undefined, endpoint: string | undefined) => endpoint ?? (region ? endpointForRegion(region) : '');
  const base = {
    protocol: c.protocol ?? DEFAULTS.protocol,
    requestTimeoutMs: c.request_timeout,
    concurrency: c.concurrency,
    retry: retryOf(c.retry),
    rateLimit: { qps: c.rate_limit.qps, burst: c.rate_limit.burst },
    terminalRecheckIntervalMs: c.terminal_recheck_interval,
    latestScan: latestScanOf(c.latest_scan),
  };
  const accounts: AccountConfig[] = c.accounts
    ? c.accounts.map((a) => ({
        name: a.name,
        region: a.region,
        endpoint: endpointOf(a.region, a.endpoint),
        protocol: a.protocol ?? base.protocol,
        credentials: a.credentials ? credentialsOf(a.credentials) : undefined,
        requestTimeoutMs: a.request_timeout ?? base.requestTimeoutMs,
        concurrency: a.concurrency ?? base.concurrency,
        retry: a.retry ? retryOf(a.retry) : base.retry,
        rateLimit: a.rate_limit ? { qps: a.rate_limit.qps, burst: a.rate_limit.burst } : base.rateLimit,
        terminalRecheckIntervalMs: a.terminal_recheck_interval ?? base.terminalRecheckIntervalMs,
        tasks: a.tasks ?? [],
        latestScan: a.latest_scan ? latestScanOf(a.latest_scan) : base.latestScan,
      }))
    : [{ name: '', region: c.region, endpoint: endpointOf(c.region, c.endpoint), credentials: undefined, tasks: c.tasks ?? [], ...base }];
  return {
    file,
    schedule: c.schedule,
    multiAccount: c.accounts !== undefined,
    accounts,
    simulator: c.simulator ? { scenario: path.resolve(path.dirname(file), c.simulator.scenario) } : undefined,
  };
}

/** Reads `file` and validates it; every failure is a ConfigError naming the file. */
export async function loadConfig(file: string, overrides: ConfigOverrides = {}): Promise<ExporterConfig> {
  let text: string;
  try {
    text = (await readBoundedFile(file, MAX_CONFIG_BYTES)).toString('utf8');
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    throw new ConfigError([{ file, field: '', message: `cannot read the configuration file: ${err.message}` }]);
  }
  return parseConfig(text, file, overrides);
}
