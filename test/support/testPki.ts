/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1,
 * made with the openssl CLI: what the simulator's HTTPS listener (STS, for
 * the RAM role ARN provider, which only speaks HTTPS) presents in tests.
 * No vitest import here: the global setup uses it in the main process.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** The CA certificate a client must trust (what NODE_EXTRA_CA_CERTS names). */
  readonly caFile: string;
  /** Server certificate (SAN 127.0.0.1, ::1, localhost) and key, PEM. */
  readonly certFile: string;
  readonly keyFile: string;
}

const OPENSSL_CANDIDATES = ['/usr/bin/openssl', '/usr/local/bin/openssl', '/bin/openssl'];

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

/** Makes the CA and the server certificate in a new temporary directory. Throws when openssl fails. */
export function makeTestPki(openssl: string): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sas-sim-pki-'));
  const run = (args: string[]): void => {
    execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = (key: string): string[] => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key];
  try {
    run([
      'req', '-x509', ...ec('ca.key'), '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=aliyun-sas-exporter simulator test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    writeFileSync(
      path.join(dir, 'server.ext'),
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
    );
    run(['req', ...ec('server.key'), '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    run([
      'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-out', 'server.crt', '-days', '3650', '-extfile', 'server.ext',
    ]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') };
}

/**
 * A file with the certificates NODE_EXTRA_CA_CERTS already named (if any)
 * followed by the test CA, so setting it never drops a CA the user relies on.
 */
export function writeCaBundle(pki: TestPki, existing: string | undefined): string {
  let previous = '';
  if (existing) {
    try {
      previous = readFileSync(existing, 'utf8');
    } catch {
      previous = '';
    }
  }
  const file = path.join(pki.dir, 'extra-ca-bundle.pem');
  writeFileSync(file, `${previous}${previous && !previous.endsWith('\n') ? '\n' : ''}${readFileSync(pki.caFile, 'utf8')}`);
  return file;
}
