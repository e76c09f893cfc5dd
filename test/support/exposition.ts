/** A small parser for the text exposition, so tests assert on series rather than substrings. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = unescape(l[2]!);
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Samples of `name` whose labels include `match`. */
export function select(samples: Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The single value of a series, or undefined when absent. */
export function value(samples: Sample[], name: string, match: Record<string, string> = {}): number | undefined {
  const found = select(samples, name, match);
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(match)} matches ${found.length} series`);
  return found[0]?.value;
}

/** The status whose stateset series is 1, or undefined when the task has no status yet. */
export function statusOf(samples: Sample[], taskId: string): string | undefined {
  return select(samples, 'aliyun_sas_scan_task_status', { task_id: taskId }).find((s) => s.value === 1)?.labels.status;
}
