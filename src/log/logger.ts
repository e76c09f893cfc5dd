/**
 * Structured logging, one line per event, in logfmt (the Prometheus
 * ecosystem's default) or JSON. Hand-written rather than pino: the exporter
 * needs logfmt, which pino only offers through a worker-thread transport, and
 * a synchronous writer keeps lines in order with the crash path.
 *
 * Every line passes through the secret scrubber: values registered with
 * `addSecret` (the access key secret, an STS token) are replaced wherever they
 * appear, whatever a library put into an error message.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  enabled(level: LogLevel): boolean;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const REDACTED = '[REDACTED]';

/** Secrets known to the process; shared by every logger so a child cannot miss one. */
const secrets = new Set<string>();

export function addSecret(value: string | undefined): void {
  // Very short values would redact innocent text and are no secret anyway.
  if (value && value.length >= 6) secrets.add(value);
}

export function scrubSecrets(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

function fieldValue(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function logfmtValue(v: unknown): string {
  const val = fieldValue(v);
  const s = typeof val === 'string' ? val : val === undefined ? '' : typeof val === 'object' ? JSON.stringify(val) : String(val);
  return s === '' || /[\s="\\]/.test(s) || /[\u0000-\u001f]/.test(s) ? JSON.stringify(s) : s;
}

export function formatLogfmt(record: LogFields): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue;
    parts.push(`${k}=${logfmtValue(v)}`);
  }
  return parts.join(' ');
}

export function formatJson(record: LogFields): string {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = fieldValue(v);
  return JSON.stringify(out);
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stderr by default, like the Go exporters. */
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}, base: LogFields = {}): Logger {
  const level = opts.level ?? 'info';
  const format = opts.format ?? 'logfmt';
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const min = RANK[level];

  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    const record: LogFields = { ts: now().toISOString(), level: lvl, msg, ...base, ...fields };
    const line = format === 'json' ? formatJson(record) : formatLogfmt(record);
    write(scrubSecrets(line));
  };

  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(opts, { ...base, ...fields }),
    enabled: (lvl) => RANK[lvl] >= min,
  };
}

/** For tests and library defaults. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
  enabled() {
    return false;
  },
};
