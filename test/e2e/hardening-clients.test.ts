/**
 * Hostile clients, end to end, against the built exporter: a flood of wrong
 * passwords against a cost-14 bcrypt hash, a flood of idle sockets, and the
 * certificate served when its files are rotated on disk or have expired.
 * Latencies are measured in the same run as the flood, with generous
 * bounds (the machine is shared); the figures go to the README.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tempDir } from '../support/exporter.js';
import { parseExposition, type Sample } from '../support/exposition.js';
import { sleep } from '../support/net.js';
import { basic, makeExpiredServerCert, makePki, type Pki } from '../support/pki.js';
import { percentile } from '../support/proc.js';
import { simTask, sum, withRigs, type Rig } from '../support/rig.js';
import { EVERY_SECOND, exporterYaml } from '../support/yaml.js';

const PASSWORD = 'correct horse battery staple';
let hash14: string;
let pki: Pki;
let dir: string;

beforeAll(async () => {
  hash14 = bcrypt.hashSync(PASSWORD, 14); // about 1.5 s here; what the issue was found with
  pki = makePki();
  dir = await tempDir('sas-e2e-clients-');
});
afterAll(async () => {
  pki?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

interface Timed {
  status: number;
  ms: number;
}

/** One GET (on a fresh connection unless an agent is given); status 0 when the connection failed or timed out. */
function get(port: number, pathname: string, headers: Record<string, string> = {}, timeoutMs = 5000, agent: http.Agent | false = false): Promise<Timed> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, headers, agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
  });
}

/** Calls `probe` every `everyMs` until `stop` is set; returns every result. */
async function probeLoop(probe: () => Promise<Timed>, everyMs: number, stop: { done: boolean }): Promise<Timed[]> {
  const out: Timed[] = [];
  while (!stop.done) {
    out.push(await probe());
    await sleep(everyMs);
  }
  return out;
}

const fmt = (xs: Timed[]) => {
  const ok = xs.filter((x) => x.status === 200).map((x) => x.ms);
  return { n: xs.length, ok: ok.length, p50: percentile(ok, 50), p99: percentile(ok, 99), max: Math.max(...ok) };
};

/** Health probes for `ms` with nothing else going on: the baseline of this run, on this (shared) machine. */
async function quietHealth(port: number, ms = 2000): Promise<ReturnType<typeof fmt>> {
  const stop = { done: false };
  const probes = probeLoop(() => get(port, '/-/healthy'), 25, stop);
  await sleep(ms);
  stop.done = true;
  return fmt(await probes);
}

/**
 * Latency bounds during a flood, relative to the quiet baseline of the same
 * run (a loaded machine slows both), with floors for a quiet machine and
 * room for a machine whose load changes between the two phases. What they
 * catch: the event loop held by the flood (bcrypt on the main thread made
 * every probe wait 300 ms or more, p50 included, and the issue saw 7-13 s).
 */
function expectResponsive(what: string, flood: ReturnType<typeof fmt>, quiet: ReturnType<typeof fmt>): void {
  expect(flood.p50, `${what} p50 (quiet ${quiet.p50.toFixed(1)} ms)`).toBeLessThan(Math.max(100, 5 * quiet.p50));
  expect(flood.p99, `${what} p99 (quiet ${quiet.p99.toFixed(1)} ms)`).toBeLessThan(Math.max(1000, 10 * quiet.p99));
}

describe('a flood of wrong passwords against a cost-14 bcrypt hash', () => {
  test('health and readiness answer in milliseconds, cached scrapes are served, the flood is answered 401/429 and counted', withRigs(async (start) => {
    const web = path.join(dir, 'web-auth.yml');
    await writeFile(web, `basic_auth_users:\n  prometheus: ${hash14}\n`);
    const r = await start({
      tag: 'authflood',
      args: [`--web.config.file=${web}`],
      scenario: { tasks: [simTask('8101', 'Success', 3)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, tasks: ['8101'] }),
    });
    const port = r.exporter.port;
    const good = { authorization: basic('prometheus', PASSWORD) };
    // The scraper's first login costs one bcrypt; then it is cached.
    expect((await get(port, '/metrics', good, 20_000)).status).toBe(200);

    const base = await quietHealth(port);

    const stop = { done: false };
    let sent = 0;
    const statuses = new Map<number, number>();
    // Each attacker keeps its connection and sends the next wrong password as soon as the last one
    // is answered (after 50 ms when turned away with 429): the bcrypt queue is kept full all along,
    // without turning the test into a plain request flood of the machine it shares.
    const flooder = async (i: number): Promise<void> => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (!stop.done) {
          const res = await get(port, '/metrics', { authorization: basic(i % 2 ? 'prometheus' : 'mallory', `wrong-${sent++}`) }, 30_000, agent);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status !== 401) await sleep(50);
        }
      } finally {
        agent.destroy();
      }
    };
    const flood = Promise.all(Array.from({ length: 24 }, (_, i) => flooder(i)));
    await sleep(500);
    const health = probeLoop(() => get(port, '/-/healthy'), 25, stop);
    const ready = probeLoop(() => get(port, '/-/ready'), 25, stop);
    const scrapes = probeLoop(() => get(port, '/metrics', good), 100, stop);
    await sleep(8000);
    stop.done = true;
    const [h, rd, sc] = [fmt(await health), fmt(await ready), fmt(await scrapes)];
    await flood;

    const s: Sample[] = parseExposition(await (await fetch(`${r.exporter.base}/metrics`, { headers: good })).text());
    console.log(
      `[figures] auth flood (24 keep-alive clients, cost 14, ${sent} wrong passwords in 8 s: ${JSON.stringify(Object.fromEntries(statuses))}): ` +
        `/-/healthy p50 ${h.p50.toFixed(1)} p99 ${h.p99.toFixed(1)} max ${h.max.toFixed(0)} ms (quiet p99 ${base.p99.toFixed(1)}); /-/ready p99 ${rd.p99.toFixed(1)} ms; ` +
        `cached scrapes ${sc.ok}/${sc.n} p99 ${sc.p99.toFixed(1)} ms`,
    );
    expect(h.ok).toBe(h.n);
    expect(rd.ok).toBe(rd.n);
    expect(sc.ok).toBe(sc.n);
    expect(h.n).toBeGreaterThan(20);
    expectResponsive('/-/healthy', h, base);
    expectResponsive('/-/ready', rd, base);
    expect(sc.p99).toBeLessThan(Math.max(1000, 10 * base.p99));
    expect(statuses.get(401) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(429) ?? 0).toBeGreaterThan(0);
    // 0: an attacker's own connection failing (a keep-alive closed under it on a loaded machine); never a 2xx or 5xx.
    expect([...statuses.keys()].every((c) => c === 401 || c === 429 || c === 0), JSON.stringify([...statuses])).toBe(true);
    expect(sum(s, 'aliyun_sas_exporter_http_auth_denied_total', { reason: 'invalid' })).toBeGreaterThan(0);
    expect(sum(s, 'aliyun_sas_exporter_http_auth_denied_total', { reason: 'busy' })).toBeGreaterThan(0);
  }), 90_000);
});

describe('a flood of idle sockets', () => {
  test('500 idle connections from five addresses, reopened as they are closed (twice the limit of 256): every health probe and scrape is answered', withRigs(async (start) => {
    const r = await start({
      tag: 'idleflood',
      scenario: { tasks: [simTask('8201', 'Processing', 2)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, tasks: ['8201'] }),
    });
    const port = r.exporter.port;
    const base = await quietHealth(port);
    // 100 from each of 127.0.0.2-6: together, past the 256 in all.
    const attackers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
    const held = new Map<string, Set<net.Socket>>(attackers.map((a) => [a, new Set()]));
    let opened = 0;
    let pushedOut = 0;
    const stop = { done: false };
    const refill = (): void => {
      for (const [address, set] of held) {
        for (let i = set.size; i < 100 && !stop.done; i++) {
          const s = net.connect({ port, host: '127.0.0.1', localAddress: address });
          opened++;
          set.add(s);
          s.on('error', () => undefined);
          s.on('close', () => {
            set.delete(s);
            if (!stop.done) pushedOut++;
          });
        }
      }
    };
    refill();
    const timer = setInterval(refill, 1000); // a persistent attacker: what is closed is reopened
    try {
      await sleep(1500);
      const health = probeLoop(() => get(port, '/-/healthy', {}, 2000), 25, stop);
      const scrapes = probeLoop(() => get(port, '/metrics', {}, 2000), 200, stop);
      await sleep(8000);
      stop.done = true;
      const [h, sc] = [fmt(await health), fmt(await scrapes)];
      console.log(
        `[figures] idle-socket flood (500 held from 5 addresses, ${opened} opened, ${pushedOut} pushed out): ` +
          `/-/healthy ${h.ok}/${h.n} answered, p50 ${h.p50.toFixed(1)} p99 ${h.p99.toFixed(1)} max ${h.max.toFixed(0)} ms (quiet p50 ${base.p50.toFixed(1)} p99 ${base.p99.toFixed(1)}); scrapes ${sc.ok}/${sc.n}, p99 ${sc.p99.toFixed(1)} ms`,
      );
      // Every probe, but for the documented trade-off: on a saturated machine a probe whose request
      // is not read within the flood's churn may be pushed out too (Node's own cap answered 1 in 10).
      expect(h.n).toBeGreaterThan(20);
      expect(h.ok).toBeGreaterThanOrEqual(Math.floor(0.95 * h.n));
      expect(sc.ok).toBeGreaterThanOrEqual(Math.floor(0.9 * sc.n));
      expectResponsive('/-/healthy', h, base);
      expect(pushedOut).toBeGreaterThan(0);
    } finally {
      stop.done = true;
      clearInterval(timer);
      for (const set of held.values()) for (const s of set) s.destroy();
    }
    const s = await r.scrape();
    expect(sum(s, 'aliyun_sas_exporter_http_connections_shed_total', { reason: 'idle_evicted' })).toBeGreaterThan(0);
  }), 90_000);
});

// ---------------------------------------------------------------------------

/** The certificate a new TLS connection is served (fingerprint), or undefined when the handshake failed. */
function servedCertificate(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', () => resolve(undefined));
    s.setTimeout(3000, () => s.destroy());
  });
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

async function waitHealthyTls(r: Rig): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await servedCertificate(r.exporter.port)) !== undefined) return;
    await sleep(100);
  }
  throw new Error(`exporter not serving TLS:\n${r.output}`);
}

describe('certificates on disk', () => {
  test('rotated the Kubernetes way (the ..data symlink of a Secret swapped): new connections get the new certificate without a SIGHUP', withRigs(async (start) => {
    const certs = path.join(dir, 'certs');
    await mkdir(path.join(certs, '..v1'), { recursive: true });
    await writeFile(path.join(certs, '..v1', 'tls.crt'), pki.server1.cert);
    await writeFile(path.join(certs, '..v1', 'tls.key'), pki.server1.key);
    await symlink('..v1', path.join(certs, '..data'));
    await symlink('..data/tls.crt', path.join(certs, 'tls.crt'));
    await symlink('..data/tls.key', path.join(certs, 'tls.key'));
    const web = path.join(dir, 'web-tls.yml');
    await writeFile(web, 'tls_server_config:\n  cert_file: certs/tls.crt\n  key_file: certs/tls.key\n');
    const r = await start({
      tag: 'rotate',
      noWatch: false,
      waitFor: 'none',
      args: [`--web.config.file=${web}`],
      scenario: { tasks: [simTask('8301', 'Success', 1)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, tasks: ['8301'] }),
    });
    await waitHealthyTls(r);
    const first = fingerprint(pki.server1.cert);
    const second = fingerprint(pki.server2.cert);
    expect(await servedCertificate(r.exporter.port)).toBe(first);

    await mkdir(path.join(certs, '..v2'));
    await writeFile(path.join(certs, '..v2', 'tls.crt'), pki.server2.cert);
    await writeFile(path.join(certs, '..v2', 'tls.key'), pki.server2.key);
    await symlink('..v2', path.join(certs, '..data_tmp'));
    const t0 = Date.now();
    await rename(path.join(certs, '..data_tmp'), path.join(certs, '..data'));
    let served: string | undefined;
    while (Date.now() - t0 < 10_000 && (served = await servedCertificate(r.exporter.port)) !== second) await sleep(100);
    console.log(`[figures] certificate rotation: served after ${Date.now() - t0} ms, no SIGHUP`);
    expect(served).toBe(second);
    expect(r.output).toMatch(/msg="configuration reloaded" trigger="file change"/);
  }), 90_000);

  test('an expired certificate is served (as exporter-toolkit does) with a warning naming its expiry', withRigs(async (start) => {
    const d = path.join(dir, 'expired');
    await mkdir(d);
    const expired = makeExpiredServerCert(d);
    const web = path.join(dir, 'web-expired.yml');
    await writeFile(web, `tls_server_config:\n  cert_file: ${expired.certFile}\n  key_file: ${expired.keyFile}\n`);
    const r = await start({
      tag: 'expired',
      waitFor: 'none',
      args: [`--web.config.file=${web}`],
      scenario: { tasks: [simTask('8401', 'Success', 1)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, tasks: ['8401'] }),
    });
    await waitHealthyTls(r);
    expect(r.output).toMatch(/level=warn msg="the TLS certificate served has expired; scrapers that verify it will fail".*not_after=2020-01-02T00:00:00.000Z/);
    expect(r.output).toMatch(/msg=listening .*tls_not_after=2020-01-02T00:00:00.000Z/);
  }), 90_000);
});
