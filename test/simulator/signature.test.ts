import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  acsEncode,
  canonicalHeaders,
  canonicalQueryString,
  computeSignature,
  NonceCache,
  parseAcsDate,
  parseAuthorization,
  verifySignature,
  type KeyPair,
  type SignedRequest,
} from '../../src/simulator/signature.js';
import { Util } from './helpers.js';

const EMPTY_SHA = createHash('sha256').update('').digest('hex');
const KEY: KeyPair = { accessKeyId: 'LTAI-demo-access-key-id', accessKeySecret: 'demo-access-key-secret' };
const findKey = (id: string): KeyPair | undefined => (id === KEY.accessKeyId ? KEY : undefined);
const NOW = Date.parse('2025-05-22T08:30:00Z');

/** The request of the known vector: signed with the SDK's getAuthorization (openapi-util 0.3.x). */
const VECTOR_HEADERS = {
  host: 'tds.aliyuncs.com',
  'x-acs-action': 'DescribeScanTaskProgress',
  'x-acs-version': '2018-12-03',
  'x-acs-date': '2025-05-22T08:30:00Z',
  'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d',
  'x-acs-content-sha256': EMPTY_SHA,
  'user-agent': 'x',
  accept: 'application/json',
};
const VECTOR_QUERY = { TaskId: '282832', Note: "it's (a) *test*!" };
const VECTOR_SIGNATURE = '04b8c5e6c86d1966232e7d13fc12da21b5443948b333d3cb23e3dd53f0abbddf';
const VECTOR_SIGNED = 'host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version';
/** What node:querystring (the SDK's URL builder) puts on the wire: `'()*!` are left as they are. */
const VECTOR_RAW_QUERY = "TaskId=282832&Note=it's%20(a)%20*test*!";

function vectorRequest(over: Partial<SignedRequest> = {}, authorization?: string): SignedRequest {
  const auth = authorization ?? `ACS3-HMAC-SHA256 Credential=${KEY.accessKeyId},SignedHeaders=${VECTOR_SIGNED},Signature=${VECTOR_SIGNATURE}`;
  return {
    method: 'POST',
    path: '/',
    rawQuery: VECTOR_RAW_QUERY,
    headers: { ...VECTOR_HEADERS, authorization: auth },
    body: Buffer.alloc(0),
    ...over,
  };
}

describe('canonicalisation', () => {
  it('escapes !\'()* on top of encodeURIComponent, in upper case', () => {
    expect(acsEncode("it's (a) *test*!")).toBe('it%27s%20%28a%29%20%2Atest%2A%21');
    expect(acsEncode('a b+c/d~e_f.g-h')).toBe('a%20b%2Bc%2Fd~e_f.g-h');
    expect(acsEncode('中')).toBe('%E4%B8%AD');
  });

  it('decodes the raw query, sorts by key and re-encodes values', () => {
    expect(canonicalQueryString(VECTOR_RAW_QUERY)).toBe('Note=it%27s%20%28a%29%20%2Atest%2A%21&TaskId=282832');
    // Already-escaped forms canonicalise the same way.
    expect(canonicalQueryString('TaskId=282832&Note=it%27s%20%28a%29%20%2Atest%2A%21')).toBe(
      'Note=it%27s%20%28a%29%20%2Atest%2A%21&TaskId=282832',
    );
    expect(canonicalQueryString('')).toBe('');
    expect(canonicalQueryString('B=2&A&C=')).toBe('A=&B=2&C=');
    // A plus is a plus, not a space: the SDK encodes spaces as %20.
    expect(canonicalQueryString('A=1+1')).toBe('A=1%2B1');
    expect(() => canonicalQueryString('A=%E4%B8')).toThrow(URIError);
  });

  it('builds canonical headers in SignedHeaders order, trimmed, repeated values sorted and joined', () => {
    expect(canonicalHeaders({ host: ' h:1 ', 'x-acs-b': ['2', '1'] }, ['host', 'x-acs-b'])).toBe('host:h:1\nx-acs-b:1,2\n');
  });

  it('parses the Authorization header', () => {
    expect(parseAuthorization(`ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;X-Acs-Date,Signature=ab`)).toEqual({
      algorithm: 'ACS3-HMAC-SHA256',
      accessKeyId: 'AK',
      signedHeaders: ['host', 'x-acs-date'],
      signature: 'ab',
    });
    expect(parseAuthorization('Bearer xyz')).toBeUndefined();
    expect(parseAuthorization('ACS3-HMAC-SHA256 Credential=AK,Signature=ab')).toBeUndefined();
  });

  it('reads x-acs-date as the SDK writes it, nothing looser', () => {
    expect(parseAcsDate('2025-05-22T08:30:00Z')).toBe(NOW);
    expect(parseAcsDate('2025-05-22T08:30:00.000Z')).toBe(NOW);
    expect(parseAcsDate('Thu, 22 May 2025 08:30:00 GMT')).toBeUndefined();
    expect(parseAcsDate('2025-05-22 08:30:00')).toBeUndefined();
  });
});

describe('known vector', () => {
  it('the canonical request is what the documented algorithm gives', () => {
    const { canonicalRequest } = computeSignature(vectorRequest(), VECTOR_SIGNED.split(';'), KEY.accessKeySecret);
    expect(canonicalRequest).toBe(
      [
        'POST',
        '/',
        'Note=it%27s%20%28a%29%20%2Atest%2A%21&TaskId=282832',
        'host:tds.aliyuncs.com\n' +
          'x-acs-action:DescribeScanTaskProgress\n' +
          `x-acs-content-sha256:${EMPTY_SHA}\n` +
          'x-acs-date:2025-05-22T08:30:00Z\n' +
          'x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n' +
          'x-acs-version:2018-12-03\n',
        VECTOR_SIGNED,
        EMPTY_SHA,
      ].join('\n'),
    );
  });

  it('computes the signature the SDK computes', () => {
    const { signature, stringToSign } = computeSignature(vectorRequest(), VECTOR_SIGNED.split(';'), KEY.accessKeySecret);
    expect(signature).toBe(VECTOR_SIGNATURE);
    expect(stringToSign).toMatch(/^ACS3-HMAC-SHA256\n[0-9a-f]{64}$/);
    // And the SDK installed today still agrees with the recorded vector.
    const sdk = Util.getAuthorization(
      { pathname: '/', method: 'POST', query: VECTOR_QUERY, headers: VECTOR_HEADERS } as never,
      'ACS3-HMAC-SHA256',
      EMPTY_SHA,
      KEY.accessKeyId,
      KEY.accessKeySecret,
    );
    expect(sdk).toBe(`ACS3-HMAC-SHA256 Credential=${KEY.accessKeyId},SignedHeaders=${VECTOR_SIGNED},Signature=${VECTOR_SIGNATURE}`);
  });

  it('verifies', () => {
    expect(verifySignature(vectorRequest(), { findKey, nowMs: NOW })).toMatchObject({ ok: true, accessKeyId: KEY.accessKeyId });
  });
});

describe('verifySignature rejections', () => {
  const code = (req: SignedRequest, nowMs = NOW, keys = findKey): string | undefined => {
    const r = verifySignature(req, { findKey: keys, nowMs });
    return r.ok ? undefined : r.error.code;
  };

  it('a tampered query', () => {
    expect(code(vectorRequest({ rawQuery: VECTOR_RAW_QUERY.replace('282832', '282833') }))).toBe('SignatureDoesNotMatch');
    expect(code(vectorRequest({ rawQuery: `${VECTOR_RAW_QUERY}&Extra=1` }))).toBe('SignatureDoesNotMatch');
    expect(code(vectorRequest({ rawQuery: 'TaskId=%E4' }))).toBe('SignatureDoesNotMatch');
  });

  it('a body that does not match x-acs-content-sha256', () => {
    expect(code(vectorRequest({ body: Buffer.from('TaskId=1') }))).toBe('SignatureDoesNotMatch');
  });

  it('a tampered signed header or method', () => {
    expect(code(vectorRequest({ headers: { ...vectorRequest().headers, 'x-acs-version': '2018-12-04' } }))).toBe('SignatureDoesNotMatch');
    expect(code(vectorRequest({ method: 'GET' }))).toBe('SignatureDoesNotMatch');
  });

  it('a wrong secret, and the message shows the string to sign but never the secret', () => {
    const other: KeyPair = { accessKeyId: KEY.accessKeyId, accessKeySecret: 'not-the-secret' };
    const r = verifySignature(vectorRequest(), { findKey: () => other, nowMs: NOW });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ status: 400, code: 'SignatureDoesNotMatch' });
    expect(r.error.message).toContain('ACS3-HMAC-SHA256\n');
    expect(r.error.message).not.toContain('not-the-secret');
  });

  it('an unknown access key', () => {
    const r = verifySignature(vectorRequest(), { findKey: () => undefined, nowMs: NOW });
    expect(r).toMatchObject({ ok: false, error: { status: 404, code: 'InvalidAccessKeyId.NotFound' } });
  });

  it('a stale or future date, beyond 15 minutes', () => {
    expect(code(vectorRequest(), NOW + 15 * 60_000)).toBeUndefined();
    expect(code(vectorRequest(), NOW + 15 * 60_000 + 1000)).toBe('InvalidTimeStamp.Expired');
    expect(code(vectorRequest(), NOW - 16 * 60_000)).toBe('InvalidTimeStamp.Expired');
    expect(code(vectorRequest({ headers: { ...vectorRequest().headers, 'x-acs-date': 'yesterday' } }))).toBe('InvalidTimeStamp.Format');
  });

  it('no Authorization, another algorithm, a required header unsigned or missing, an x-acs header unsigned', () => {
    const { authorization: _drop, ...noAuth } = vectorRequest().headers;
    expect(code(vectorRequest({ headers: noAuth }))).toBe('IncompleteSignature');
    expect(code(vectorRequest({}, `HMAC-SHA1 Credential=${KEY.accessKeyId},SignedHeaders=${VECTOR_SIGNED},Signature=${VECTOR_SIGNATURE}`))).toBe(
      'IncompleteSignature',
    );
    const withoutDate = VECTOR_SIGNED.replace(';x-acs-date', '');
    expect(code(vectorRequest({}, `ACS3-HMAC-SHA256 Credential=${KEY.accessKeyId},SignedHeaders=${withoutDate},Signature=${VECTOR_SIGNATURE}`))).toBe(
      'IncompleteSignature',
    );
    const { 'x-acs-signature-nonce': _n, ...noNonce } = vectorRequest().headers;
    expect(code(vectorRequest({ headers: noNonce }))).toBe('MissingParameter');
    expect(code(vectorRequest({ headers: { ...vectorRequest().headers, 'x-acs-security-token': 'injected' } }))).toBe('IncompleteSignature');
  });

  it('an STS pair needs its exact token', () => {
    const sts: KeyPair = { ...KEY, securityToken: 'tok' };
    const headers = { ...VECTOR_HEADERS, 'x-acs-security-token': 'tok' };
    const signed = `${VECTOR_SIGNED.replace('x-acs-date;', 'x-acs-date;x-acs-security-token;')}`;
    const sign = (h: Record<string, string>) =>
      computeSignature({ ...vectorRequest(), headers: h }, signed.split(';'), KEY.accessKeySecret).signature;
    const good = { ...headers, authorization: `ACS3-HMAC-SHA256 Credential=${KEY.accessKeyId},SignedHeaders=${signed},Signature=${sign(headers)}` };
    expect(verifySignature(vectorRequest({ headers: good }), { findKey: () => sts, nowMs: NOW }).ok).toBe(true);
    const badHeaders = { ...headers, 'x-acs-security-token': 'other' };
    const bad = { ...badHeaders, authorization: `ACS3-HMAC-SHA256 Credential=${KEY.accessKeyId},SignedHeaders=${signed},Signature=${sign(badHeaders)}` };
    expect(verifySignature(vectorRequest({ headers: bad }), { findKey: () => sts, nowMs: NOW })).toMatchObject({
      ok: false,
      error: { code: 'InvalidSecurityToken.MismatchWithAccessKey' },
    });
    // A plain pair with no token declared refuses a token, and an STS pair refuses its absence.
    expect(verifySignature(vectorRequest({ headers: good }), { findKey, nowMs: NOW }).ok).toBe(false);
    expect(verifySignature(vectorRequest(), { findKey: () => sts, nowMs: NOW }).ok).toBe(false);
  });
});

describe('nonce replay', () => {
  it('accepts a nonce once; a replay of the same signed request is refused', () => {
    const nonces = new NonceCache();
    expect(verifySignature(vectorRequest(), { findKey, nowMs: NOW, nonces }).ok).toBe(true);
    expect(verifySignature(vectorRequest(), { findKey, nowMs: NOW + 1000, nonces })).toMatchObject({
      ok: false,
      error: { status: 400, code: 'SignatureNonceUsed' },
    });
  });

  it('a request that fails verification does not burn its nonce', () => {
    const nonces = new NonceCache();
    expect(verifySignature(vectorRequest({ body: Buffer.from('x') }), { findKey, nowMs: NOW, nonces }).ok).toBe(false);
    expect(verifySignature(vectorRequest(), { findKey, nowMs: NOW, nonces }).ok).toBe(true);
  });

  it('forgets nonces after their time to live, and stays within its bound', () => {
    const nonces = new NonceCache(1000, 3);
    expect(nonces.use('a', 0)).toBe(true);
    expect(nonces.use('a', 999)).toBe(false);
    expect(nonces.use('a', 2000)).toBe(true);
    for (const k of ['b', 'c', 'd', 'e']) nonces.use(k, 2000);
    expect(nonces.size).toBe(3);
  });
});
