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
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';

// ---------------------------------------------------------------------------
// Public types

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/** exporter-toolkit spelling -> Node spelling. */
export const TLS_VERSIONS = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
} as const satisfies Record<string, tls.SecureVersion>;
export type TlsVersionName = keyof typeof TLS_VERSIONS;

export interface ServerCertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  readonly fingerprint256: string;
}

export interface WebConfigTls {
  /**
   * Ready for `https.createServer` / `server.setSecureContext`: cert, key, ca,
   * minVersion, maxVersion, honorCipherOrder and, when configured, ciphers and
   * ecdhCurve. Holds the private key, so it is non-enumerable (kept out of
   * JSON.stringify and util.inspect).
   */
  readonly secureContextOptions: Readonly<tls.SecureContextOptions>;
  readonly clientAuthType: ClientAuthType;
  /** Node server option: ask the client for a certificate. */
  readonly requestCert: boolean;
  /** Node server option: fail the handshake on a missing or unverifiable client certificate. */
  readonly rejectUnauthorized: boolean;
  /** The client must present a certificate (RequireAnyClientCert, RequireAndVerifyClientCert). */
  readonly requireClientCert: boolean;
  /** A presented client certificate must chain to the client CA (VerifyClientCertIfGiven, RequireAndVerifyClientCert). */
  readonly verifyClientCert: boolean;
  /** When set, the client certificate must carry one of these SANs (DNS, IP, e-mail or URI; exact match). */
  readonly clientAllowedSans?: readonly string[];
  readonly minVersion: tls.SecureVersion;
  readonly maxVersion: tls.SecureVersion;
  /** The leaf certificate served, for logging (e.g. its expiry). */
  readonly certificate: ServerCertificateInfo;
}

export interface WebConfig {
  /** The file this configuration was read from. */
  readonly file: string;
  readonly tls?: WebConfigTls;
  /** user -> bcrypt hash; undefined when no basic auth is configured. */
  readonly basicAuthUsers?: ReadonlyMap<string, string>;
  /** Extra response headers (only the exporter-toolkit allow-list). */
  readonly headers: Readonly<Record<string, string>>;
}

export interface WebConfigIssue {
  readonly file: string;
  /** 1-based; absent only when the position is unknown. */
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the field, e.g. `tls_server_config.min_version`. */
  readonly field: string;
  readonly message: string;
}

export class WebConfigError extends Error {
  override readonly name = 'WebConfigError';
  readonly file: string;
  readonly issues: readonly WebConfigIssue[];
  constructor(file: string, issues: readonly WebConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.file = file;
    this.issues = issues;
  }
}

function formatIssue(i: WebConfigIssue): string {
  const where = i.line === undefined ? i.file : `${i.file}:${i.line}:${i.column ?? 1}`;
  return i.field ? `${where}: ${i.field}: ${i.message}` : `${where}: ${i.message}`;
}

export interface ParseWebConfigOptions {
  /** Reads a certificate/key/CA file; defaults to fs.readFileSync. */
  readFile?: (absolutePath: string) => Buffer | string;
}

// ---------------------------------------------------------------------------
// Tables

/** Go crypto/tls names (tls.CipherSuites()) of TLS <= 1.2 suites -> OpenSSL names. */
const GO_TLS12_CIPHERS: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
};
/** Listed by Go, but (as in Go) TLS 1.3 suites are not configurable: accepted and ignored. */
const GO_TLS13_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const CIPHER_NAMES = [...Object.keys(GO_TLS12_CIPHERS), ...GO_TLS13_CIPHERS] as [string, ...string[]];

const GO_CURVES: Record<string, string> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  X25519: 'X25519',
};
const CURVE_NAMES = Object.keys(GO_CURVES) as [string, ...string[]];

/** exporter-toolkit's allow-list; `undefined` = any value. */
const ALLOWED_HEADERS: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

const VERSION_ORDER: Record<TlsVersionName, number> = { TLS10: 0, TLS11: 1, TLS12: 2, TLS13: 3 };

/** $2$, $2a$, $2b$, $2y$ (all accepted by bcryptjs), cost 04..31, 22+31 chars of bcrypt base64. */
const BCRYPT_RE = /^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

// ---------------------------------------------------------------------------
// Schema

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

type RawTls = z.infer<typeof tlsSchema>;

// ---------------------------------------------------------------------------
// Entry points

/** Reads and validates a web config file. Rejects with a WebConfigError. */
export async function loadWebConfig(file: string, opts: ParseWebConfigOptions = {}): Promise<WebConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new WebConfigError(file, [{ file, field: '', message: `cannot read web config file: ${errMessage(err)}` }]);
  }
  return parseWebConfig(text, file, path.dirname(path.resolve(file)), opts);
}

/**
 * Validates web config text. `fileName` is only used in messages; relative
 * certificate paths are resolved against `baseDir`. Reads the referenced
 * certificate files (synchronously, through `opts.readFile`). Throws a
 * WebConfigError listing every problem found.
 */
export function parseWebConfig(
  text: string,
  fileName: string,
  baseDir: string,
  opts: ParseWebConfigOptions = {},
): WebConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const ctx = new Ctx(fileName, doc, lineCounter);

  if (doc.errors.length > 0) {
    for (const e of doc.errors) ctx.addAt(e.pos[0], '', `invalid YAML: ${e.message}`);
    throw ctx.error();
  }
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new WebConfigError(fileName, [{ file: fileName, field: '', message: `invalid YAML: ${errMessage(err)}` }]);
  }
  if (js === null || js === undefined) js = {};
  if (typeof js !== 'object' || Array.isArray(js)) {
    ctx.add([], 'the web config must be a YAML mapping');
    throw ctx.error();
  }

  const parsed = rootSchema.safeParse(js);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addZodIssue(issue);
    throw ctx.error();
  }
  const raw = parsed.data;

  if (raw.rate_limit !== undefined) {
    ctx.addKey([], 'rate_limit', 'rate_limit is not supported by this exporter; put a rate-limiting reverse proxy in front of it');
  }

  const headers = validateHeaders(ctx, raw.http_server_config?.headers ?? undefined);
  const basicAuthUsers = validateUsers(ctx, raw.basic_auth_users ?? undefined);
  const tlsCfg = buildTls(ctx, raw.tls_server_config ?? undefined, baseDir, opts.readFile ?? ((p) => readFileSync(p)));

  if (ctx.issues.length > 0) throw ctx.error();

  const result: WebConfig = {
    file: fileName,
    headers: Object.freeze(headers),
    ...(basicAuthUsers ? { basicAuthUsers } : {}),
    ...(tlsCfg ? { tls: tlsCfg } : {}),
  };
  return Object.freeze(result);
}

// ---------------------------------------------------------------------------
// Sections

function validateHeaders(ctx: Ctx, headers: Record<string, string | null | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    const p = ['http_server_config', 'headers', name];
    if (!Object.hasOwn(ALLOWED_HEADERS, name)) {
      ctx.addKey(p.slice(0, -1), name, `HTTP header "${name}" can not be configured; allowed: ${Object.keys(ALLOWED_HEADERS).join(', ')}`);
      continue;
    }
    if (value === null || value === undefined || value === '') continue; // "Unset if blank."
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(value)) {
      ctx.add(p, 'the value must not contain control characters');
      continue;
    }
    const allowed = ALLOWED_HEADERS[name];
    if (allowed && !allowed.includes(value)) {
      ctx.add(p, `invalid value ${JSON.stringify(value)}; expected one of: ${allowed.join(', ')}`);
      continue;
    }
    out[name] = value;
  }
  return out;
}

function validateUsers(ctx: Ctx, users: Record<string, string> | undefined): ReadonlyMap<string, string> | undefined {
  if (!users) return undefined;
  const map = new Map<string, string>();
  for (const [user, hash] of Object.entries(users)) {
    const p = ['basic_auth_users', user];
    if (user.includes(':')) {
      ctx.addKey(p.slice(0, -1), user, `user name ${JSON.stringify(user)} contains ":", which basic authentication cannot carry`);
      continue;
    }
    if (!BCRYPT_RE.test(hash)) {
      // Never echo the value: it is a password hash (or, by mistake, a password).
      ctx.add(p, 'not a valid bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 60 characters), e.g. from `htpasswd -nBC 10 "" | tr -d \':\\n\'`');
      continue;
    }
    map.set(user, hash);
  }
  // "If empty, no basic authentication is required."
  return map.size > 0 ? map : undefined;
}

function buildTls(
  ctx: Ctx,
  t: RawTls | undefined,
  baseDir: string,
  read: (p: string) => Buffer | string,
): WebConfigTls | undefined {
  if (!t) return undefined;
  const set = Object.entries(t).filter(([, v]) => v !== undefined && v !== null);
  if (set.length === 0) return undefined; // `tls_server_config: {}`: no TLS, as in the toolkit
  const P = 'tls_server_config';
  const before = ctx.issues.length;

  // --- consistency of the fields (no I/O yet)
  const pairs: Array<[inline: 'cert' | 'key' | 'client_ca', file: 'cert_file' | 'key_file' | 'client_ca_file']> = [
    ['cert', 'cert_file'],
    ['key', 'key_file'],
    ['client_ca', 'client_ca_file'],
  ];
  for (const [inline, file] of pairs) {
    if (t[inline] !== undefined && t[file] !== undefined) ctx.add([P, file], `set either ${inline} or ${file}, not both`);
  }
  if (t.cert === undefined && t.cert_file === undefined) ctx.add([P], 'missing one of cert or cert_file');
  if (t.key === undefined && t.key_file === undefined) ctx.add([P], 'missing one of key or key_file');

  const clientAuthType: ClientAuthType = (t.client_auth_type as ClientAuthType | undefined) ?? 'NoClientCert';
  const hasCa = t.client_ca !== undefined || t.client_ca_file !== undefined;
  const caField = t.client_ca_file !== undefined ? 'client_ca_file' : 'client_ca';
  if (hasCa && clientAuthType === 'NoClientCert') {
    ctx.add([P, caField], "client CA's have been configured without a Client Auth Policy (set client_auth_type)");
  }
  const verifyClientCert = clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert';
  const requireClientCert = clientAuthType === 'RequireAnyClientCert' || clientAuthType === 'RequireAndVerifyClientCert';
  if (verifyClientCert && !hasCa) {
    ctx.add([P, 'client_auth_type'], `${clientAuthType} needs client_ca_file or client_ca to verify client certificates against`);
  }
  const sans = t.client_allowed_sans ?? undefined;
  if (sans && !requireClientCert) {
    ctx.add(
      [P, 'client_allowed_sans'],
      'client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert',
    );
  }
  const minName: TlsVersionName = t.min_version ?? 'TLS12';
  const maxName: TlsVersionName = t.max_version ?? 'TLS13';
  if (VERSION_ORDER[minName] > VERSION_ORDER[maxName]) {
    ctx.add([P, t.min_version ? 'min_version' : 'max_version'], `min_version ${minName} is above max_version ${maxName}`);
  }
  if (ctx.issues.length > before) return undefined;

  // --- material
  const loadPem = (inline: 'cert' | 'key' | 'client_ca', file: 'cert_file' | 'key_file' | 'client_ca_file'): { pem: string; field: string; label: string } | undefined => {
    const f = t[file];
    if (f === undefined) {
      const v = t[inline];
      return v === undefined ? undefined : { pem: v, field: inline, label: `inline ${inline}` };
    }
    const abs = path.resolve(baseDir, f);
    try {
      const data = read(abs);
      return { pem: typeof data === 'string' ? data : data.toString('utf8'), field: file, label: `"${abs}"` };
    } catch (err) {
      ctx.add([P, file], `cannot read ${JSON.stringify(abs)}: ${errMessage(err)}`);
      return undefined;
    }
  };

  const certSrc = loadPem('cert', 'cert_file');
  const keySrc = loadPem('key', 'key_file');
  const caSrc = loadPem('client_ca', 'client_ca_file');

  let leaf: X509Certificate | undefined;
  if (certSrc) {
    const certs = parseCertificates(certSrc.pem);
    if (typeof certs === 'string') ctx.add([P, certSrc.field], `${certSrc.label}: ${certs}`);
    else leaf = certs[0];
  }
  let key: KeyObject | undefined;
  if (keySrc) {
    try {
      key = createPrivateKey(keySrc.pem);
    } catch (err) {
      // The message of createPrivateKey never contains the key material.
      ctx.add([P, keySrc.field], `${keySrc.label}: not a valid unencrypted PEM private key (${errMessage(err)})`);
    }
  }
  if (leaf && key && certSrc && keySrc && !leaf.checkPrivateKey(key)) {
    ctx.add([P, keySrc.field], `the private key in ${keySrc.label} does not match the certificate in ${certSrc.label}`);
  }
  if (caSrc) {
    const cas = parseCertificates(caSrc.pem);
    if (typeof cas === 'string') ctx.add([P, caSrc.field], `${caSrc.label}: ${cas}`);
  }
  if (ctx.issues.length > before || !certSrc || !keySrc || !leaf) return undefined;

  const minVersion = TLS_VERSIONS[minName];
  const maxVersion = TLS_VERSIONS[maxName];
  const secureContextOptions: tls.SecureContextOptions = {
    cert: certSrc.pem,
    key: keySrc.pem,
    minVersion,
    maxVersion,
    honorCipherOrder: t.prefer_server_cipher_suites ?? true,
  };
  if (caSrc) secureContextOptions.ca = caSrc.pem;
  const tls12 = (t.cipher_suites ?? []).map((c) => GO_TLS12_CIPHERS[c]).filter((c): c is string => c !== undefined);
  if (tls12.length > 0) {
    // As in Go, cipher_suites only constrains TLS <= 1.2: keep Node's TLS 1.3 defaults.
    const tls13 = tls.DEFAULT_CIPHERS.split(':').filter((c) => c.startsWith('TLS_'));
    secureContextOptions.ciphers = [...tls13, ...tls12].join(':');
  }
  if (t.curve_preferences && t.curve_preferences.length > 0) {
    secureContextOptions.ecdhCurve = t.curve_preferences.map((c) => GO_CURVES[c]).join(':');
  }
  try {
    tls.createSecureContext(secureContextOptions);
  } catch (err) {
    ctx.add([P], `cannot build a TLS context from this configuration: ${errMessage(err)}`);
    return undefined;
  }

  const result: WebConfigTls = {
    secureContextOptions: Object.freeze(secureContextOptions),
    clientAuthType,
    requestCert: clientAuthType !== 'NoClientCert',
    rejectUnauthorized: clientAuthType === 'RequireAndVerifyClientCert',
    requireClientCert,
    verifyClientCert,
    ...(sans ? { clientAllowedSans: Object.freeze([...sans]) } : {}),
    minVersion,
    maxVersion,
    certificate: Object.freeze({
      subject: leaf.subject,
      issuer: leaf.issuer,
      validFrom: new Date(leaf.validFrom),
      validTo: new Date(leaf.validTo),
      fingerprint256: leaf.fingerprint256,
    }),
  };
  // Keep the private key out of JSON.stringify / util.inspect of the config.
  Object.defineProperty(result, 'secureContextOptions', { enumerable: false });
  return Object.freeze(result);
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** All certificates of a PEM bundle, or a message saying what is wrong. */
function parseCertificates(pem: string): X509Certificate[] | string {
  const blocks = pem.match(PEM_CERT_RE);
  if (!blocks || blocks.length === 0) return 'no PEM certificate found';
  const out: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      out.push(new X509Certificate(block));
    } catch (err) {
      return `certificate #${i + 1} is invalid: ${errMessage(err)}`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Issue collection with YAML positions

type PathSeg = string | number;

class Ctx {
  readonly issues: WebConfigIssue[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  error(): WebConfigError {
    return new WebConfigError(this.file, this.issues);
  }

  addAt(offset: number | undefined, field: string, message: string): void {
    const pos = offset === undefined ? undefined : this.lines.linePos(offset);
    this.issues.push({ file: this.file, field, message, ...(pos ? { line: pos.line, column: pos.col } : {}) });
  }

  /** An issue about the value at `p` (or its closest existing ancestor). */
  add(p: readonly PathSeg[], message: string): void {
    const { node, key } = this.locate(p);
    const range = valueRange(node) ?? key?.range ?? undefined;
    this.addAt(range?.[0], fieldName(p), message);
  }

  /** An issue about the key `k` of the mapping at `parent` (points at the key itself). */
  addKey(parent: readonly PathSeg[], k: string, message: string): void {
    const { node } = this.locate(parent);
    let offset: number | undefined;
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === k);
      offset = pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined;
    }
    offset ??= (node as YamlNode | null)?.range?.[0];
    this.addAt(offset, fieldName([...parent, k]), message);
  }

  addZodIssue(issue: z.ZodIssue): void {
    const p = issue.path;
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const k of issue.keys) this.addKey(p, k, `unknown field ${JSON.stringify(k)}${suggest(p)}`);
        return;
      case 'invalid_enum_value':
        this.add(p, `invalid value ${JSON.stringify(issue.received)}; expected one of: ${issue.options.join(', ')}`);
        return;
      case 'invalid_type':
        this.add(p, `expected ${describeType(issue.expected)}, got ${describeType(issue.received)}`);
        return;
      default:
        this.add(p, issue.message);
    }
  }

  /** Walks the YAML tree along `p`; stops at the deepest node that exists. */
  private locate(p: readonly PathSeg[]): { node: unknown; key: YamlNode | undefined } {
    let node: unknown = this.doc.contents;
    let key: YamlNode | undefined;
    for (const seg of p) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) break;
        key = pair.key as YamlNode;
        node = pair.value ?? undefined;
        if (node === undefined) break;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        key = undefined;
        node = node.items[seg];
      } else {
        break;
      }
    }
    return { node, key };
  }
}

function valueRange(node: unknown): readonly [number, number, number] | undefined {
  const n = node as YamlNode | null | undefined;
  const r = n?.range;
  // An empty scalar (`key:`) has a zero-width range at the end of the line: still a position.
  return r ?? undefined;
}

function fieldName(p: readonly PathSeg[]): string {
  return p.map((s) => (typeof s === 'number' ? `[${s}]` : s)).join('.').replace(/\.\[/g, '[');
}

function suggest(p: readonly PathSeg[]): string {
  const sections: Record<string, string[]> = {
    '': ['tls_server_config', 'http_server_config', 'basic_auth_users'],
    tls_server_config: Object.keys(tlsSchema.shape),
    http_server_config: Object.keys(httpSchema.shape),
  };
  const allowed = sections[p.join('.')];
  return allowed ? `; allowed: ${allowed.join(', ')}` : '';
}

/** zod type names in YAML words; enum unions as a list. */
function describeType(t: string): string {
  if (t.includes(' | ')) return `one of: ${t.split(' | ').map((v) => v.replace(/^'(.*)'$/, '$1')).join(', ')}`;
  return ({ object: 'a mapping', array: 'a list', null: 'nothing (null)', undefined: 'nothing' } as Record<string, string>)[t] ?? `a ${t}`;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
