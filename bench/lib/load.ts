/**
 * The load client: wrk when installed, else autocannon (its CLI, in a
 * separate process). Either way the client is bounded (one thread / one
 * process, a fixed number of keep-alive connections, a fixed duration) and
 * the same client drives both the exporter and the baseline.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findExecutable } from './tools.js';

export interface LoadClient {
  readonly kind: 'wrk' | 'autocannon';
  /** e.g. "wrk 4.1.0 (1 thread)" or "autocannon 8.0.0 (fallback: wrk not installed)". */
  readonly description: string;
  readonly bin: string;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface LoadResult {
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Body plus headers per response as the client counted it: checks that whole answers came back. */
  readonly bytesPerRequest: number;
  readonly errors: number;
  readonly non2xx: number;
}

export function detectClient(force?: 'wrk' | 'autocannon'): LoadClient {
  const wrk = force === 'autocannon' ? undefined : findExecutable('wrk');
  if (wrk) {
    const v = spawnSync(wrk, ['--version'], { encoding: 'utf8' });
    const version = /wrk\s+(?:debian\/)?([\w.+-]+)/.exec(`${v.stdout}${v.stderr}`)?.[1] ?? '?';
    return { kind: 'wrk', bin: wrk, description: `wrk ${version} (1 thread)` };
  }
  const req = createRequire(import.meta.url);
  const pkg = req.resolve('autocannon/package.json');
  const version = (req('autocannon/package.json') as { version: string }).version;
  const why = force === 'autocannon' ? 'forced by --client=autocannon' : 'fallback: wrk not installed';
  return { kind: 'autocannon', bin: path.join(path.dirname(pkg), 'autocannon.js'), description: `autocannon ${version} CLI, separate process (${why})` };
}

// wrk's `done` hook prints one JSON line: latencies in microseconds.
const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;
let wrkScript: string | undefined;

function run(bin: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function runLoad(client: LoadClient, o: LoadOptions): Promise<LoadResult> {
  const headers = Object.entries(o.headers ?? {});
  const budget = (o.durationS + 30) * 1000;
  if (client.kind === 'wrk') {
    if (!wrkScript) {
      wrkScript = path.join(mkdtempSync(path.join(tmpdir(), 'sas-bench-wrk-')), 'report.lua');
      writeFileSync(wrkScript, WRK_SCRIPT);
    }
    const args = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--timeout', '10s', '-s', wrkScript];
    for (const [k, v] of headers) args.push('-H', `${k}: ${v}`);
    args.push(o.url);
    const r = await run(client.bin, args, budget);
    const line = /WRKJSON (\{.*\})/.exec(r.stdout)?.[1];
    if (r.code !== 0 || !line) throw new Error(`wrk failed (exit ${r.code}): ${r.stderr || r.stdout}`);
    const j = JSON.parse(line) as Record<string, number>;
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
    const durationS = j.duration_us! / 1e6;
    return {
      requests: j.requests!,
      durationS,
      rps: j.requests! / durationS,
      p50Ms: j.p50! / 1000,
      p99Ms: j.p99! / 1000,
      maxMs: j.max! / 1000,
      bytesPerRequest: j.requests ? j.bytes! / j.requests : 0,
      errors: j.connect! + j.read! + j.write! + j.timeout!,
      non2xx,
    };
  }
  const args = [client.bin, '-c', String(o.connections), '-d', String(o.durationS), '-j', '-t', '10'];
  for (const [k, v] of headers) args.push('-H', `${k}=${v}`);
  args.push(o.url);
  const r = await run(process.execPath, args, budget);
  if (r.code !== 0) throw new Error(`autocannon failed (exit ${r.code}): ${r.stderr}`);
  const j = JSON.parse(r.stdout) as {
    duration: number;
    latency: { p50: number; p99: number; max: number };
    requests: { total: number };
    throughput: { total: number };
    errors: number;
    timeouts: number;
    non2xx: number;
  };
  return {
    requests: j.requests.total,
    durationS: j.duration,
    rps: j.requests.total / j.duration,
    p50Ms: j.latency.p50,
    p99Ms: j.latency.p99,
    maxMs: j.latency.max,
    bytesPerRequest: j.requests.total ? j.throughput.total / j.requests.total : 0,
    errors: j.errors, // timeouts are counted in errors too
    non2xx: j.non2xx,
  };
}
