/**
 * Scrape throughput and latency: the exporter's real serving path (a child
 * running ExpositionCache + request listener + startServer) against a static
 * server of the very same bytes, one load client for both, interleaved.
 */
import { gunzipSync } from 'node:zlib';
import { Child } from './ipc.js';
import { startBaseline, type Baseline } from './baseline.js';
import { runLoad, type LoadClient, type LoadResult } from './load.js';
import { get, median } from './tools.js';

export interface ScrapeOptions {
  readonly childScript: string;
  readonly tasks: number;
  readonly targets: number;
  /** Machines of the account's latest scan (0: none). */
  readonly machines: number;
  readonly client: LoadClient;
  readonly baseline?: 'nginx' | 'node';
  readonly connections: readonly number[];
  readonly durationS: number;
  readonly rounds: number;
  readonly warmupS: number;
  readonly log: (line: string) => void;
}

export type Encoding = 'plain' | 'gzip';

export interface ScrapeCase {
  readonly encoding: Encoding;
  readonly connections: number;
  readonly ours: LoadResult;
  readonly baseline: LoadResult;
  /** ours / baseline requests per second (>= 1 is the goal). */
  readonly rpsRatio: number;
  /** ours / baseline p99 (<= 1.5 is the goal). */
  readonly p99Ratio: number;
  readonly rounds: { ours: LoadResult; baseline: LoadResult }[];
}

export interface ScrapeResult {
  readonly baseline: string;
  readonly baselineKind: Baseline['kind'];
  readonly answerBytes: { plain: number; gzip: number };
  readonly initialRenderMs: number;
  readonly cases: ScrapeCase[];
  /** Renders of task families while the load ran: 0 means scrapes only sent cached buffers. */
  readonly rendersDuringLoad: number;
  readonly scrapesServed: number;
}

const HEADERS: Record<Encoding, Record<string, string>> = { plain: {}, gzip: { 'Accept-Encoding': 'gzip' } };

/** The median round by requests per second, with the median p99 of the rounds. */
function combine(rs: LoadResult[]): LoadResult {
  const byRps = [...rs].sort((a, b) => a.rps - b.rps);
  const mid = byRps[Math.floor((byRps.length - 1) / 2)]!;
  return { ...mid, rps: median(rs.map((r) => r.rps)), p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: median(rs.map((r) => r.p99Ms)), maxMs: Math.max(...rs.map((r) => r.maxMs)) };
}

/** Slices of one round as one run: requests over time; latency percentiles weighted by requests (the client reports no histogram). */
function merge(rs: readonly LoadResult[]): LoadResult {
  const requests = rs.reduce((a, r) => a + r.requests, 0);
  const durationS = rs.reduce((a, r) => a + r.durationS, 0);
  const w = (f: (r: LoadResult) => number) => rs.reduce((a, r) => a + f(r) * r.requests, 0) / requests;
  return {
    requests,
    durationS,
    rps: requests / durationS,
    p50Ms: w((r) => r.p50Ms),
    p99Ms: w((r) => r.p99Ms),
    maxMs: Math.max(...rs.map((r) => r.maxMs)),
    bytesPerRequest: w((r) => r.bytesPerRequest),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
  };
}

function check(r: LoadResult, expectBytes: number, connections: number, what: string): void {
  if (r.requests === 0) throw new Error(`${what}: no request completed`);
  if (r.errors > 0 || r.non2xx > 0) throw new Error(`${what}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
  // Every answer must have come back whole. The client also counts the bytes of
  // answers still in flight when the run ended (at most one per connection), and
  // headers; self-metrics vary by a few bytes from one scrape to the next.
  const low = expectBytes * 0.99;
  const high = ((expectBytes + 2_048) * (r.requests + connections)) / r.requests;
  if (r.bytesPerRequest < low || r.bytesPerRequest > high) {
    throw new Error(`${what}: ${Math.round(r.bytesPerRequest)} bytes per answer, expected ${Math.round(low)}..${Math.round(high)}`);
  }
}

export async function scrapePhase(o: ScrapeOptions): Promise<ScrapeResult> {
  const child = Child.start(`serve(T=${o.tasks})`, o.childScript);
  let baseline: Baseline | undefined;
  try {
    const init = await child.call<{ url: string; renderMs: number }>('init', { tasks: o.tasks, targets: o.targets, machines: o.machines });
    const plain = await get(init.url);
    const gz = await get(init.url, { 'Accept-Encoding': 'gzip' });
    if (plain.status !== 200 || gz.status !== 200 || gz.headers['content-encoding'] !== 'gzip') throw new Error('the exporter did not answer the first scrapes properly');
    const unzipped = gunzipSync(gz.body).toString();
    if (!unzipped.includes('aliyun_sas_scan_task_target_info{') || !unzipped.includes('aliyun_sas_exporter_build_info{')) {
      throw new Error('the gzip answer lacks task or self series');
    }
    baseline = await startBaseline({ plain: plain.body, gzip: gz.body, contentType: String(plain.headers['content-type']) }, o.baseline);
    const bp = await get(baseline.url);
    const bg = await get(baseline.url, { 'Accept-Encoding': 'gzip' });
    if (!bp.body.equals(plain.body) || !bg.body.equals(gz.body)) throw new Error(`${baseline.description} does not serve the captured bytes`);
    const size: Record<Encoding, number> = { plain: plain.body.length, gzip: gz.body.length };
    const targets = { ours: init.url, baseline: baseline.url };

    for (const enc of ['plain', 'gzip'] as const) {
      for (const side of ['ours', 'baseline'] as const) {
        await runLoad(o.client, { url: targets[side], connections: Math.max(...o.connections), durationS: o.warmupS, headers: HEADERS[enc] });
      }
    }
    const before = await child.call<{ renders: number; exposes: number }>('counters');
    const cases: ScrapeCase[] = [];
    for (const enc of ['plain', 'gzip'] as const) {
      for (const c of o.connections) {
        const rounds: { ours: LoadResult; baseline: LoadResult }[] = [];
        for (let r = 0; r < o.rounds; r++) {
          // Ours and the baseline take turns in slices of about a second, so
          // that a burst of other work on the machine weighs on both alike.
          const slices = Math.max(1, Math.round(o.durationS));
          const got: Record<'ours' | 'baseline', LoadResult[]> = { ours: [], baseline: [] };
          for (let k = 0; k < slices; k++) {
            const order = (r + c + k) % 2 === 0 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const);
            for (const side of order) {
              const res = await runLoad(o.client, { url: targets[side], connections: c, durationS: 1, headers: HEADERS[enc] });
              check(res, size[enc], c, `${side} ${enc} c=${c}`);
              got[side].push(res);
            }
          }
          const round = { ours: merge(got.ours), baseline: merge(got.baseline) };
          rounds.push(round);
          o.log(`  ${enc} c=${c} round ${r + 1}: ours ${round.ours.rps.toFixed(0)} req/s p99 ${round.ours.p99Ms.toFixed(1)} ms | baseline ${round.baseline.rps.toFixed(0)} req/s p99 ${round.baseline.p99Ms.toFixed(1)} ms`);
        }
        const ours = combine(rounds.map((x) => x.ours));
        const base = combine(rounds.map((x) => x.baseline));
        cases.push({ encoding: enc, connections: c, ours, baseline: base, rpsRatio: ours.rps / base.rps, p99Ratio: ours.p99Ms / base.p99Ms, rounds });
      }
    }
    const after = await child.call<{ renders: number; exposes: number }>('counters');
    return {
      baseline: baseline.description,
      baselineKind: baseline.kind,
      answerBytes: size,
      initialRenderMs: init.renderMs,
      cases,
      rendersDuringLoad: after.renders - before.renders,
      scrapesServed: after.exposes - before.exposes,
    };
  } finally {
    await baseline?.stop();
    await child.stop();
  }
}
