/**
 * The telemetry fast path (createRequestListener, added for scrape
 * throughput, see bench/) must answer exactly as the express route does:
 * same status, headers and body for every case it takes, and everything else
 * left to express.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createRequestListener, type AppDeps } from '../../src/http/app.js';
import { basicAuthMiddleware } from '../../src/web/basicAuth.js';
import { silentLogger } from '../../src/log/logger.js';
import { ExpositionCache } from '../../src/metrics/cache.js';
import type { Snapshot } from '../../src/model/snapshot.js';
import type { SelfMetrics } from '../../src/metrics/self.js';
import { snapshotOf } from '../fixtures/snapshots.js';

const snapshot: Snapshot = snapshotOf([{ id: '7', name: 'n', status: 'success', rawStatus: 'Success', targets: [{ type: 'uuid', target: 'u', name: 'h' }], lastPollOk: true, lastSuccessAt: 1000, statusChangedAt: 1000 }]);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const { date: _date, connection: _conn, 'keep-alive': _ka, ...rest } = res.headers;
        resolve({ status: res.statusCode ?? 0, headers: rest, body: Buffer.concat(chunks).toString('latin1') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function listen(handler: http.RequestListener): Promise<http.Server> {
  return new Promise((resolve) => {
    const s = http.createServer(handler);
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

describe('telemetry fast path', () => {
  const servers: http.Server[] = [];
  let express: number;
  let fast: number;
  let scrapes = 0;

  beforeAll(async () => {
    // Self-metrics that do not change between scrapes, so both paths' bodies compare equal.
    const self = { render: async () => '# HELP x X.\n# TYPE x gauge\nx 1\n', scraped: () => void scrapes++ } as unknown as SelfMetrics;
    const cache = new ExpositionCache(() => self.render());
    await cache.update(snapshot);
    const users = new Map([['alice', bcrypt.hashSync('secret', 4)]]);
    const deps: AppDeps = {
      telemetryPath: '/metrics',
      cache,
      self,
      logger: silentLogger,
      isReady: () => true,
      auth: basicAuthMiddleware(() => users, { logger: silentLogger }),
      headers: () => ({ 'X-Extra': 'yes' }),
    };
    servers.push(await listen(createApp(deps)), await listen(createRequestListener(deps)));
    [express, fast] = servers.map((s) => (s.address() as AddressInfo).port) as [number, number];
  });
  afterAll(() => {
    for (const s of servers) s.close();
  });

  const alice = { Authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` };
  const cases: [string, string, string, Record<string, string>][] = [
    ['GET', '/metrics', 'authorised', alice],
    ['GET', '/metrics?x=1', 'with a query string', alice],
    ['GET', '/metrics', 'gzip', { ...alice, 'Accept-Encoding': 'gzip' }],
    ['GET', '/metrics', 'OpenMetrics', { ...alice, Accept: 'application/openmetrics-text; version=1.0.0' }],
    ['HEAD', '/metrics', 'HEAD', alice],
    ['GET', '/metrics', 'no credentials', {}],
    ['GET', '/metrics', 'a wrong password', { Authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` }],
    ['POST', '/metrics', 'a wrong method', alice],
    ['GET', '/METRICS', 'another spelling (express decides)', alice],
    ['GET', '/metrics/', 'a trailing slash (express decides)', alice],
    ['GET', '/-/healthy', 'another path', {}],
  ];
  for (const [method, path, what, headers] of cases) {
    it(`answers ${method} ${path} (${what}) as express does`, async () => {
      const a = await request(express, method, path, headers);
      const b = await request(fast, method, path, headers);
      expect(b).toEqual(a);
      if (method === 'GET' && path.startsWith('/metrics') && headers === alice) expect(a.body).toContain('aliyun_sas_scan_task_info{task_id="7"');
    });
  }
});
