/**
 * Global setup: makes the test CA once per run and names it in
 * NODE_EXTRA_CA_CERTS before vitest starts its worker processes, so every
 * test process (and every child it spawns) trusts the simulator's HTTPS
 * listener, as the exporter process will when started with that variable.
 * Node reads NODE_EXTRA_CA_CERTS only when a process starts: setting it
 * inside a test would be too late. Tests get the paths with
 * `simulatorTls()` from test/support/simulatorTls.ts.
 */
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { findOpenssl, makeTestPki, writeCaBundle } from '../support/testPki.js';

export interface ProvidedTls {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Why there is no test CA (openssl missing or failing). */
  readonly unavailable?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    simulatorTls: ProvidedTls;
  }
}

export default function setup(project: TestProject): () => void {
  const openssl = findOpenssl();
  if (!openssl) {
    project.provide('simulatorTls', { unavailable: 'openssl not found on PATH or in /usr/bin (apt-get install openssl)' });
    return () => {};
  }
  let pki;
  try {
    pki = makeTestPki();
  } catch (e) {
    project.provide('simulatorTls', { unavailable: `openssl could not make the test CA: ${(e as Error).message.split('\n')[0]}` });
    return () => {};
  }
  process.env.NODE_EXTRA_CA_CERTS = writeCaBundle(pki, process.env.NODE_EXTRA_CA_CERTS);
  project.provide('simulatorTls', { caFile: pki.caFile, certFile: pki.certFile, keyFile: pki.keyFile });
  return () => rmSync(pki.dir, { recursive: true, force: true });
}
