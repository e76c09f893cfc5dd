/**
 * Command-line flags, Prometheus style (`--config.file=...`). Flags override
 * the configuration file.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log/logger.js';
import { DEFAULT_CONFIG_FILE } from './packagePaths.js';

export interface Flags {
  configFile: string;
  listenAddress: string;
  telemetryPath: string;
  webConfigFile: string | undefined;
  enableLifecycle: boolean;
  watchConfig: boolean;
  maxRequests: number;
  /** /-/ready answers 200 once every task was answered, or after this long at the latest. */
  readyTimeoutMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Values that replace the configuration file's. */
  overrides: { region?: string; endpoint?: string; protocol?: string; schedule?: string };
  help: boolean;
  version: boolean;
}

export const USAGE = `usage: aliyun-sas-exporter [flags]

Prometheus exporter for Alibaba Cloud Security Center virus scan tasks.

Flags:
  --config.file=PATH          configuration file (default: the demo shipped with the package,
                              which polls the built-in simulator, not Alibaba Cloud:
                              ${DEFAULT_CONFIG_FILE})
  --web.listen-address=ADDR   address to listen on, host:port (default: :9717)
  --web.telemetry-path=PATH   path under which to expose metrics (default: /metrics)
  --web.config.file=PATH      exporter-toolkit web configuration: TLS and basic auth
  --web.enable-lifecycle      enable POST /-/reload
  --web.max-requests=N        scrapes served at once; more get 503 (default: 40)
  --[no-]config.watch         reload when the configuration file changes (default: on)
  --sas.region=REGION         override the file's region
  --sas.endpoint=HOST[:PORT]  override the file's endpoint
  --sas.protocol=https|http   override the file's protocol
  --poll.schedule=CRON        override the file's schedule
  --poll.ready-timeout=DUR    ready once every task was answered once, or after this
                              long at the latest (default: 1m)
  --log.level=LEVEL           debug, info, warn, error (default: info)
  --log.format=FORMAT         logfmt, json (default: logfmt)
  --version                   print the version and exit
  --help                      print this help and exit

Credentials come from the Alibaba Cloud default chain (ALIBABA_CLOUD_ACCESS_KEY_ID /
ALIBABA_CLOUD_ACCESS_KEY_SECRET, RRSA/OIDC, CLI profile, credentials file, ECS RAM role).
SIGHUP reloads the configuration.
`;

export class FlagError extends Error {
  override readonly name = 'FlagError';
}

export function parseFlags(argv: readonly string[]): Flags {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      allowNegative: true,
      options: {
        'config.file': { type: 'string' },
        'web.listen-address': { type: 'string' },
        'web.telemetry-path': { type: 'string' },
        'web.config.file': { type: 'string' },
        'web.enable-lifecycle': { type: 'boolean' },
        'web.max-requests': { type: 'string' },
        'config.watch': { type: 'boolean' },
        'sas.region': { type: 'string' },
        'sas.endpoint': { type: 'string' },
        'sas.protocol': { type: 'string' },
        'poll.schedule': { type: 'string' },
        'poll.ready-timeout': { type: 'string' },
        'log.level': { type: 'string' },
        'log.format': { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new FlagError((err as Error).message.replace(/\. To specify.*$/s, ''));
  }
  const v = parsed.values;
  const logLevel = (v['log.level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new FlagError(`--log.level: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = (v['log.format'] ?? 'logfmt') as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) throw new FlagError(`--log.format: "${logFormat}" is not one of ${LOG_FORMATS.join(', ')}`);
  const telemetryPath = v['web.telemetry-path'] ?? '/metrics';
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(telemetryPath) || telemetryPath === '/' || telemetryPath.startsWith('/-/')) {
    throw new FlagError(`--web.telemetry-path: "${telemetryPath}" must be a path such as /metrics (not / nor under /-/)`);
  }
  const maxRequests = Number(v['web.max-requests'] ?? '40');
  if (!Number.isInteger(maxRequests) || maxRequests < 1) throw new FlagError('--web.max-requests: must be a positive integer');
  const overrides: Flags['overrides'] = {};
  if (v['sas.region'] !== undefined) overrides.region = v['sas.region'];
  if (v['sas.endpoint'] !== undefined) overrides.endpoint = v['sas.endpoint'];
  if (v['sas.protocol'] !== undefined) overrides.protocol = v['sas.protocol'];
  if (v['poll.schedule'] !== undefined) overrides.schedule = v['poll.schedule'];
  const readyTimeoutMs = parseDuration(v['poll.ready-timeout'] ?? '1m');
  if (readyTimeoutMs === undefined) throw new FlagError(`--poll.ready-timeout: "${v['poll.ready-timeout']}" is not a duration such as 30s or 5m`);
  return {
    configFile: v['config.file'] ?? DEFAULT_CONFIG_FILE,
    listenAddress: v['web.listen-address'] ?? ':9717',
    telemetryPath,
    webConfigFile: v['web.config.file'],
    enableLifecycle: v['web.enable-lifecycle'] ?? false,
    watchConfig: v['config.watch'] ?? true,
    maxRequests,
    readyTimeoutMs,
    logLevel,
    logFormat,
    overrides,
    help: v.help ?? false,
    version: v.version ?? false,
  };
}
