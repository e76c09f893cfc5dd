/**
 * One shape for every problem found in a YAML file the exporter reads (its
 * configuration, the web configuration, a simulator scenario):
 * `file:line:column: field: message`. Messages never reproduce the file:
 * values quoted in them are cut short, and a file with very many problems
 * reports the first few and how many more there are.
 */

export type PathSegment = string | number;

export interface YamlIssue {
  readonly file: string;
  /** 1-based; absent when the problem has no position (an unreadable file). */
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the field, e.g. `tasks[3].id`; empty for the whole file. */
  readonly field: string;
  readonly message: string;
}

/** Problems listed in one error; more are counted, not listed. */
export const MAX_ISSUES_LISTED = 20;
/** Characters of one listed problem (file, position, field and message), whatever a message quotes. */
export const MAX_ISSUE_CHARS = 400;
/** Characters of a value quoted in a message. */
export const MAX_QUOTED_CHARS = 64;

export function fieldPath(parts: readonly PathSegment[]): string {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

export function formatIssue(i: YamlIssue): string {
  const where = i.line !== undefined ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
  // A field path is made of keys from the file: cut like a quoted value.
  const field = i.field.length > MAX_QUOTED_CHARS ? `${i.field.slice(0, MAX_QUOTED_CHARS)}...` : i.field;
  const line = field ? `${where}: ${field}: ${i.message}` : `${where}: ${i.message}`;
  return line.length > MAX_ISSUE_CHARS ? `${line.slice(0, MAX_ISSUE_CHARS)}...` : line;
}

/** A value as messages show it: JSON-quoted, cut at MAX_QUOTED_CHARS. */
export function quote(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const s = String(value);
  const cut = s.length > MAX_QUOTED_CHARS ? `${s.slice(0, MAX_QUOTED_CHARS)}...` : s;
  return typeof value === 'string' ? JSON.stringify(cut) : cut;
}

/**
 * Every problem of one file. Subclasses name the kind of file
 * (ConfigError, WebConfigError, ScenarioError) so callers can tell them apart.
 */
export class YamlError extends Error {
  override name = 'YamlError';
  readonly issues: readonly YamlIssue[];

  constructor(issues: readonly YamlIssue[]) {
    const listed = issues.slice(0, MAX_ISSUES_LISTED).map(formatIssue);
    if (issues.length > MAX_ISSUES_LISTED) listed.push(`${issues[0]!.file}: ... and ${issues.length - MAX_ISSUES_LISTED} more problems`);
    super(listed.join('\n'));
    this.issues = issues;
  }

  /** The file the problems are in. */
  get file(): string {
    return this.issues[0]?.file ?? '';
  }
}
