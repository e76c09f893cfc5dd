/**
 * ACS3-HMAC-SHA256 verification, as the service does it (the scheme the
 * SDK signs with: canonical request, string to sign, HMAC). Everything here is pure
 * except NonceCache, which is the one piece of state replay protection needs.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ERRORS, type ApiError } from './errors.js';

export const ALGORITHM = 'ACS3-HMAC-SHA256';

/** Without these in SignedHeaders a signature could be replayed against another action, date or body. */
export const REQUIRED_SIGNED_HEADERS = [
  'host',
  'x-acs-action',
  'x-acs-version',
  'x-acs-date',
  'x-acs-signature-nonce',
  'x-acs-content-sha256',
] as const;

export const MAX_DATE_SKEW_MS = 15 * 60_000;

export interface KeyPair {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  /** STS pairs only: the request must then carry this exact x-acs-security-token. */
  readonly securityToken?: string;
}

/** Header names in lower case, as node:http delivers them (`headersDistinct`). */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface SignedRequest {
  readonly method: string;
  /** The raw path, before `?`. */
  readonly path: string;
  /** The raw query string, after `?`, still percent-encoded. */
  readonly rawQuery: string;
  readonly headers: HeaderMap;
  readonly body: Buffer;
}

export interface ParsedAuthorization {
  readonly algorithm: string;
  readonly accessKeyId: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

export type VerifyResult =
  | { readonly ok: true; readonly accessKeyId: string; readonly nonce: string }
  | { readonly ok: false; readonly error: ApiError; readonly accessKeyId?: string };

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmacSha256Hex(secret: string, data: string): string {
  return createHmac('sha256', secret).update(data, 'utf8').digest('hex');
}

/** encodeURIComponent leaves `!'()*` alone; the signature (RFC 3986) does not. */
export function acsEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Splits a raw query into decoded pairs. `+` stays a plus: the SDK encodes a
 * space as %20, and the canonical form is computed from decoded values, so
 * reading `+` as a space would make a correct signature fail.
 * Throws URIError on a malformed percent escape.
 */
export function parseQuery(rawQuery: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (rawQuery === '') return pairs;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([decodeURIComponent(key), decodeURIComponent(value)]);
  }
  return pairs;
}

/**
 * Sorted by key in code-unit order (what the SDK's Array.sort does), values
 * re-encoded. Keys stay decoded: the SDK writes them into the canonical
 * string without encoding.
 */
export function canonicalQueryString(rawQuery: string): string {
  const pairs = parseQuery(rawQuery);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${acsEncode(v)}`).join('&');
}

function headerValues(headers: HeaderMap, name: string): readonly string[] | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? [v] : v;
}

/** Repeated headers are sorted and joined with `,`, as the SDK joins them. */
export function canonicalHeaderValue(headers: HeaderMap, name: string): string | undefined {
  const values = headerValues(headers, name);
  if (values === undefined) return undefined;
  return values.map((v) => v.trim()).sort().join(',');
}

export function canonicalHeaders(headers: HeaderMap, signedHeaders: readonly string[]): string {
  return signedHeaders.map((h) => `${h}:${canonicalHeaderValue(headers, h) ?? ''}\n`).join('');
}

export function canonicalRequest(parts: {
  method: string;
  path: string;
  canonicalQuery: string;
  canonicalHeaders: string;
  signedHeaders: readonly string[];
  payloadHash: string;
}): string {
  return [
    parts.method.toUpperCase(),
    parts.path,
    parts.canonicalQuery,
    parts.canonicalHeaders,
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}

export function stringToSign(canonical: string): string {
  return `${ALGORITHM}\n${sha256Hex(canonical)}`;
}

/** `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex`; undefined when it is not that shape. */
export function parseAuthorization(value: string): ParsedAuthorization | undefined {
  const m = /^(\S+)\s+(.*)$/.exec(value.trim());
  if (!m) return undefined;
  const fields = new Map<string, string>();
  for (const part of m[2]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signed || !signature) return undefined;
  return {
    algorithm: m[1]!,
    accessKeyId: credential,
    signedHeaders: signed.split(';').map((h) => h.trim().toLowerCase()),
    signature,
  };
}

/** The SDK sends `2025-05-22T08:30:00Z`; fractions are tolerated, other shapes are not. */
export function parseAcsDate(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/.test(text)) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** Compares without leaking, through timing, how many leading characters matched. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/** The signature a correct client computes: exported for tests and tools that craft raw requests. */
export function computeSignature(req: SignedRequest, signedHeaders: readonly string[], secret: string): {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
} {
  const payloadHash = canonicalHeaderValue(req.headers, 'x-acs-content-sha256') ?? sha256Hex(req.body);
  const canonical = canonicalRequest({
    method: req.method,
    path: req.path,
    canonicalQuery: canonicalQueryString(req.rawQuery),
    canonicalHeaders: canonicalHeaders(req.headers, signedHeaders),
    signedHeaders,
    payloadHash,
  });
  const sts = stringToSign(canonical);
  return { canonicalRequest: canonical, stringToSign: sts, signature: hmacSha256Hex(secret, sts) };
}

export interface VerifyOptions {
  readonly findKey: (accessKeyId: string) => KeyPair | undefined;
  /** Wall-clock time in ms, compared with x-acs-date. */
  readonly nowMs: number;
  readonly maxSkewMs?: number;
  /** When given, a nonce is remembered once its request verified, and refused after. */
  readonly nonces?: NonceCache;
}

export function verifySignature(req: SignedRequest, opts: VerifyOptions): VerifyResult {
  const authHeader = canonicalHeaderValue(req.headers, 'authorization');
  if (authHeader === undefined || authHeader === '') {
    return { ok: false, error: ERRORS.incompleteSignature('The Authorization header is missing.') };
  }
  const auth = parseAuthorization(authHeader);
  if (!auth) return { ok: false, error: ERRORS.incompleteSignature('The Authorization header is malformed.') };
  if (auth.algorithm !== ALGORITHM) {
    return { ok: false, error: ERRORS.incompleteSignature(`Unsupported signature algorithm ${JSON.stringify(auth.algorithm)}.`) };
  }
  for (const h of REQUIRED_SIGNED_HEADERS) {
    if (headerValues(req.headers, h) === undefined) return { ok: false, error: ERRORS.missingParameter(h) };
    if (!auth.signedHeaders.includes(h)) {
      return { ok: false, error: ERRORS.incompleteSignature(`SignedHeaders must include ${h}.`) };
    }
  }
  // An unsigned x-acs-* header (a security token, say) could be swapped by anyone on the path.
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-acs-') && !auth.signedHeaders.includes(name)) {
      return { ok: false, error: ERRORS.incompleteSignature(`Header ${name} must be signed.`) };
    }
  }
  for (const h of auth.signedHeaders) {
    if (headerValues(req.headers, h) === undefined) {
      return { ok: false, error: ERRORS.incompleteSignature(`Signed header ${h} is not in the request.`) };
    }
  }

  const key = opts.findKey(auth.accessKeyId);
  if (!key) return { ok: false, error: ERRORS.accessKeyNotFound(), accessKeyId: auth.accessKeyId };
  const fail = (error: ApiError): VerifyResult => ({ ok: false, error, accessKeyId: auth.accessKeyId });

  const date = parseAcsDate(canonicalHeaderValue(req.headers, 'x-acs-date')!);
  if (date === undefined) return fail(ERRORS.timestampFormat());
  if (Math.abs(opts.nowMs - date) > (opts.maxSkewMs ?? MAX_DATE_SKEW_MS)) return fail(ERRORS.timestampExpired());

  const claimedHash = canonicalHeaderValue(req.headers, 'x-acs-content-sha256')!;
  if (!constantTimeEqual(claimedHash.toLowerCase(), sha256Hex(req.body))) return fail(ERRORS.contentHashMismatch());

  let expected: { stringToSign: string; signature: string };
  try {
    expected = computeSignature(req, auth.signedHeaders, key.accessKeySecret);
  } catch {
    // A malformed percent escape: nothing sensible to sign.
    return fail(ERRORS.signatureMismatch());
  }
  if (!constantTimeEqual(auth.signature.toLowerCase(), expected.signature)) {
    return fail(ERRORS.signatureMismatch(expected.stringToSign));
  }

  const token = canonicalHeaderValue(req.headers, 'x-acs-security-token');
  if (key.securityToken !== undefined || token !== undefined) {
    if (key.securityToken === undefined || token === undefined || !constantTimeEqual(token, key.securityToken)) {
      return fail(ERRORS.securityTokenMismatch());
    }
  }

  const nonce = canonicalHeaderValue(req.headers, 'x-acs-signature-nonce')!;
  if (nonce === '') return fail(ERRORS.missingParameter('x-acs-signature-nonce'));
  if (opts.nonces && !opts.nonces.use(`${auth.accessKeyId}\n${nonce}`, opts.nowMs)) return fail(ERRORS.nonceUsed());
  return { ok: true, accessKeyId: auth.accessKeyId, nonce };
}

/**
 * Remembers nonces long enough that a replay is refused for as long as its
 * date would still pass the skew check: a request dated up to 15 minutes
 * ahead stays acceptable for 30 minutes. Bounded, so a load test cannot grow
 * it without limit; past the bound the oldest nonces are forgotten first.
 */
export class NonceCache {
  private readonly expiry = new Map<string, number>();

  constructor(
    private readonly ttlMs: number = 2 * MAX_DATE_SKEW_MS,
    private readonly maxEntries: number = 500_000,
  ) {}

  /** True the first time a key is seen (and records it), false for a replay. */
  use(key: string, nowMs: number): boolean {
    this.prune(nowMs);
    const until = this.expiry.get(key);
    if (until !== undefined && until > nowMs) return false;
    this.expiry.delete(key);
    this.expiry.set(key, nowMs + this.ttlMs);
    if (this.expiry.size > this.maxEntries) {
      const oldest = this.expiry.keys().next().value;
      if (oldest !== undefined) this.expiry.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.expiry.size;
  }

  private prune(nowMs: number): void {
    // Insertion order is expiry order as long as the clock does not go back; stop at the first live entry.
    for (const [key, until] of this.expiry) {
      if (until > nowMs) break;
      this.expiry.delete(key);
    }
  }
}
