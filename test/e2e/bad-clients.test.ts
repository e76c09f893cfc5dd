/**
 * Hostile and broken HTTP clients against the BUILT exporter, end to end.
 *
 * Two exporter processes poll one in-process simulator, both with
 * `--web.max-requests=4`:
 *   - `secure`: HTTPS and basic auth from a `--web.config.file` in
 *     exporter-toolkit format (throwaway PKI made with openssl, bcrypt hash
 *     made here with bcryptjs), lifecycle API on; a small task set;
 *   - `plain`: plain HTTP, no web config; a task set whose exposition is
 *     ~10 MB. Node answers a scrape from the cache within one turn of the
 *     event loop, and loopback takes a few MB in one write: only an answer
 *     bigger than that is still being written when the next scrape arrives,
 *     so only then do parallel scrapes really overlap and meet the cap.
 *
 * Every answer any test gets is recorded; the last test checks that none was
 * a 500, none carried a stack trace, module path, framework name or the
 * version, none had X-Powered-By, and that both processes are still alive,
 * healthy, serving valid expositions and logged no bug.
 */
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEMO_CREDENTIALS, buildScenario, startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { ExporterProcess, ROOT, tempDir, writeConfig } from '../support/exporter.js';
import { parseExposition, select, statusOf } from '../support/exposition.js';
import { basic, makePki, type Pki } from '../support/pki.js';

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const USER = 'prometheus';
const PASSWORD = 'c0rrect horse:battery staple';
const MAX_REQUESTS = 4;
/** Task sets: IDs from `first`, each with `targets` targets. */
const SMALL = { first: 7001, tasks: 20, targets: 5 };
const BIG = { first: 8001, tasks: 400, targets: 180 };
type TaskSet = typeof SMALL;
const idsOf = (set: TaskSet): string[] => Array.from({ length: set.tasks }, (_, i) => String(set.first + i));

// ---------------------------------------------------------------------------
// Clients: every answer is recorded for the final audit.

interface Answer {
  where: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}
const answers: Answer[] = [];

interface Target {
  name: 'secure' | 'plain';
  port: number;
  tls: boolean;
  set: TaskSet;
}

let pki: Pki;
let secure: Target;
let plain: Target;

/** One request on a fresh connection; the answer is recorded. */
function send(t: Target, pathname: string, opts: { method?: string; auth?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Answer> {
  const mod = t.tls ? https : http;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth) headers.authorization = opts.auth;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        host: '127.0.0.1',
        port: t.port,
        path: pathname,
        method: opts.method ?? 'GET',
        headers,
        agent: false,
        timeout: opts.timeoutMs ?? 10_000,
        ...(t.tls ? { ca: pki.ca1.cert, servername: 'localhost' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const a = { where: `${t.name} ${opts.method ?? 'GET'} ${pathname.slice(0, 60)}`, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
          answers.push(a);
          resolve(a);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`client timeout: ${t.name} ${pathname.slice(0, 60)}`)));
    req.on('error', reject);
    req.end();
  });
}

const creds = (): string => basic(USER, PASSWORD);

interface RawResult {
  text: string;
  /** The server closed (or reset) the connection. */
  closed: boolean;
  /** Ms from the first byte sent to the close (or to the give-up). */
  ms: number;
}

/**
 * Raw bytes on a fresh TCP or TLS connection: `data` at once, or byte by byte
 * every `trickleMs` (looping over it: the headers never end). Resolves when
 * the server closes the connection or after `giveUpMs`.
 */
function raw(t: Target, data: string, o: { trickleMs?: number; giveUpMs?: number; forceTcp?: boolean } = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const useTls = t.tls && !o.forceTcp;
    const sock: net.Socket = useTls
      ? tls.connect({ host: '127.0.0.1', port: t.port, ca: pki.ca1.cert, servername: 'localhost' })
      : net.connect(t.port, '127.0.0.1');
    let text = '';
    let started = 0;
    let trickle: NodeJS.Timeout | undefined;
    let giveUp: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      clearInterval(trickle);
      clearTimeout(giveUp);
      sock.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
    sock.on('error', () => undefined); // a reset is a close too
    sock.on('close', () => finish(true));
    sock.once(useTls ? 'secureConnect' : 'connect', () => {
      started = Date.now();
      giveUp = setTimeout(() => finish(false), o.giveUpMs ?? 3_000);
      if (o.trickleMs === undefined) {
        sock.write(data);
        return;
      }
      let i = 0;
      trickle = setInterval(() => {
        if (sock.writable) sock.write(data[i++ % data.length]!);
      }, o.trickleMs);
    });
  });
}

/** The status of a raw HTTP answer, 0 when there was none. */
function statusLine(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}

function recordRaw(t: Target, what: string, r: RawResult): void {
  const status = statusLine(r.text);
  if (status === 0) return;
  const split = r.text.indexOf('\r\n\r\n');
  const headers: http.IncomingHttpHeaders = {};
  for (const line of r.text.slice(0, split < 0 ? undefined : split).split('\r\n').slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  answers.push({ where: `${t.name} raw ${what}`, status, headers, body: split < 0 ? '' : r.text.slice(split + 4) });
}

function validExposition(t: Target, body: string): void {
  const samples = parseExposition(body);
  const first = String(t.set.first);
  expect(select(samples, 'aliyun_sas_scan_task_info')).toHaveLength(t.set.tasks);
  expect(statusOf(samples, first)).toBe('processing');
  expect(select(samples, 'aliyun_sas_scan_task_target_info', { task_id: first })).toHaveLength(t.set.targets);
}

// ---------------------------------------------------------------------------
// Set-up: one simulator, two exporters.

let sim: SimulatorHandle;
let dir: string;
let secureProc: ExporterProcess;
let plainProc: ExporterProcess;

function demoEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (/^(ALIBABA_CLOUD_|ALICLOUD_)/i.test(k)) env[k] = undefined;
  return { ...env, ALIBABA_CLOUD_ACCESS_KEY_ID: DEMO_CREDENTIALS.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEMO_CREDENTIALS.accessKeySecret };
}

async function waitHttpsReady(p: ExporterProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  const t: Target = { name: 'secure', port: p.port, tls: true, set: SMALL };
  while (Date.now() < deadline) {
    if (p.exitCode !== null) throw new Error(`secure exporter exited with ${p.exitCode}:\n${p.output}`);
    try {
      if ((await send(t, '/-/ready')).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`secure exporter not ready:\n${p.output}`);
}

beforeAll(async () => {
  pki = makePki();
  const simTasks = (set: TaskSet) =>
    idsOf(set).map((id) => ({
      id,
      status: 'Processing',
      targets: Array.from({ length: set.targets }, (_, j) => ({ type: 'uuid', target: `${id}0000-0000-4000-8000-${String(j).padStart(12, '0')}`, name: `host-${id}-${j}` })),
    }));
  sim = await startSimulator({ scenario: buildScenario({ tasks: [...simTasks(SMALL), ...simTasks(BIG)] }, 'bad-clients'), host: '127.0.0.1', port: 0 });
  dir = await tempDir('sas-bad-clients-');
  const config = (set: TaskSet, name: string) =>
    writeConfig(
      dir,
      [
        `endpoint: "${sim.endpoint}"`,
        'protocol: http',
        'schedule: "*/10 * * * * *"',
        'request_timeout: 2s',
        'concurrency: 8',
        'rate_limit: { qps: 2000, burst: 2000 }',
        'terminal_recheck_interval: 0s',
        'tasks:',
        ...idsOf(set).map((id) => `  - ${id}`),
        '',
      ].join('\n'),
      name,
    );
  const hash = bcrypt.hashSync(PASSWORD, 8);
  const webConfig = path.join(dir, 'web.yml');
  await writeFile(
    webConfig,
    [
      'tls_server_config:',
      `  cert_file: ${pki.server1.certFile}`,
      `  key_file: ${pki.server1.keyFile}`,
      'basic_auth_users:',
      `  ${USER}: ${JSON.stringify(hash)}`,
      '',
    ].join('\n'),
  );
  const common = ['--no-config.watch', `--web.max-requests=${MAX_REQUESTS}`];
  const [smallConfig, bigConfig] = await Promise.all([config(SMALL, 'small.yaml'), config(BIG, 'big.yaml')]);
  [secureProc, plainProc] = await Promise.all([
    ExporterProcess.start({ args: [...common, `--config.file=${smallConfig}`, `--web.config.file=${webConfig}`, '--web.enable-lifecycle'], env: demoEnv(), waitFor: 'none' }),
    ExporterProcess.start({ args: [...common, `--config.file=${bigConfig}`], env: demoEnv(), waitFor: 'ready' }),
  ]);
  secure = { name: 'secure', port: secureProc.port, tls: true, set: SMALL };
  plain = { name: 'plain', port: plainProc.port, tls: false, set: BIG };
  await waitHttpsReady(secureProc);
}, 60_000);

afterAll(async () => {
  await Promise.all([secureProc?.stop(), plainProc?.stop()]);
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  pki?.cleanup();
});

// ---------------------------------------------------------------------------

describe('bad clients against the built exporter', () => {
  test('basic auth over TLS: no or wrong credentials get 401 with a challenge, the right ones a valid exposition', async () => {
    for (const auth of [undefined, basic(USER, 'wrong'), basic('nobody', PASSWORD), basic(USER, ''), 'Basic !!!notbase64', 'Bearer abc']) {
      const r = await send(secure, '/metrics', { auth });
      expect(r.status, `${auth}`).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Basic\b/);
      expect(r.body).not.toContain('aliyun_sas');
    }
    const ok = await send(secure, '/metrics', { auth: creds() });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    validExposition(secure, ok.body);
    // HEAD is guarded too.
    expect((await send(secure, '/metrics', { method: 'HEAD' })).status).toBe(401);
    expect((await send(secure, '/metrics', { method: 'HEAD', auth: creds() })).status).toBe(200);
  });

  test('health and readiness stay open without credentials; the landing page is behind basic auth like /metrics, with its security headers', async () => {
    for (const t of [secure, plain]) {
      expect((await send(t, '/-/healthy')).status).toBe(200);
      expect((await send(t, '/-/ready')).status).toBe(200);
      if (t === secure) {
        const denied = await send(t, '/');
        expect(denied.status).toBe(401);
        expect(denied.headers['www-authenticate']).toMatch(/^Basic\b/);
        expect(denied.body).not.toContain('/metrics');
      }
      const landing = await send(t, '/', t === secure ? { auth: creds() } : {});
      expect(landing.status).toBe(200);
      expect(landing.headers['x-content-type-options']).toBe('nosniff');
      expect(landing.headers['x-frame-options']).toMatch(/^(DENY|SAMEORIGIN)$/i);
      expect(landing.headers['content-security-policy']).toMatch(/default-src 'none'/);
      expect(landing.headers['x-powered-by']).toBeUndefined();
    }
  });

  test('/-/reload is protected: 401 without or with wrong credentials, 200 with the right ones; GET is 405', async () => {
    const calls = () => secureProc.output.match(/configuration reloaded/g)?.length ?? 0;
    const before = calls();
    for (const auth of [undefined, basic(USER, 'nope')]) {
      const r = await send(secure, '/-/reload', { method: 'POST', auth });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Basic\b/);
    }
    expect(calls()).toBe(before);
    const r = await send(secure, '/-/reload', { method: 'POST', auth: creds() });
    expect(r.status).toBe(200);
    await expect.poll(calls, { timeout: 2_000 }).toBe(before + 1);
    const get = await send(secure, '/-/reload');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toMatch(/POST/);
    // The plain instance has no lifecycle API.
    expect((await send(plain, '/-/reload', { method: 'POST' })).status).toBe(403);
  });

  test('plain HTTP sent to the TLS port is closed without an HTTP answer; HTTPS keeps working', async () => {
    const r = await raw(secure, 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n', { forceTcp: true, giveUpMs: 5_000 });
    expect(r.closed).toBe(true);
    expect(r.text).not.toMatch(/^HTTP\/1\.[01] 200/);
    expect(r.text).not.toContain('aliyun_sas');
    await expect(fetch(`http://127.0.0.1:${secure.port}/-/healthy`)).rejects.toThrow();
    expect((await send(secure, '/-/healthy')).status).toBe(200);
  });

  test('slowloris (headers trickled byte by byte, TCP and TLS) is cut after the 10 s headers timeout while scrapes stay fast', async () => {
    const trickled = 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'a'.repeat(4096);
    const slow = [secure, plain].flatMap((t) => Array.from({ length: 10 }, () => raw(t, trickled, { trickleMs: 50, giveUpMs: 14_000 })));
    // Meanwhile, ordinary scrapes of both, one after another.
    let stop = false;
    const latencies: number[] = [];
    const statuses: number[] = [];
    const scraper = (async () => {
      while (!stop) {
        for (const t of [secure, plain]) {
          const t0 = performance.now();
          const r = await send(t, '/metrics', { auth: t.tls ? creds() : undefined });
          latencies.push(performance.now() - t0);
          statuses.push(r.status);
        }
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    const results = await Promise.all(slow);
    stop = true;
    await scraper;
    for (const r of results) {
      expect(r.closed, 'slowloris connection still open after 14 s').toBe(true);
      expect(r.ms).toBeGreaterThan(8_000); // cut by the timeout, not refused for another reason
      expect(r.ms).toBeLessThan(12_500);
      // A 408 (plain) or just a close; never the metrics.
      expect([0, 408]).toContain(statusLine(r.text));
    }
    recordRaw(plain, 'slowloris', results[results.length - 1]!);
    expect(statuses.length).toBeGreaterThan(20);
    expect(new Set(statuses)).toEqual(new Set([200]));
    latencies.sort((a, b) => a - b);
    expect(latencies[latencies.length - 1], `scrape latencies (ms): ${latencies.map(Math.round).join(' ')}`).toBeLessThan(2_000);
  }, 30_000);

  test(`200 parallel scrapes with --web.max-requests=${MAX_REQUESTS}: only 200s and 503s (some 503s for the 10 MB exposition), complete bodies; then normal`, async () => {
    for (const t of [plain, secure]) {
      const auth = t.tls ? creds() : undefined;
      // Credentials verified once are cached; a flood of unverified ones would
      // meet the bcrypt queue (429) first, by design.
      if (auth) expect((await send(t, '/metrics', { auth })).status).toBe(200);
      const before = select(parseExposition((await send(t, '/metrics', { auth })).body), 'aliyun_sas_exporter_scrapes_total', { code: '503' })[0]?.value ?? 0;
      const flood = await Promise.all(Array.from({ length: 200 }, () => send(t, '/metrics', { auth, timeoutMs: 20_000 })));
      const byStatus = new Map<number, number>();
      for (const r of flood) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
      expect([...byStatus.keys()].every((s) => s === 200 || s === 503), `${t.name}: ${JSON.stringify([...byStatus])}`).toBe(true);
      // Over TLS the small answers of `secure` may all be written at once: 503s are not required there.
      if (t === plain) expect(byStatus.get(503) ?? 0, `${t.name}: ${JSON.stringify([...byStatus])}`).toBeGreaterThan(0);
      expect(byStatus.get(200) ?? 0, `${t.name}: ${JSON.stringify([...byStatus])}`).toBeGreaterThan(0);
      for (const r of flood) {
        if (r.status === 503) {
          expect(r.headers['retry-after']).toBe('1');
          continue;
        }
        expect(Buffer.byteLength(r.body)).toBe(Number(r.headers['content-length']));
      }
      validExposition(t, flood.find((r) => r.status === 200)!.body);
      // Then normal: the slots were all given back.
      for (let i = 0; i < 2 * MAX_REQUESTS; i++) expect((await send(t, '/metrics', { auth })).status).toBe(200);
      const counted = select(parseExposition((await send(t, '/metrics', { auth })).body), 'aliyun_sas_exporter_scrapes_total', { code: '503' });
      expect((counted[0]?.value ?? 0) - before).toBe(byStatus.get(503) ?? 0);
    }
  }, 30_000);

  test('odd methods on the telemetry path: 405 with Allow, with or without credentials', async () => {
    for (const t of [secure, plain]) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
        for (const auth of t.tls ? [undefined, creds()] : [undefined]) {
          const r = await send(t, '/metrics', { method, auth });
          expect(r.status, `${t.name} ${method}`).toBe(405);
          expect(r.headers.allow).toBe('GET, HEAD');
        }
      }
      // CONNECT has no handler: answered 4xx or closed, never served.
      const c = await raw(t, 'CONNECT /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n');
      expect(c.closed).toBe(true);
      const cs = statusLine(c.text);
      expect(cs === 0 || (cs >= 400 && cs < 500), c.text.slice(0, 100)).toBe(true);
      recordRaw(t, 'CONNECT', c);
    }
  });

  test('odd paths: 404 or 400 (431 past the header limit), never 500', async () => {
    const paths = ['/../etc/passwd', '/%00', '/metrics/../', '/metrics/..%2f..%2fetc/passwd', '/%', '/%ZZ', '/%c0%af', '//metrics', '/-/', '/-/healthy/../../etc/passwd', '/index.html', `/${'a'.repeat(8_000)}`];
    for (const t of [secure, plain]) {
      for (const p of paths) {
        for (const auth of t.tls ? [undefined, creds()] : [undefined]) {
          // Raw, so no client library normalises the path first.
          const r = await raw(t, `GET ${p} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${auth ? `Authorization: ${auth}\r\n` : ''}\r\n`);
          recordRaw(t, `GET ${p.slice(0, 40)}`, r);
          expect([400, 404], `${t.name} ${p.slice(0, 40)}: ${r.text.slice(0, 80)}`).toContain(statusLine(r.text));
        }
      }
      const junk: Array<[string, number[]]> = [
        [`GET /${'b'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, [414, 431]],
        ['GET /\u0000 HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
        ['GET /metrics HTTP/1.1\r\n\r\n', [400]], // HTTP/1.1 without Host
        ['GARBAGE\r\n\r\n', [400]],
        ['GET /metrics HTTP/9.9\r\nHost: localhost\r\n\r\n', [400, 505]],
        ['POST /-/reload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', [400]], // smuggling shape
      ];
      for (const [req, expected] of junk) {
        const r = await raw(t, req);
        recordRaw(t, `junk ${JSON.stringify(req.slice(0, 30))}`, r);
        expect(expected, `${t.name} ${JSON.stringify(req.slice(0, 40))}: ${r.text.slice(0, 80)}`).toContain(statusLine(r.text));
      }
    }
  });

  test('32 KiB of headers: 431', async () => {
    for (const t of [secure, plain]) {
      const r = await raw(t, `GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'x'.repeat(32 * 1024)}\r\n\r\n`);
      recordRaw(t, 'huge header', r);
      expect(statusLine(r.text), r.text.slice(0, 80)).toBe(431);
      expect(r.closed).toBe(true);
      // Many headers adding up past the limit, too.
      const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'y'.repeat(80)}\r\n`).join('');
      const r2 = await raw(t, `GET /metrics HTTP/1.1\r\nHost: localhost\r\n${many}\r\n`);
      recordRaw(t, 'many headers', r2);
      expect(statusLine(r2.text)).toBe(431);
    }
  });

  test('after all that: no 500, no stack, module path, framework or version in any error answer; no X-Powered-By; both alive and serving', async () => {
    expect(answers.length).toBeGreaterThan(300);
    const stack = /^\s*at .+:\d+:\d+\)?$|\n\s+at [\w.<>]+ \(/m;
    for (const a of answers) {
      expect(a.status, a.where).not.toBe(500);
      expect(a.headers['x-powered-by'], a.where).toBeUndefined();
      expect(String(a.headers.server ?? ''), a.where).not.toMatch(/express|node/i);
      if (a.status < 400) continue;
      expect(a.body, a.where).not.toMatch(stack);
      expect(a.body, a.where).not.toContain('node_modules');
      expect(a.body, a.where).not.toMatch(/express/i);
      expect(a.body, a.where).not.toContain(VERSION);
      expect(a.body, a.where).not.toMatch(/<(html|pre)/i);
      expect(a.body.length, a.where).toBeLessThan(200);
    }
    for (const [t, p] of [[secure, secureProc], [plain, plainProc]] as const) {
      expect(p.exitCode, t.name).toBeNull();
      expect(() => process.kill(p.child.pid!, 0)).not.toThrow();
      expect((await send(t, '/-/healthy')).status).toBe(200);
      const m = await send(t, '/metrics', { auth: t.tls ? creds() : undefined });
      expect(m.status).toBe(200);
      validExposition(t, m.body);
      expect(p.output, `${t.name} log`).not.toMatch(/BUG:|HTTP handler failed|unhandled error/);
    }
  });
});
