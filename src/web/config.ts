/**
 * The web configuration file (`--web.config.file`), in the format of the
 * Prometheus exporter-toolkit
 * (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md):
 *
 * ```yaml
 * tls_server_config:
 *   cert_file: server.crt            # or inline `cert:` (PEM)
 *   key_file: server.key             # or inline `key:` (PEM)
 *   client_auth_type: RequireAndVerifyClientCert
 *   client_ca_file: ca.crt           # or inline `client_ca:` (PEM)
 *   client_allowed_sans: [prometheus.example.com]
 *   min_version: TLS12               # default TLS12
 *   max_version: TLS13               # default TLS13
 *   cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]   # Go names, TLS <= 1.2 only
 *   prefer_server_cipher_suites: true
 *   curve_preferences: [X25519, CurveP256]
 * http_server_config:
 *   http2: true                      # accepted for compatibility; Node serves HTTP/1.1
 *   headers: { X-Frame-Options: deny }
 * basic_auth_users:
 *   alice: $2y$10$...                # bcrypt
 * ```
 *
 * Relative file names are resolved against the directory of the web config
 * file. Unknown fields are an error; every error names the file, the line and
 * the field. Certificates and keys are read and checked at load time (a key
 * that does not match its certificate fails here, not at the first handshake).
 *
 * Deliberate deviations from exporter-toolkit, all towards failing closed:
 * - a non-empty `tls_server_config` without a certificate is an error (the
 *   toolkit silently serves plain HTTP when only e.g. `min_version` is set);
 * - `VerifyClientCertIfGiven` / `RequireAndVerifyClientCert` need a client CA
 *   (the toolkit would fall back to the system's public roots);
 * - `rate_limit` is not supported and is rejected rather than ignored.
 *
 * And two of behaviour, documented in the README ("Securing /metrics"):
 * - with `basic_auth_users`, `/-/healthy` and `/-/ready` stay open (the
 *   toolkit guards every path): probes can send no secret;
 * - certificate, key and CA files are read when they change on disk (the
 *   watch of the configuration files), not at every handshake as the
 *   toolkit's GetCertificate does: Node takes them as a TLS context.
 */
import path from 'node:path';
import { z } from 'zod';
import { YamlFile } from '../yaml/document.js';
import { FileReadError, readBoundedFile, readBoundedFileSync } from '../yaml/file.js';
import { quote, YamlError, type PathSegment, type YamlIssue } from '../yaml/issues.js';
import { buildTls, CIPHER_NAMES, CLIENT_AUTH_TYPES, CURVE_NAMES, type WebConfigTls } from './tls.js';

/** A web configuration is a few lines; certificates and keys a few KB. */
export const MAX_WEB_CONFIG_BYTES = 1024 * 1024;
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

export interface WebConfig {
  /** The file this configuration was read from. */
  readonly file: string;
  readonly tls?: WebConfigTls;
  /** user -> bcrypt hash; undefined when no basic auth is configured. */
  readonly basicAuthUsers?: ReadonlyMap<string, string>;
  /** Extra response headers (only the exporter-toolkit allow-list). */
  readonly headers: Readonly<Record<string, string>>;
  /** Absolute paths of the certificate, key and CA files named, watched for rotation. */
  readonly tlsFiles: readonly string[];
}

export class WebConfigError extends YamlError {
  override name = 'WebConfigError';
}

export interface ParseWebConfigOptions {
  /** Reads a certificate/key/CA file (absolute path); loadWebConfig passes the files it read ahead. */
  readFile?: (absolutePath: string) => Buffer | string;
}

/** exporter-toolkit's allow-list; `undefined` = any value. */
const ALLOWED_HEADERS: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

/** $2$, $2a$, $2b$, $2y$ (all accepted by bcryptjs), cost 04..31, 22+31 chars of bcrypt base64. */
const BCRYPT_RE = /^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;


/** YAML `key:` (null) and `key: ""` mean "not set", as in the Go original. */
const optString = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === undefined || v === '' ? undefined : v));

const tlsSchema = z
  .object({
    cert: optString,
    key: optString,
    client_ca: optString,
    cert_file: optString,
    key_file: optString,
    client_ca_file: optString,
    client_auth_type: z
      .enum([...CLIENT_AUTH_TYPES, 'RequireClientCert'])
      .nullish()
      .transform((v) => (v === 'RequireClientCert' ? 'RequireAnyClientCert' : (v ?? undefined))),
    client_allowed_sans: z.array(z.string().min(1, 'must not be empty')).nullish(),
    min_version: z.enum(['TLS10', 'TLS11', 'TLS12', 'TLS13']).nullish(),
    max_version: z.enum(['TLS10', 'TLS11', 'TLS12', 'TLS13']).nullish(),
    cipher_suites: z.array(z.enum(CIPHER_NAMES)).nullish(),
    prefer_server_cipher_suites: z.boolean().nullish(),
    curve_preferences: z.array(z.enum(CURVE_NAMES)).nullish(),
  })
  .strict();

const httpSchema = z
  .object({
    http2: z.boolean().nullish(),
    headers: z.record(z.string(), z.string().nullish()).nullish(),
  })
  .strict();

const rootSchema = z
  .object({
    tls_server_config: tlsSchema.nullish(),
    http_server_config: httpSchema.nullish(),
    basic_auth_users: z.record(z.string(), z.string()).nullish(),
    rate_limit: z.unknown().optional(),
  })
  .strict();

export type RawTls = z.infer<typeof tlsSchema>;


/**
 * Reads and validates a web config file and the certificate, key and CA
 * files it names (each bounded in size, regular files only). Rejects with a
 * WebConfigError.
 */
export async function loadWebConfig(file: string): Promise<WebConfig> {
  let text: string;
  try {
    text = (await readBoundedFile(file, MAX_WEB_CONFIG_BYTES)).toString('utf8');
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    throw new WebConfigError([{ file, field: '', message: `cannot read web config file: ${err.message}` }]);
  }
  const baseDir = path.dirname(path.resolve(file));
  // Read the PEM files ahead, asynchronously and bounded; parseWebConfig then looks them up.
  const pem = new Map<string, Buffer | Error>();
  for (const abs of pemFilesNamed(text, baseDir)) {
    try {
      pem.set(abs, await readBoundedFile(abs, MAX_PEM_FILE_BYTES));
    } catch (err) {
      pem.set(abs, err instanceof Error ? err : new Error(String(err)));
    }
  }
  return parseWebConfig(text, file, baseDir, {
    readFile: (abs) => {
      const got = pem.get(abs);
      if (got === undefined) throw new Error('not read');
      if (got instanceof Error) throw got;
      return got;
    },
  });
}

/** The absolute paths of the *_file keys of tls_server_config, when the text parses. */
function pemFilesNamed(text: string, baseDir: string): string[] {
  const raw = YamlFile.parse(text, '').toJS() as { tls_server_config?: Record<string, unknown> } | undefined;
  const t = raw && typeof raw === 'object' ? raw.tls_server_config : undefined;
  if (!t || typeof t !== 'object') return [];
  return ['cert_file', 'key_file', 'client_ca_file'].map((k) => t[k]).filter((v): v is string => typeof v === 'string' && v !== '').map((f) => path.resolve(baseDir, f));
}

const SECTIONS: Record<string, readonly string[]> = {
  '': ['tls_server_config', 'http_server_config', 'basic_auth_users'],
  tls_server_config: Object.keys(tlsSchema.shape),
  http_server_config: Object.keys(httpSchema.shape),
};

/**
 * Validates web config text. `fileName` is only used in messages; relative
 * certificate paths are resolved against `baseDir` and read through
 * `opts.readFile`. Throws a WebConfigError listing every problem found.
 */
export function parseWebConfig(text: string, fileName: string, baseDir: string, opts: ParseWebConfigOptions = {}): WebConfig {
  const fail = (issues: readonly YamlIssue[]) => new WebConfigError(issues);
  const yaml = YamlFile.parse(text, fileName, { allowedKeys: (p: readonly PathSegment[]) => SECTIONS[p.join('.')] });
  yaml.throwIfIssues(fail);
  let js = yaml.toJS();
  yaml.throwIfIssues(fail);
  if (js === null || js === undefined) js = {};
  if (typeof js !== 'object' || Array.isArray(js)) {
    yaml.add([], 'the web config must be a YAML mapping');
    yaml.throwIfIssues(fail);
  }

  const parsed = rootSchema.safeParse(js);
  if (!parsed.success) {
    yaml.addZod(parsed.error.issues);
    yaml.throwIfIssues(fail);
  }
  const raw = parsed.data!;

  if (raw.rate_limit !== undefined) {
    yaml.addKey([], 'rate_limit', 'rate_limit is not supported by this exporter; put a rate-limiting reverse proxy in front of it');
  }

  const headers = validateHeaders(yaml, raw.http_server_config?.headers ?? undefined);
  const basicAuthUsers = validateUsers(yaml, raw.basic_auth_users ?? undefined);
  const readPem = opts.readFile ?? ((abs: string) => readBoundedFileSync(abs, MAX_PEM_FILE_BYTES));
  const tlsCfg = buildTls(yaml, raw.tls_server_config ?? undefined, baseDir, readPem);
  yaml.throwIfIssues(fail);

  const t = raw.tls_server_config ?? undefined;
  const tlsFiles = t && tlsCfg ? [t.cert_file, t.key_file, t.client_ca_file].filter((f): f is string => f !== undefined).map((f) => path.resolve(baseDir, f)) : [];
  const result: WebConfig = {
    file: fileName,
    headers: Object.freeze(headers),
    tlsFiles: Object.freeze(tlsFiles),
    ...(basicAuthUsers ? { basicAuthUsers } : {}),
    ...(tlsCfg ? { tls: tlsCfg } : {}),
  };
  return Object.freeze(result);
}

function validateHeaders(yaml: YamlFile, headers: Record<string, string | null | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    const p = ['http_server_config', 'headers', name];
    if (!Object.hasOwn(ALLOWED_HEADERS, name)) {
      yaml.addKey(p.slice(0, -1), name, `HTTP header ${quote(name)} can not be configured; allowed: ${Object.keys(ALLOWED_HEADERS).join(', ')}`);
      continue;
    }
    if (value === null || value === undefined || value === '') continue; // "Unset if blank."
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(value)) {
      yaml.add(p, 'the value must not contain control characters');
      continue;
    }
    const allowed = ALLOWED_HEADERS[name];
    if (allowed && !allowed.includes(value)) {
      yaml.add(p, `invalid value ${quote(value)}; expected one of: ${allowed.join(', ')}`);
      continue;
    }
    out[name] = value;
  }
  return out;
}

function validateUsers(yaml: YamlFile, users: Record<string, string> | undefined): ReadonlyMap<string, string> | undefined {
  if (!users) return undefined;
  const map = new Map<string, string>();
  for (const [user, hash] of Object.entries(users)) {
    const p = ['basic_auth_users', user];
    if (user.includes(':')) {
      yaml.addKey(p.slice(0, -1), user, `user name ${quote(user)} contains ":", which basic authentication cannot carry`);
      continue;
    }
    if (!BCRYPT_RE.test(hash)) {
      // Never echo the value: it is a password hash (or, by mistake, a password).
      yaml.add(p, 'not a valid bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 60 characters), e.g. from `htpasswd -nBC 10 "" | tr -d \':\\n\'`');
      continue;
    }
    map.set(user, hash);
  }
  // "If empty, no basic authentication is required."
  return map.size > 0 ? map : undefined;
}

