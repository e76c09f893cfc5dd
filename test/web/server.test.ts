import http from 'node:http';
import net from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import type { WebConfig } from '../../src/web/config.js';
import { DEFAULT_SERVER_LIMITS } from '../../src/web/limits.js';
import { parseListenAddress } from '../../src/web/listenAddress.js';
import { startServer, type ServingHandle, type StartServerOptions } from '../../src/web/server.js';
import { request, sleep } from '../support/pki.js';

describe('parseListenAddress', () => {
  it.each([
    [':9717', { port: 9717 }],
    ['0.0.0.0:9717', { host: '0.0.0.0', port: 9717 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:9717', { host: '::1', port: 9717 }],
    ['[::]:80', { host: '::', port: 80 }],
    ['[fe80::1%eth0]:9717', { host: 'fe80::1%eth0', port: 9717 }],
    ['localhost:9717', { host: 'localhost', port: 9717 }],
    ['exporter.example.com:65535', { host: 'exporter.example.com', port: 65535 }],
  ])('%s', (input, expected) => {
    expect(parseListenAddress(input)).toEqual(expected);
  });

  it.each([
    ['', /empty/],
    ['9717', /missing port \(did you mean ":9717"\?\)/],
    ['::1:9717', /IPv6 address needs brackets/],
    ['[::1]', /missing port after "\]"/],
    ['[::1:9717', /missing "\]"/],
    ['[127.0.0.1]:80', /not an IPv6 address/],
    [':http', /port "http" is not a number/],
    [':70000', /out of range/],
    [':', /port "" is not a number/],
    ['bad_host!:80', /neither an IP address nor a host name/],
  ])('rejects %j', (input, re) => {
    expect(() => parseListenAddress(input)).toThrow(re);
    expect(() => parseListenAddress(input)).toThrow(/^invalid listen address /);
  });
});

const handles: ServingHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close(100)));
});

async function serve(app: express.Express | http.RequestListener, limits = {}, more: Partial<StartServerOptions> = {}): Promise<ServingHandle> {
  const h = await startServer(app, { logger: silentLogger, host: '127.0.0.1', port: 0, limits, ...more });
  handles.push(h);
  return h;
}

/** A server whose every answer waits for release(), and the connections it shed, by reason. */
async function gatedServer(maxConnections: number): Promise<{ h: ServingHandle; release: () => void; shed: string[] }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const shed: string[] = [];
  const h = await serve(
    async (_req: http.IncomingMessage, res: http.ServerResponse) => {
      await gate;
      res.end('late');
    },
    { maxConnections },
    { onConnectionShed: (r) => shed.push(r) },
  );
  return { h, release, shed };
}

function helloApp(): express.Express {
  const app = express();
  app.get('/', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  return app;
}

/** Raw TCP exchange: writes `data`, collects what comes back until the server closes (or `waitMs`). */
function raw(port: number, data: string, waitMs = 2_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    s.write(data);
  });
}

describe('startServer (plain HTTP)', () => {
  it('serves an express app and reports its address', async () => {
    const h = await serve(helloApp());
    expect(h.protocol).toBe('http');
    expect(h.address.host).toBe('127.0.0.1');
    expect(h.address.port).toBeGreaterThan(0);
    expect(h.url).toBe(`http://127.0.0.1:${h.address.port}/`);
    const r = await request(h.url);
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(h.server.headersTimeout).toBe(DEFAULT_SERVER_LIMITS.headersTimeoutMs);
    expect(DEFAULT_SERVER_LIMITS.maxConnections).toBe(256);
  });

  it('answers 431 to oversized headers and keeps serving', async () => {
    const h = await serve(helloApp(), { maxHeaderSize: 4096 });
    const r = await raw(h.address.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(r.text).toContain('Connection: close');
    expect(r.closed).toBe(true);
    expect((await request(h.url)).status).toBe(200);
  });

  it('answers 400 to garbage, without a stack, and keeps serving', async () => {
    const h = await serve(helloApp());
    const r = await raw(h.address.port, 'HELLO\x00WORLD\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(r.text).not.toMatch(/at .*\.js/);
    expect(r.closed).toBe(true);
    expect((await request(h.url)).status).toBe(200);
  });

  it('closes a slowloris client after headersTimeout while normal requests are served', async () => {
    const h = await serve(helloApp(), { headersTimeoutMs: 300, requestTimeoutMs: 1_000, connectionsCheckingIntervalMs: 50 });
    const started = Date.now();
    const slow = new Promise<{ text: string; elapsed: number }>((resolve) => {
      const s = net.connect(h.address.port, '127.0.0.1');
      const msg = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
      let i = 0;
      let text = '';
      const tick = setInterval(() => {
        if (!s.destroyed && i < msg.length) s.write(msg[i++] ?? '');
      }, 40);
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(tick);
        resolve({ text, elapsed: Date.now() - started });
      });
    });
    // Meanwhile, ordinary requests go through.
    await sleep(100);
    for (let n = 0; n < 3; n++) expect((await request(h.url)).status).toBe(200);
    const r = await slow;
    expect(r.elapsed).toBeGreaterThanOrEqual(250);
    expect(r.elapsed).toBeLessThan(2_000);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect((await request(h.url)).status).toBe(200);
  });

  it('at maxConnections, a new connection pushes out the least recently active idle one', async () => {
    const shed: string[] = [];
    const h = await serve(helloApp(), { maxConnections: 2 }, { onConnectionShed: (r) => shed.push(r) });
    const closed: number[] = [];
    const hold = await Promise.all(
      [0, 1].map(
        (i) =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(h.address.port, '127.0.0.1', () => resolve(s));
            s.on('error', () => undefined);
            s.on('close', () => closed.push(i));
          }),
      ),
    );
    await sleep(50);
    const third = await raw(h.address.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 1_000);
    expect(third.text).toMatch(/^HTTP\/1\.1 200 OK/);
    await sleep(50);
    expect(closed).toEqual([0]); // the oldest idle one
    expect(shed).toEqual(['idle_evicted']);
    for (const s of hold) s.destroy();
  });

  it('idle connections from several addresses push out the least recently active, whoever it belongs to', async () => {
    const shed: string[] = [];
    const h = await serve(helloApp(), { maxConnections: 3 }, { onConnectionShed: (r) => shed.push(r) });
    const closed: string[] = [];
    const connect = (name: string, localAddress: string) =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect({ port: h.address.port, host: '127.0.0.1', localAddress }, () => resolve(s));
        s.on('error', () => undefined);
        s.on('close', () => closed.push(name));
      });
    const held = [await connect('x1', '127.0.0.2'), await connect('y1', '127.0.0.3'), await connect('x2', '127.0.0.2')];
    await sleep(50);
    const probe = await raw(h.address.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 1_000);
    expect(probe.text).toMatch(/^HTTP\/1\.1 200 OK/);
    await sleep(50);
    expect(closed).toEqual(['x1']);
    expect(shed).toEqual(['idle_evicted']);
    for (const s of held) s.destroy();
  });

  it('a burst of busy requests from one client is answered, up to maxConnections', async () => {
    const { h, release, shed } = await gatedServer(10);
    const busy = [0, 1, 2, 3, 4].map(() => request(h.url));
    await sleep(100);
    release();
    expect((await Promise.all(busy)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(shed).toEqual([]);
  });

  it('at maxConnections with every connection busy answering, the new one is refused', async () => {
    const { h, release, shed } = await gatedServer(2);
    const busy = [0, 1].map(() => request(h.url));
    await sleep(100);
    const third = await raw(h.address.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 1_000);
    expect(third.closed).toBe(true);
    expect(third.text).toBe('');
    expect(shed).toEqual(['refused']);
    release();
    expect((await Promise.all(busy)).map((r) => r.status)).toEqual([200, 200]);
    expect((await request(h.url)).status).toBe(200);
  });

  it('turns a throwing or rejecting plain request listener into a 500, never a crash', async () => {
    const h = await serve((req: http.IncomingMessage) => {
      if (req.url === '/async') return Promise.reject(new Error('boom')) as unknown as void;
      throw new Error('boom');
    });
    expect((await request(h.url)).status).toBe(500);
    expect((await request(`${h.url}async`)).status).toBe(500);
  });

  it('close() resolves with an idle keep-alive connection and a hung client', async () => {
    const h = await serve(helloApp());
    const agent = new http.Agent({ keepAlive: true });
    const ka = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(h.url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      }).on('error', reject);
    });
    expect(ka.headers.connection).toBe('keep-alive');
    // A client that sent half a request and went silent.
    const hung = net.connect(h.address.port, '127.0.0.1');
    hung.on('error', () => undefined);
    await new Promise((r) => hung.once('connect', r));
    hung.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const hungClosed = new Promise((r) => hung.once('close', r));
    await sleep(50);

    const t0 = Date.now();
    await h.close(300);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(2_000);
    await hungClosed;
    await expect(raw(h.address.port, 'GET / HTTP/1.1\r\n\r\n', 500)).resolves.toMatchObject({ text: '' });
    agent.destroy();
    await h.close(); // idempotent
  });

  it('close() lets an in-flight request finish within the grace, with Connection: close', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const app = express();
    app.get('/slow', async (_req, res) => {
      await gate;
      res.send('done');
    });
    const h = await serve(app);
    const agent = new http.Agent({ keepAlive: true });
    const pending = request(`${h.url}slow`, { agent });
    await sleep(50);
    const closing = h.close(2_000);
    await sleep(50);
    release();
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body).toBe('done');
    expect(r.headers.connection).toBe('close');
    await closing;
    agent.destroy();
  });

  it('reload() cannot switch HTTP to HTTPS', async () => {
    const h = await serve(helloApp());
    const fakeTls = { file: 'web.yml', headers: {}, tls: {} } as unknown as WebConfig;
    expect(h.reload(fakeTls)).toEqual({ ok: false, restartRequired: true, error: expect.stringMatching(/restart is needed/) });
    expect(h.webConfig).toBeUndefined();
    const plain: WebConfig = { file: 'web.yml', headers: { 'X-Frame-Options': 'deny' }, tlsFiles: [] };
    expect(h.reload(plain)).toEqual({ ok: true });
    expect(h.webConfig).toBe(plain);
  });

  it('validates limits and reports listen errors clearly', async () => {
    await expect(startServer(helloApp(), { logger: silentLogger, port: 0, host: '127.0.0.1', limits: { headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 } })).rejects.toThrow(
      /headersTimeoutMs \(5000\) must not exceed requestTimeoutMs/,
    );
    await expect(startServer(helloApp(), { logger: silentLogger, port: 0, limits: { maxConnections: -1 } })).rejects.toThrow(RangeError);
    await expect(startServer(helloApp(), { logger: silentLogger, port: 70000 })).rejects.toThrow(/port must be an integer/);
    const h = await serve(helloApp());
    await expect(startServer(helloApp(), { logger: silentLogger, host: '127.0.0.1', port: h.address.port })).rejects.toMatchObject({
      code: 'EADDRINUSE',
      message: expect.stringMatching(/^cannot listen on 127\.0\.0\.1:\d+: /),
    });
  });
});
