/**
 * The test CA made by the global setup (test/setup/testCa.ts), for starting
 * the simulator with HTTPS. Outside CI a missing openssl skips the tests that
 * need it (with the reason printed); with CI set they fail.
 */
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';

export interface SimulatorTls {
  /** The CA a client trusts: the worker processes already do (NODE_EXTRA_CA_CERTS); pass it to child processes the same way. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** What startSimulator's `tls` option takes. */
  readonly options: { readonly cert: Buffer; readonly key: Buffer };
}

export type TlsGate = { readonly skip: true; readonly reason: string } | { readonly skip: false; readonly tls?: SimulatorTls; readonly reason?: string };

export function simulatorTlsGate(env: NodeJS.ProcessEnv = process.env): TlsGate {
  const provided = inject('simulatorTls');
  const required = Boolean(env.CI) && env.CI !== 'false' && env.CI !== '0';
  if (!provided || provided.unavailable || !provided.caFile || !provided.certFile || !provided.keyFile) {
    const why = provided?.unavailable ?? 'the global setup did not run (see vitest.config.ts globalSetup)';
    // In CI the tests run and fail on `tls` being absent.
    return required ? { skip: false, reason: `${why}: required because CI is set` } : { skip: true, reason: `${why}: skipped outside CI` };
  }
  return {
    skip: false,
    tls: {
      caFile: provided.caFile,
      certFile: provided.certFile,
      keyFile: provided.keyFile,
      options: { cert: readFileSync(provided.certFile), key: readFileSync(provided.keyFile) },
    },
  };
}

/** The test TLS material, or a thrown error naming why there is none. */
export function requireTls(gate: TlsGate): SimulatorTls {
  if (gate.skip || !gate.tls) throw new Error(`no test CA: ${gate.reason ?? 'unknown reason'}`);
  return gate.tls;
}
