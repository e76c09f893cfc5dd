/** Helpers for the Prometheus text exposition format (0.0.4), shared with OpenMetrics. */

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
export const OPENMETRICS_EOF = '# EOF\n';

/** Label values escape backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  // The fast path matters: almost no value needs escaping.
  if (!/[\\"\n]/.test(v)) return v;
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/**
 * prom-client's OpenMetrics mode renames counters in place (it strips
 * `_total` from the metric object itself), which would corrupt later text
 * scrapes. So self-metrics are always rendered as text, and this turns that
 * text into OpenMetrics: counter families are named without `_total` in HELP
 * and TYPE, blank lines go, and the caller appends `# EOF`.
 */
export function textToOpenMetrics(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      const name = rest.slice(0, sp);
      const tail = rest.slice(sp);
      if (name.endsWith('_total') && isCounterFamily(text, name)) {
        out.push(line.slice(0, 7) + name.slice(0, -6) + tail);
        continue;
      }
    }
    out.push(line);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

function isCounterFamily(text: string, name: string): boolean {
  return text.includes(`# TYPE ${name} counter\n`) || text.endsWith(`# TYPE ${name} counter`);
}

export interface Negotiated {
  readonly openMetrics: boolean;
  readonly gzip: boolean;
}

/** The last few answers: a scraper sends the same two headers every time. */
const negotiated = new Map<string, Negotiated>();

/** Picks the format from Accept and the encoding from Accept-Encoding, honouring q=0. */
export function negotiate(accept: string | undefined, acceptEncoding: string | undefined): Negotiated {
  const key = `${accept ?? ''}\n${acceptEncoding ?? ''}`;
  let n = negotiated.get(key);
  if (n === undefined) {
    n = Object.freeze({ openMetrics: prefersOpenMetrics(accept), gzip: acceptsGzip(acceptEncoding) });
    if (negotiated.size >= 16 || key.length > 1024) negotiated.clear();
    negotiated.set(key, n);
  }
  return n;
}

interface MediaRange {
  type: string;
  q: number;
}

function parseList(header: string): MediaRange[] {
  return header.split(',').map((part) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) if (p.startsWith('q=')) q = Number(p.slice(2)) || 0;
    return { type, q };
  });
}

function prefersOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = parseList(accept);
  const om = Math.max(0, ...ranges.filter((r) => r.type === 'application/openmetrics-text').map((r) => r.q));
  const text = Math.max(0, ...ranges.filter((r) => r.type === 'text/plain' || r.type === 'text/*' || r.type === '*/*').map((r) => r.q));
  return om > 0 && om >= text;
}

function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  return parseList(acceptEncoding).some((r) => (r.type === 'gzip' || r.type === 'x-gzip') && r.q > 0);
}
