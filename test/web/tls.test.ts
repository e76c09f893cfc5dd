import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { certificateSans } from '../../src/web/clientCert.js';
import { parseWebConfig, type WebConfig } from '../../src/web/config.js';
import type { ServerLimits } from '../../src/web/limits.js';
import { startServer, type ServingHandle } from '../../src/web/server.js';
import { makePki, request, sleep, type Pki, type RequestOptions } from '../support/pki.js';

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.cleanup());

const handles: ServingHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close(100)));
});

function cfg(yaml: string): WebConfig {
  return parseWebConfig(yaml, 'web.yml', pki.dir);
}

const SERVER1 = 'tls_server_config:\n  cert_file: server1.crt\n  key_file: server1.key\n';

let hits = 0;
async function serveTls(yaml: string, limits: Partial<ServerLimits> = {}): Promise<ServingHandle> {
  const app = express();
  app.get('/', (req, res) => {
    hits++;
    const peer = (req.socket as tls.TLSSocket).getPeerCertificate?.();
    res.type('text/plain').send(peer && peer.subject ? `hello ${String(peer.subject.CN)}` : 'hello');
  });
  const h = await startServer(app, { logger: silentLogger, host: '127.0.0.1', port: 0, webConfig: cfg(yaml), limits });
  handles.push(h);
  return h;
}

const trust1: RequestOptions = { ca: '' };
beforeAll(() => {
  trust1.ca = pki.ca1.cert;
});
const withClient = (p: { cert: string; key: string }): RequestOptions => ({ ca: pki.ca1.cert, cert: p.cert, key: p.key });

describe('TLS serving', () => {
  it('serves HTTPS with the configured certificate', async () => {
    const h = await serveTls(SERVER1);
    expect(h.protocol).toBe('https');
    expect(h.url).toBe(`https://127.0.0.1:${h.address.port}/`);
    const r = await request(h.url, trust1);
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello');
    // A client that does not trust the issuing CA refuses the server.
    await expect(request(h.url, { ca: pki.ca2.cert })).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  it('closes plain HTTP sent to the TLS port and stays up', async () => {
    const h = await serveTls(SERVER1);
    const result = await new Promise<{ text: string; closed: boolean }>((resolve) => {
      const s = net.connect(h.address.port, '127.0.0.1');
      let text = '';
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ text, closed: false });
      }, 2_000);
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ text, closed: true });
      });
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    expect(result.closed).toBe(true);
    expect(result.text).not.toContain('HTTP/1.1 200');
    expect((await request(h.url, trust1)).status).toBe(200);
  });

  it('min_version TLS13 refuses a TLS 1.2-only client', async () => {
    const h = await serveTls(`${SERVER1}  min_version: TLS13\n`);
    await expect(request(h.url, { ...trust1, maxVersion: 'TLSv1.2' })).rejects.toThrow(/protocol version|alert|ssl|tls/i);
    expect((await request(h.url, { ...trust1, minVersion: 'TLSv1.3' })).status).toBe(200);
  });

  it('max_version TLS12 is honoured', async () => {
    const h = await serveTls(`${SERVER1}  max_version: TLS12\n`);
    const version = await new Promise<string | null>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: h.address.port, ca: pki.ca1.cert }, () => {
        resolve(s.getProtocol());
        s.end();
      });
      s.on('error', reject);
    });
    expect(version).toBe('TLSv1.2');
  });
});

describe('client certificates', () => {
  const MTLS = `${SERVER1}  client_ca_file: ca1.crt\n  client_auth_type: `;

  it('RequireAndVerifyClientCert: no certificate or an unknown one is refused, a CA-signed one is served', async () => {
    const h = await serveTls(`${MTLS}RequireAndVerifyClientCert\n`);
    hits = 0;
    await expect(request(h.url, trust1)).rejects.toThrow();
    await expect(request(h.url, withClient(pki.selfSigned))).rejects.toThrow();
    expect(hits).toBe(0);
    const r = await request(h.url, withClient(pki.client));
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello prometheus');
  });

  it('RequireAnyClientCert: any certificate, but one is needed', async () => {
    const h = await serveTls(`${SERVER1}  client_auth_type: RequireAnyClientCert\n`);
    hits = 0;
    await expect(request(h.url, trust1)).rejects.toThrow();
    expect(hits).toBe(0);
    expect((await request(h.url, withClient(pki.selfSigned))).status).toBe(200);
  });

  it('VerifyClientCertIfGiven: no certificate is fine, a bad one is refused', async () => {
    const h = await serveTls(`${MTLS}VerifyClientCertIfGiven\n`);
    hits = 0;
    expect((await request(h.url, trust1)).status).toBe(200);
    expect((await request(h.url, withClient(pki.client))).status).toBe(200);
    await expect(request(h.url, withClient(pki.selfSigned))).rejects.toThrow();
    expect(hits).toBe(2);
  });

  it('RequestClientCert: asks, does not insist, does not verify', async () => {
    const h = await serveTls(`${SERVER1}  client_auth_type: RequestClientCert\n`);
    expect((await request(h.url, trust1)).status).toBe(200);
    expect((await request(h.url, withClient(pki.selfSigned))).status).toBe(200);
  });

  it('client_allowed_sans: only a certificate carrying a listed SAN reaches the handler', async () => {
    const h = await serveTls(`${MTLS}RequireAndVerifyClientCert\n  client_allowed_sans: [other.example, "spiffe://example.org/prometheus"]\n`);
    hits = 0;
    await expect(request(h.url, withClient(pki.client2))).rejects.toThrow();
    expect(hits).toBe(0);
    expect((await request(h.url, withClient(pki.client))).status).toBe(200);
    expect(hits).toBe(1);
  });

  it('reads DNS, IP, e-mail and URI SANs from a certificate', () => {
    expect(certificateSans(new X509Certificate(pki.client.cert))).toEqual([
      'client.example',
      'prom@example.com',
      'spiffe://example.org/prometheus',
    ]);
    const server = certificateSans(new X509Certificate(pki.server1.cert));
    expect(server.slice(0, 2)).toEqual(['localhost', '127.0.0.1']);
    expect(server).toHaveLength(3); // plus ::1, in whatever spelling this Node version uses
  });
});

describe('reload', () => {
  it('swaps the certificate live: a client trusting the new CA is served afterwards', async () => {
    const h = await serveTls(SERVER1);
    expect((await request(h.url, { ca: pki.ca1.cert })).status).toBe(200);
    await expect(request(h.url, { ca: pki.ca2.cert })).rejects.toThrow();

    const next = cfg('tls_server_config:\n  cert_file: server2.crt\n  key_file: server2.key\n');
    expect(h.reload(next)).toEqual({ ok: true });
    expect(h.webConfig).toBe(next);
    expect((await request(h.url, { ca: pki.ca2.cert })).status).toBe(200);
    await expect(request(h.url, { ca: pki.ca1.cert })).rejects.toThrow();
  });

  it('applies a new client_auth_type to new connections', async () => {
    const h = await serveTls(SERVER1);
    expect((await request(h.url, trust1)).status).toBe(200);
    expect(h.reload(cfg(`${SERVER1}  client_ca_file: ca1.crt\n  client_auth_type: RequireAndVerifyClientCert\n`)).ok).toBe(true);
    await expect(request(h.url, trust1)).rejects.toThrow();
    expect((await request(h.url, withClient(pki.client))).status).toBe(200);
    expect(h.reload(cfg(SERVER1)).ok).toBe(true);
    expect((await request(h.url, trust1)).status).toBe(200);
  });

  it('reports TLS material Node rejects and keeps the old context', async () => {
    const h = await serveTls(SERVER1);
    const good = cfg(SERVER1);
    const broken = { ...good, tls: { ...good.tls!, secureContextOptions: { cert: 'not a cert', key: 'not a key' } } } as WebConfig;
    const r = h.reload(broken);
    expect(r).toMatchObject({ ok: false, restartRequired: false, error: expect.stringMatching(/^cannot apply the new TLS configuration: /) });
    expect(h.webConfig).not.toBe(broken);
    expect((await request(h.url, trust1)).status).toBe(200);
  });

  it('refuses to switch HTTPS to HTTP and keeps serving the old config', async () => {
    const h = await serveTls(SERVER1);
    const before = h.webConfig;
    expect(h.reload(cfg(''))).toMatchObject({ ok: false, restartRequired: true, error: expect.stringMatching(/HTTPS.*restart is needed/) });
    expect(h.webConfig).toBe(before);
    expect((await request(h.url, trust1)).status).toBe(200);
  });
});

describe('TLS limits', () => {
  it('closes a client that never completes its handshake after handshakeTimeoutMs', async () => {
    const h = await serveTls(SERVER1, { handshakeTimeoutMs: 200 });
    const t0 = Date.now();
    const s = net.connect(h.address.port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((r) => s.once('close', r));
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(2_000);
    expect((await request(h.url, trust1)).status).toBe(200);
  });

  it('answers 431 over TLS too', async () => {
    const h = await serveTls(SERVER1, { maxHeaderSize: 2048 });
    const r = await request(h.url, { ...trust1, headers: { 'x-big': 'a'.repeat(4096) } });
    expect(r.status).toBe(431);
  });
});

describe('close with TLS', () => {
  it('resolves with a client stuck before its handshake', async () => {
    const h = await serveTls(SERVER1);
    const s = net.connect(h.address.port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    const closed = new Promise((r) => s.once('close', r));
    await sleep(20);
    const t0 = Date.now();
    await h.close(200);
    expect(Date.now() - t0).toBeLessThan(2_000);
    await closed;
  });
});
