/**
 * A Prometheus-like scraper running beside the poll cycles: keep-alive, gzip
 * and plain text and OpenMetrics in turn, every `intervalMs`. Every answer
 * must be a complete 200.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';

export interface ScrapeResult {
  status: number;
  body: Buffer;
  ms: number;
}

export function get(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<ScrapeResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const expected = Number(res.headers['content-length']);
        if (Number.isFinite(expected) && expected !== raw.length) {
          reject(new Error(`short answer: ${raw.length} of ${expected} bytes`));
          return;
        }
        const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('scrape timed out')));
    req.on('error', reject);
  });
}

export interface ScraperStats {
  scrapes: number;
  failures: number;
  firstFailure?: string;
  /** Scrapes whose series were checked, and those that were not consistent. */
  checked: number;
  inconsistent: number;
  firstInconsistency?: string;
  latenciesMs: number[];
  bytes: number;
}

const VARIANTS: Array<Record<string, string>> = [
  { 'accept-encoding': 'gzip' },
  {},
  { accept: 'application/openmetrics-text;version=1.0.0', 'accept-encoding': 'gzip' },
];

/**
 * `check` is applied to every body (text, gzip decoded or OpenMetrics): what
 * it returns are the inconsistencies of that scrape.
 */
export function startScraper(url: string, intervalMs: number, check?: (body: string) => string[]): { stats: ScraperStats; stop(): Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const stats: ScraperStats = { scrapes: 0, failures: 0, checked: 0, inconsistent: 0, latenciesMs: [], bytes: 0 };
  let stopped = false;
  const loop = (async () => {
    let i = 0;
    while (!stopped) {
      try {
        const variant = VARIANTS[i++ % VARIANTS.length]!;
        const r = await get(agent, url, variant);
        stats.scrapes++;
        stats.latenciesMs.push(r.ms);
        stats.bytes += r.body.length;
        // On the bytes: a string of a few MB would sit in the heap the soak measures.
        const tail = variant.accept ? '# EOF\n' : '\n';
        const complete = r.body.includes('aliyun_sas_exporter_build_info') && r.body.subarray(r.body.length - tail.length).toString('latin1') === tail;
        if (r.status !== 200 || !complete) {
          stats.failures++;
          stats.firstFailure ??= `HTTP ${r.status}${complete ? '' : ', incomplete body'}`;
        } else if (check) {
          stats.checked++;
          const problems = check(r.body.toString('utf8'));
          if (problems.length > 0) {
            stats.inconsistent++;
            stats.firstInconsistency ??= problems.join('; ');
          }
        }
      } catch (err) {
        stats.failures++;
        stats.firstFailure ??= (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stats,
    async stop() {
      stopped = true;
      await loop;
      agent.destroy();
    },
  };
}
