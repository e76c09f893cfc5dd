/**
 * Command line of the standalone simulator. Kept apart from main.ts so a test
 * can run it in-process, with its own output streams and stop signal.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadScenarioFile } from './scenario.js';
import { startSimulator, type SimulatorHandle } from './server.js';

export const DEFAULT_LISTEN = '127.0.0.1:18080';
/** The zero-setup demo, found from the package root whether run from src/ (tests) or dist/src/. */
export const DEFAULT_SCENARIO = fileURLToPath(
  new URL(/\/dist\/src\/simulator\/[^/]+$/.test(import.meta.url) ? '../../../config/demo-scenario.yaml' : '../../config/demo-scenario.yaml', import.meta.url),
);

const USAGE = `usage: simulator [--scenario FILE] [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE [--tls-listen HOST:PORT]] [--verbose]

Simulates Alibaba Cloud Security Center (2018-12-03: DescribeScanTaskProgress,
GetVirusScanLatestTaskStatistic, ListVirusScanTask) and STS AssumeRole (2015-04-01).
  --scenario FILE        scenario YAML (default: config/demo-scenario.yaml)
  --listen HOST:PORT     address to listen on; port 0 picks a free one (default: ${DEFAULT_LISTEN})
  --tls-cert FILE        PEM certificate (and chain): also serve HTTPS, which STS clients need
  --tls-key FILE         its PEM private key
  --tls-listen HOST:PORT HTTPS address (default: the --listen host, a free port)
  --verbose              log every call to stderr
Counters: GET /-/simulator/counts, POST /-/simulator/counts/reset.`;

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** `host:port`, `[v6]:port`, `:port` or `port`. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):)?(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) return undefined;
  const host = m[1] ?? (m[2] || '127.0.0.1');
  return { host, port };
}

export type CliResult = { ok: true; handle: SimulatorHandle } | { ok: false; exitCode: number };

/** Starts the simulator from arguments; the caller owns the handle (and its shutdown). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<CliResult> {
  let values: {
    scenario?: string | undefined;
    listen?: string | undefined;
    'tls-cert'?: string | undefined;
    'tls-key'?: string | undefined;
    'tls-listen'?: string | undefined;
    verbose?: boolean | undefined;
    help?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        scenario: { type: 'string' },
        listen: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-listen': { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    io.err(`${(e as Error).message}\n${USAGE}`);
    return { ok: false, exitCode: 2 };
  }
  if (values.help) {
    io.out(USAGE);
    return { ok: false, exitCode: 0 };
  }
  const listen = parseListen(values.listen ?? DEFAULT_LISTEN);
  if (!listen) {
    io.err(`--listen: expected HOST:PORT, got ${JSON.stringify(values.listen)}`);
    return { ok: false, exitCode: 2 };
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined) || (values['tls-listen'] !== undefined && values['tls-cert'] === undefined)) {
    io.err(`--tls-cert and --tls-key go together (and --tls-listen needs them)\n${USAGE}`);
    return { ok: false, exitCode: 2 };
  }
  let tls: { cert: Buffer; key: Buffer; host: string; port: number } | undefined;
  if (values['tls-cert'] !== undefined) {
    const tlsListen = values['tls-listen'] === undefined ? { host: listen.host, port: 0 } : parseListen(values['tls-listen']);
    if (!tlsListen) {
      io.err(`--tls-listen: expected HOST:PORT, got ${JSON.stringify(values['tls-listen'])}`);
      return { ok: false, exitCode: 2 };
    }
    try {
      tls = { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']!), ...tlsListen };
    } catch (e) {
      io.err(`cannot read the TLS certificate or key: ${(e as Error).message}`);
      return { ok: false, exitCode: 1 };
    }
  }
  const file = values.scenario ?? DEFAULT_SCENARIO;
  let scenario;
  try {
    scenario = await loadScenarioFile(file);
  } catch (e) {
    io.err(`invalid scenario:\n${(e as Error).message}`);
    return { ok: false, exitCode: 1 };
  }
  let handle: SimulatorHandle;
  try {
    handle = await startSimulator({ scenario, host: listen.host, port: listen.port, ...(tls ? { tls } : {}), ...(values.verbose ? { log: io.err } : {}) });
  } catch (e) {
    io.err(`cannot listen on ${listen.host}:${listen.port}: ${(e as Error).message}`);
    return { ok: false, exitCode: 1 };
  }
  // Tests that spawn the CLI read the port from this line: keep its shape.
  io.out(`simulator listening on ${handle.url}`);
  if (handle.https) io.out(`simulator listening on ${handle.https.url}`);
  const accounts = handle.accounts.length > 1 ? ` in ${handle.accounts.length} accounts (${handle.accounts.join(', ')})` : '';
  const tasks = (scenario.accounts ?? [scenario]).reduce((n, a) => n + a.tasks.length, 0);
  io.err(`${tasks} tasks${accounts} from ${file}; counters at ${handle.url}/-/simulator/counts`);
  if (!isLoopback(listen.host)) io.err('warning: listening beyond loopback; the /-/simulator/ endpoints need no signature');
  return { ok: true, handle };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
