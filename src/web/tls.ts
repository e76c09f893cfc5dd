/**
 * `tls_server_config` of the web configuration: Go's names for TLS versions,
 * cipher suites and curves mapped to OpenSSL's, the client-certificate
 * policy, and the certificate, key and CA material checked at load time (a
 * key that does not match its certificate fails here, not at the first
 * handshake).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import path from 'node:path';
import tls from 'node:tls';
import type { YamlFile } from '../yaml/document.js';
import type { RawTls } from './config.js';

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

/** Go crypto/tls names (tls.CipherSuites()) of TLS <= 1.2 suites -> OpenSSL names. */
export const GO_TLS12_CIPHERS: Record<string, string> = {
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
export const CIPHER_NAMES = [...Object.keys(GO_TLS12_CIPHERS), ...GO_TLS13_CIPHERS] as [string, ...string[]];

const GO_CURVES: Record<string, string> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  X25519: 'X25519',
};
export const CURVE_NAMES = Object.keys(GO_CURVES) as [string, ...string[]];

const VERSION_ORDER: Record<TlsVersionName, number> = { TLS10: 0, TLS11: 1, TLS12: 2, TLS13: 3 };


export function buildTls(
  yaml: YamlFile,
  t: RawTls | undefined,
  baseDir: string,
  read: (p: string) => Buffer | string,
): WebConfigTls | undefined {
  if (!t) return undefined;
  const set = Object.entries(t).filter(([, v]) => v !== undefined && v !== null);
  if (set.length === 0) return undefined; // `tls_server_config: {}`: no TLS, as in the toolkit
  const P = 'tls_server_config';
  const before = yaml.issues.length;

  // --- consistency of the fields (no I/O yet)
  const pairs: Array<[inline: 'cert' | 'key' | 'client_ca', file: 'cert_file' | 'key_file' | 'client_ca_file']> = [
    ['cert', 'cert_file'],
    ['key', 'key_file'],
    ['client_ca', 'client_ca_file'],
  ];
  for (const [inline, file] of pairs) {
    if (t[inline] !== undefined && t[file] !== undefined) yaml.add([P, file], `set either ${inline} or ${file}, not both`);
  }
  if (t.cert === undefined && t.cert_file === undefined) yaml.add([P], 'missing one of cert or cert_file');
  if (t.key === undefined && t.key_file === undefined) yaml.add([P], 'missing one of key or key_file');

  const clientAuthType: ClientAuthType = (t.client_auth_type as ClientAuthType | undefined) ?? 'NoClientCert';
  const hasCa = t.client_ca !== undefined || t.client_ca_file !== undefined;
  const caField = t.client_ca_file !== undefined ? 'client_ca_file' : 'client_ca';
  if (hasCa && clientAuthType === 'NoClientCert') {
    yaml.add([P, caField], "client CA's have been configured without a Client Auth Policy (set client_auth_type)");
  }
  const verifyClientCert = clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert';
  const requireClientCert = clientAuthType === 'RequireAnyClientCert' || clientAuthType === 'RequireAndVerifyClientCert';
  if (verifyClientCert && !hasCa) {
    yaml.add([P, 'client_auth_type'], `${clientAuthType} needs client_ca_file or client_ca to verify client certificates against`);
  }
  const sans = t.client_allowed_sans ?? undefined;
  if (sans && !requireClientCert) {
    yaml.add(
      [P, 'client_allowed_sans'],
      'client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert',
    );
  }
  const minName: TlsVersionName = t.min_version ?? 'TLS12';
  const maxName: TlsVersionName = t.max_version ?? 'TLS13';
  if (VERSION_ORDER[minName] > VERSION_ORDER[maxName]) {
    yaml.add([P, t.min_version ? 'min_version' : 'max_version'], `min_version ${minName} is above max_version ${maxName}`);
  }
  if (yaml.issues.length > before) return undefined;

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
      yaml.add([P, file], `cannot read ${JSON.stringify(abs)}: ${errMessage(err)}`);
      return undefined;
    }
  };

  const certSrc = loadPem('cert', 'cert_file');
  const keySrc = loadPem('key', 'key_file');
  const caSrc = loadPem('client_ca', 'client_ca_file');

  let leaf: X509Certificate | undefined;
  if (certSrc) {
    const certs = parseCertificates(certSrc.pem);
    if (typeof certs === 'string') yaml.add([P, certSrc.field], `${certSrc.label}: ${certs}`);
    else leaf = certs[0];
  }
  let key: KeyObject | undefined;
  if (keySrc) {
    try {
      key = createPrivateKey(keySrc.pem);
    } catch (err) {
      // The message of createPrivateKey never contains the key material.
      yaml.add([P, keySrc.field], `${keySrc.label}: not a valid unencrypted PEM private key (${errMessage(err)})`);
    }
  }
  if (leaf && key && certSrc && keySrc && !leaf.checkPrivateKey(key)) {
    yaml.add([P, keySrc.field], `the private key in ${keySrc.label} does not match the certificate in ${certSrc.label}`);
  }
  if (caSrc) {
    const cas = parseCertificates(caSrc.pem);
    if (typeof cas === 'string') yaml.add([P, caSrc.field], `${caSrc.label}: ${cas}`);
  }
  if (yaml.issues.length > before || !certSrc || !keySrc || !leaf) return undefined;

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
    yaml.add([P], `cannot build a TLS context from this configuration: ${errMessage(err)}`);
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


function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
