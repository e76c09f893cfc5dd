/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1,
 * made with the openssl CLI: what the simulator's HTTPS listener (STS, for
 * the RAM role ARN provider, which only speaks HTTPS) presents in tests.
 * No vitest import here: the global setup uses it in the main process.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeCa, makeLeaf, SERVER_EXT } from './pki.js';

export { findOpenssl } from './pki.js';

export interface TestPki {
  readonly dir: string;
  /** The CA certificate a client must trust (what NODE_EXTRA_CA_CERTS names). */
  readonly caFile: string;
  /** Server certificate (SAN 127.0.0.1, ::1, localhost) and key, PEM. */
  readonly certFile: string;
  readonly keyFile: string;
}

/** Makes the CA and the server certificate in a new temporary directory. Throws when openssl fails. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sas-sim-pki-'));
  try {
    makeCa(dir, 'ca');
    const server = makeLeaf(dir, 'server', 'ca', '127.0.0.1', SERVER_EXT);
    return { dir, caFile: path.join(dir, 'ca.crt'), certFile: server.certFile, keyFile: server.keyFile };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
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
