/**
 * Which paths basic auth guards: the telemetry path, /-/reload and the
 * landing page; /-/healthy and /-/ready stay open for probes (see README,
 * "Securing /metrics").
 */
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequestListener } from '../../src/http/app.js';
import { silentLogger } from '../../src/log/logger.js';
import { ExpositionCache } from '../../src/metrics/cache.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { basicAuthMiddleware } from '../../src/web/basicAuth.js';
import { startServer, type ServingHandle } from '../../src/web/server.js';
import { basic, request } from '../support/pki.js';

let h: ServingHandle;
const hash = bcrypt.hashSync('pw', 4);
const auth = basicAuthMiddleware(() => new Map([['u', hash]]), { logger: silentLogger, compare: async (p, x) => bcrypt.compare(p, x) });

beforeAll(async () => {
  const self = new SelfMetrics({ version: 'x', revision: 'y', processMetrics: false });
  const cache = new ExpositionCache(() => self.renderParts());
  const listener = createRequestListener({ telemetryPath: '/metrics', cache, self, logger: silentLogger, isReady: () => true, auth, reload: async () => ({ ok: true }) });
  h = await startServer(listener, { host: '127.0.0.1', port: 0, logger: silentLogger });
});
afterAll(async () => {
  await h.close(100);
});

describe('paths under basic auth', () => {
  it.each([
    ['GET', '/metrics'],
    ['GET', '/'],
    ['HEAD', '/'],
    ['POST', '/-/reload'],
  ])('%s %s: 401 without credentials, 2xx with them', async (method, p) => {
    const without = await request(`${h.url}${p.slice(1)}`, { method });
    expect(without.status).toBe(401);
    expect(without.headers['www-authenticate']).toBe('Basic');
    const withCreds = await request(`${h.url}${p.slice(1)}`, { method, headers: { authorization: basic('u', 'pw') } });
    expect(withCreds.status).toBeGreaterThanOrEqual(200);
    expect(withCreds.status).toBeLessThan(300);
  });

  it.each(['/-/healthy', '/-/ready'])('%s stays open for probes', async (p) => {
    expect((await request(`${h.url}${p.slice(1)}`)).status).toBe(200);
  });
});
