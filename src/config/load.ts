/**
 * Reads and validates the exporter's YAML file. Every rejection names the
 * file, the line and column, and the field; nothing half-valid comes out.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { endpointForRegion } from '../sas/endpoints.js';
import { configSchema, type ExporterConfig } from './schema.js';

export interface ConfigProblem {
  /** Dotted field path such as `tasks[3].id`; empty for the whole file. */
  readonly field: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'));
    this.name = 'ConfigError';
  }
}

function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line !== undefined ? `${file}:${p.line}:${p.column ?? 1}` : file;
  return p.field ? `${where}: ${p.field}: ${p.message}` : `${where}: ${p.message}`;
}

export function fieldPath(parts: readonly (string | number)[]): string {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** Where the node at `parts` starts; its nearest existing parent when the key is missing. */
function locate(doc: Document, lines: LineCounter, parts: readonly (string | number)[]): { line?: number; column?: number } {
  for (let n = parts.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(parts.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/** Parses and validates YAML text; `file` is only used in messages and to resolve relative paths. */
/** Values set by command-line flags; they replace the file's. */
export type ConfigOverrides = Partial<Record<'region' | 'endpoint' | 'protocol' | 'schedule', string>>;

export function parseConfig(text: string, file: string, overrides: ConfigOverrides = {}): ExporterConfig {
  const lines = new LineCounter();
  // intAsBigInt keeps 9007199254740993 exact; the schema turns small integers back into numbers.
  const doc = parseDocument(text, { lineCounter: lines, intAsBigInt: true, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { field: '', line: pos?.line, column: pos?.col, message: `YAML syntax: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}` };
      }),
    );
  }
  if (doc.contents === null) throw new ConfigError(file, [{ field: '', message: 'the file is empty; it needs at least a region (or endpoint) and a task list' }]);

  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ field: '', ...locate(doc, lines, []), message: 'the top level must be a mapping (region, tasks, ...)' }]);
  }

  const result = configSchema.safeParse({ ...raw, ...overrides });
  if (!result.success) throw new ConfigError(file, result.error.issues.map((i) => toProblem(i, doc, lines)));
  const c = result.data;

  return {
    file,
    region: c.region,
    endpoint: c.endpoint ?? (c.region ? endpointForRegion(c.region) : ''),
    protocol: c.protocol,
    schedule: c.schedule,
    requestTimeoutMs: c.request_timeout,
    concurrency: c.concurrency,
    retry: {
      maxAttempts: c.retry.max_attempts,
      initialBackoffMs: c.retry.initial_backoff,
      maxBackoffMs: c.retry.max_backoff,
      maxRetriesPerCycle: c.retry.max_retries_per_cycle,
    },
    rateLimit: { qps: c.rate_limit.qps, burst: c.rate_limit.burst },
    terminalRecheckIntervalMs: c.terminal_recheck_interval,
    tasks: c.tasks,
    simulator: c.simulator ? { scenario: path.resolve(path.dirname(file), c.simulator.scenario) } : undefined,
  };
}

function toProblem(issue: z.ZodIssue, doc: Document, lines: LineCounter): ConfigProblem {
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    // Point at the first unknown key itself rather than at its parent mapping.
    const key = issue.keys[0]!;
    return { field: fieldPath([...issue.path, key]), ...locateKey(doc, lines, issue.path, key), message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` };
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') message = 'is required';
  const related = issue.code === 'custom' ? (issue.params?.relatedPath as (string | number)[] | undefined) : undefined;
  if (related) {
    const at = locate(doc, lines, related);
    if (at.line !== undefined) message += ` at line ${at.line}`;
  }
  return { field: fieldPath(issue.path), ...locate(doc, lines, issue.path), message };
}

function locateKey(doc: Document, lines: LineCounter, parent: readonly (string | number)[], key: string) {
  const map = parent.length === 0 ? doc.contents : doc.getIn(parent, true);
  if (map && typeof map === 'object' && 'items' in map && Array.isArray(map.items)) {
    for (const pair of map.items as { key?: unknown }[]) {
      const k = pair.key;
      if (isNode(k) && 'value' in k && String((k as { value: unknown }).value) === key && k.range) {
        const pos = lines.linePos(k.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
  }
  return locate(doc, lines, parent);
}

/** Reads `file` and validates it; every failure is a ConfigError naming the file. */
export async function loadConfig(file: string, overrides: ConfigOverrides = {}): Promise<ExporterConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : (e.code ?? e.message);
    throw new ConfigError(file, [{ field: '', message: `cannot read the configuration file: ${why}` }]);
  }
  return parseConfig(text, file, overrides);
}
