/**
 * Every security-relevant serving event reaches the log of the built
 * exporter, at its default level: failed basic auth (remote address and user
 * name, never the password), a failed TLS handshake, a client certificate
 * turned away, connections dropped at the connection limit. A flood of one
 * kind is throttled, not written line by line.
 */
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { basic, makePki, request, type Pki } from '../support/pki.js';
import { sleep } from '../support/net.js';
import { loadFixture, Rig } from '../support/rig.js';
import { exporterYaml, NEVER } from '../support/yaml.js';

const PASSWORD = 'c0rrect-horse-battery';
const WRONG = 'hunter2-wrong-password';

describe('security events in the log', () => {
  let pki: Pki;
  let rig: Rig;

  beforeAll(async () => {
    pki = makePki();
    const web = path.join(pki.dir, 'web.yml');
    await writeFile(
      web,
      [
        'tls_server_config:',
        `  cert_file: ${pki.server1.certFile}`,
        `  key_file: ${pki.server1.keyFile}`,
        '  client_auth_type: RequireAndVerifyClientCert',
        `  client_ca_file: ${pki.ca1.certFile}`,
        '  client_allowed_sans: [client.example]',
        'basic_auth_users:',
        `  prometheus: ${bcrypt.hashSync(PASSWORD, 4)}`,
        '',
      ].join('\n'),
    );
    rig = await Rig.start({
      scenario: await loadFixture('timeline'),
      config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['1001'] }),
      args: [`--web.config.file=${web}`],
      waitFor: 'none',
    });
    await rig.untilLogged('msg=listening');
  });

  afterAll(async () => {
    await rig?.close();
    pki?.cleanup();
  });

  const url = () => `https://127.0.0.1:${rig.exporter.port}/metrics`;
  const client = (pair = pki.client) => ({ ca: pki.ca1.cert, cert: pair.cert, key: pair.key });

  test('a wrong password: warn with remote address and user, never the password', async () => {
    const ok = await request(url(), { ...client(), headers: { authorization: basic('prometheus', PASSWORD) } });
    expect(ok.status).toBe(200);
    const r = await request(url(), { ...client(), headers: { authorization: basic('prometheus', WRONG) } });
    expect(r.status).toBe(401);
    await rig.untilLogged('basic auth failed');
    const line = rig.output.split('\n').find((l) => l.includes('basic auth failed'))!;
    expect(line).toMatch(/level=warn/);
    expect(line).toMatch(/remote=(::ffff:)?127\.0\.0\.1/);
    expect(line).toMatch(/user=prometheus/);
    expect(line).toMatch(/reason="wrong password"/);
    expect(rig.output).not.toContain(WRONG);
  });

  test('a brute-force run is throttled in the log', async () => {
    const before = rig.count('basic auth failed');
    for (let i = 0; i < 40; i++) {
      const r = await request(url(), { ...client(), headers: { authorization: basic(`guess${i}`, `${WRONG}${i}`) } });
      expect(r.status).toBe(401);
    }
    // At most the burst of one interval, whatever the number of attempts.
    expect(rig.count('basic auth failed') - before).toBeLessThanOrEqual(10);
    expect(rig.output).toMatch(/further events of this kind are counted/);
  });

  test('a failed TLS handshake (no client certificate, or plain HTTP)', async () => {
    await expect(request(url(), { ca: pki.ca1.cert })).rejects.toThrow();
    await rig.untilLogged('TLS handshake failed');
    expect(rig.output.split('\n').find((l) => l.includes('TLS handshake failed'))).toMatch(/level=warn.*remote=/);
  });

  test('a client certificate without an allowed SAN is turned away and logged', async () => {
    await expect(request(url(), client(pki.client2))).rejects.toThrow();
    await rig.untilLogged('TLS client certificate rejected');
    expect(rig.output.split('\n').find((l) => l.includes('TLS client certificate rejected'))).toMatch(/level=warn.*reason=".*allowed SANs/);
  });

  test('connections beyond the limit push out idle ones, and that is logged', async () => {
    const sockets: net.Socket[] = [];
    try {
      // The TLS port counts raw TCP connections: open more than the cap of 256.
      for (let i = 0; i < 300; i++) {
        const s = net.connect(rig.exporter.port, '127.0.0.1');
        s.on('error', () => undefined);
        sockets.push(s);
      }
      await rig.untilLogged('connection limit reached: closed the least recently active idle connection');
    } finally {
      for (const s of sockets) s.destroy();
    }
    expect(rig.output.split('\n').find((l) => l.includes('connection limit reached'))).toMatch(/level=warn.*max_connections=256/);
    // Still serving once the flood is gone.
    await sleep(200);
    const r = await request(url(), { ...client(), headers: { authorization: basic('prometheus', PASSWORD) } });
    expect(r.status).toBe(200);
  });
});
