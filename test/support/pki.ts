/**
 * Test helpers for the secure-serving layer: a throwaway PKI made with the
 * openssl CLI, and small HTTP(S) clients that never reuse connections.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

export interface KeyPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface Pki {
  dir: string;
  ca1: KeyPair;
  ca2: KeyPair;
  /** SAN localhost, 127.0.0.1, ::1; signed by ca1. */
  server1: KeyPair;
  /** Same SANs, signed by ca2. */
  server2: KeyPair;
  /** SAN DNS:client.example, email, URI; signed by ca1. */
  client: KeyPair;
  /** SAN DNS:intruder.example; signed by ca1. */
  client2: KeyPair;
  /** Self-signed, SAN DNS:client.example: presents a certificate no CA vouches for. */
  selfSigned: KeyPair;
  cleanup(): void;
}

const DAYS = '36500';

const OPENSSL_CANDIDATES = ['/usr/bin/openssl', '/usr/local/bin/openssl', '/bin/openssl'];

/** The openssl CLI on PATH (or in the usual places), or undefined. */
export function findOpenssl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'openssl'));
  for (const file of [...dirs, ...OPENSSL_CANDIDATES]) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

function openssl(args: string[], cwd: string): void {
  execFileSync(findOpenssl() ?? 'openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ecKeyArgs(keyFile: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];
}

function pair(dir: string, name: string): KeyPair {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

export function makeCa(dir: string, name: string): KeyPair {
  openssl(
    [
      'req', '-x509', ...ecKeyArgs(`${name}.key`), '-out', `${name}.crt`, '-days', DAYS, '-subj', `/CN=${name} test CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return pair(dir, name);
}

export function makeLeaf(dir: string, name: string, ca: string, cn: string, ext: string): KeyPair {
  writeFileSync(path.join(dir, `${name}.ext`), `${ext}\nbasicConstraints=CA:FALSE\n`);
  openssl(['req', ...ecKeyArgs(`${name}.key`), '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(
    [
      'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
      '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-out', `${name}.crt`, '-days', DAYS, '-extfile', `${name}.ext`,
    ],
    dir,
  );
  return pair(dir, name);
}

export const SERVER_EXT = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth';

export function makePki(): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sas-exporter-pki-'));
  const ca1 = makeCa(dir, 'ca1');
  const ca2 = makeCa(dir, 'ca2');
  const server1 = makeLeaf(dir, 'server1', 'ca1', 'localhost', SERVER_EXT);
  const server2 = makeLeaf(dir, 'server2', 'ca2', 'localhost', SERVER_EXT);
  const client = makeLeaf(
    dir,
    'client',
    'ca1',
    'prometheus',
    'subjectAltName=DNS:client.example,email:prom@example.com,URI:spiffe://example.org/prometheus\nextendedKeyUsage=clientAuth',
  );
  const client2 = makeLeaf(dir, 'client2', 'ca1', 'intruder', 'subjectAltName=DNS:intruder.example\nextendedKeyUsage=clientAuth');
  openssl(
    [
      'req', '-x509', ...ecKeyArgs('self.key'), '-out', 'self.crt', '-days', DAYS, '-subj', '/CN=self',
      '-addext', 'subjectAltName=DNS:client.example', '-addext', 'extendedKeyUsage=clientAuth',
    ],
    dir,
  );
  const selfSigned = pair(dir, 'self');
  return {
    dir, ca1, ca2, server1, server2, client, client2, selfSigned,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A server certificate (SAN localhost, 127.0.0.1) that expired long ago,
 * signed by a CA of its own (openssl ca, which can set the dates).
 */
export function makeExpiredServerCert(dir: string): KeyPair {
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '01\n');
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    ['[ ca ]', 'default_ca = d', '[ d ]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256', 'policy = p', 'unique_subject = no', 'copy_extensions = copy', '[ p ]', 'commonName = supplied', ''].join('\n'),
  );
  makeCa(dir, 'oldca');
  openssl(['req', ...ecKeyArgs('expired.key'), '-out', 'expired.csr', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'oldca.crt', '-keyfile', 'oldca.key', '-in', 'expired.csr', '-out', 'expired.crt', '-notext', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z'], dir);
  return pair(dir, 'expired');
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions extends https.RequestOptions {
  body?: string;
}

/** One request on a fresh connection (agent: false), http or https by the URL. */
export function request(url: string, opts: RequestOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const { body, ...rest } = opts;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { agent: false, timeout: 5_000, ...rest }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
