/**
 * exporter-toolkit's client-certificate policy (`client_auth_type`,
 * `client_allowed_sans`), applied to each TLS connection once its handshake
 * completed.
 */
import type { X509Certificate } from 'node:crypto';
import net from 'node:net';
import type tls from 'node:tls';
import type { WebConfigTls } from './tls.js';

/** Why a TLS client must be turned away under `policy`, or undefined if it may proceed. */
export function clientCertRejection(socket: tls.TLSSocket, policy: WebConfigTls): string | undefined {
  if (!policy.requestCert) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return policy.requireClientCert ? 'no client certificate presented' : undefined;
  if (policy.verifyClientCert && !socket.authorized) {
    return `client certificate not verified: ${String(socket.authorizationError ?? 'unknown error')}`;
  }
  if (policy.clientAllowedSans) {
    const sans = certificateSans(cert);
    const allowed = new Set(policy.clientAllowedSans.map(normalizeSan));
    if (!sans.some((s) => allowed.has(normalizeSan(s)))) {
      return `client certificate has none of the allowed SANs (found: ${sans.join(', ') || 'none'})`;
    }
  }
  return undefined;
}

/**
 * The DNS, IP, e-mail and URI subject alternative names of a certificate, as
 * plain values (Go's x509 fields). Parses Node's `subjectAltName` string, whose
 * entries are `TYPE:value` separated by ", ", with values that contain
 * delimiters given as JSON strings.
 */
export function certificateSans(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // JSON string: find its closing quote, honouring escapes.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        value = text.slice(j + 1, k);
      }
      j = k + 1;
    } else {
      const sep = text.indexOf(', ', j);
      const end = sep < 0 ? text.length : sep;
      value = text.slice(j, end);
      j = end;
    }
    if (type === 'DNS' || type === 'IP Address' || type === 'email' || type === 'URI') out.push(value);
    i = text.startsWith(', ', j) ? j + 2 : j + 1;
  }
  return out;
}

/** IP addresses in one canonical form (Go prints IPv6 compressed, lower case); other values unchanged. */
function normalizeSan(v: string): string {
  if (net.isIPv6(v)) {
    try {
      return new URL(`http://[${v}]/`).hostname.slice(1, -1);
    } catch {
      return v.toLowerCase();
    }
  }
  return v;
}
