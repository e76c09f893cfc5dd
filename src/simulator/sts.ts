/**
 * STS AssumeRole (version 2015-04-01) as @alicloud/credentials' RAM role ARN
 * provider calls it: RPC style, signature version 1.0 (HMAC-SHA1).
 *
 * What the provider (2.4.x, providers/ram_role_arn.js) sends, and so what is
 * verified here:
 * - POST https://<sts endpoint>/ ; in the query: Version, Action, Format,
 *   Timestamp (`YYYY-MM-DDThh:mm:ssZ`), SignatureMethod HMAC-SHA1,
 *   SignatureVersion 1.0, SignatureNonce, AccessKeyId, SecurityToken (when
 *   the base credential is itself temporary) and Signature; in an
 *   application/x-www-form-urlencoded body: RoleArn, RoleSessionName,
 *   DurationSeconds, and Policy and ExternalId when set. Both are encoded
 *   with encodeURIComponent.
 * - The signature covers the query and body parameters together (Signature
 *   excluded): sort by key, `percent(key)=percent(value)` joined with `&`,
 *   string to sign `POST&%2F&` + percent(that), key `secret&`, HMAC-SHA1 in
 *   base64. percent() is encodeURIComponent with !'()* escaped too.
 * - On SignatureDoesNotMatch the provider reads the server's string to sign
 *   from the message after "server string to sign is:" and, when it equals
 *   its own, reports an invalid secret: the error message here carries it.
 *
 * Whatever signature style a call uses, the server dispatches on its action:
 * AssumeRole signed with ACS3 (as newer STS SDKs do) is served too.
 */
import { createHmac } from 'node:crypto';
import { ERRORS, type ApiError } from './errors.js';
import type { AccountRuntime, IssuedCredential, KeyOwner, KeyRing, RoleSpec } from './accounts.js';
import { acsEncode, constantTimeEqual, MAX_DATE_SKEW_MS, parseAcsDate, type NonceCache, type VerifyResult } from './signature.js';

export const STS_ACTION = 'AssumeRole';
export const STS_VERSION = '2015-04-01';
export const STS_HOST_ID = 'sts.aliyuncs.com';

export type ParamList = ReadonlyArray<readonly [string, string]>;

export const STS_ERRORS = {
  roleArnInvalid: (): ApiError => ({ status: 400, code: 'InvalidParameter.RoleArn', message: 'The parameter RoleArn is wrongly formed.' }),
  roleNotFound: (): ApiError => ({ status: 404, code: 'EntityNotExist.Role', message: 'The specified role does not exist.' }),
  sessionNameInvalid: (): ApiError => ({
    status: 400,
    code: 'InvalidParameter.RoleSessionName',
    message: 'The parameter RoleSessionName is wrongly formed: 2 to 64 characters of letters, digits and . @ - _',
  }),
  durationInvalid: (maxS: number): ApiError => ({
    status: 400,
    code: 'InvalidParameter.DurationSeconds',
    message: `DurationSeconds must be an integer from 900 to ${maxS}.`,
  }),
  policyInvalid: (): ApiError => ({ status: 400, code: 'InvalidParameter.PolicyGrammar', message: 'The parameter Policy is not a JSON document.' }),
  notTrusted: (): ApiError => ({
    status: 403,
    code: 'NoPermission',
    message: 'You are not authorized to assume this role: the role does not trust the caller.',
  }),
  externalIdMismatch: (): ApiError => ({
    status: 403,
    code: 'NoPermission',
    message: 'You are not authorized to assume this role: the ExternalId does not match.',
  }),
  signatureMethod: (): ApiError => ERRORS.incompleteSignature('SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0.'),
} as const;

/** The SAS answer to a call signed with temporary credentials past their expiry. */
export const TOKEN_EXPIRED: ApiError = { status: 400, code: 'InvalidSecurityToken.Expired', message: 'Specified SecurityToken is expired.' };

/** A request is RPC style (signature v1) when it carries no ACS3 header and names its Action or Signature as a parameter. */
export function isRpcStyle(hasAcsHeaders: boolean, params: ParamList): boolean {
  if (hasAcsHeaders) return false;
  return params.some(([k]) => k === 'Action' || k === 'Signature');
}

export function param(params: ParamList, name: string): string | undefined {
  for (const [k, v] of params) if (k === name) return v;
  return undefined;
}

/** `POST&%2F&` + the percent-encoded canonical parameter string; Signature itself left out. */
export function rpcStringToSign(method: string, params: ParamList): string {
  const map = new Map<string, string>();
  // Later occurrences win, as in the provider, which merges the query and then the body into one object.
  for (const [k, v] of params) if (k !== 'Signature') map.set(k, v);
  const keys = [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = keys.map((k) => `${acsEncode(k)}=${acsEncode(map.get(k)!)}`).join('&');
  return `${method.toUpperCase()}&${acsEncode('/')}&${acsEncode(canonical)}`;
}

export function rpcSignature(stringToSign: string, secret: string): string {
  return createHmac('sha1', `${secret}&`).update(stringToSign, 'utf8').digest('base64');
}

export interface RpcVerifyOptions {
  readonly findKey: (accessKeyId: string) => { accessKeySecret: string; securityToken?: string } | undefined;
  readonly nowMs: number;
  readonly maxSkewMs?: number;
  readonly nonces?: NonceCache;
}

/** Signature v1 verification; the same checks, in the same order, as the ACS3 verifier. */
export function verifyRpcSignature(method: string, params: ParamList, opts: RpcVerifyOptions): VerifyResult {
  const signature = param(params, 'Signature');
  if (signature === undefined || signature === '') return { ok: false, error: ERRORS.missingParameter('Signature') };
  const accessKeyId = param(params, 'AccessKeyId');
  if (accessKeyId === undefined || accessKeyId === '') return { ok: false, error: ERRORS.missingParameter('AccessKeyId') };
  if (param(params, 'SignatureMethod') !== 'HMAC-SHA1' || param(params, 'SignatureVersion') !== '1.0') {
    return { ok: false, error: STS_ERRORS.signatureMethod(), accessKeyId };
  }
  for (const name of ['Timestamp', 'SignatureNonce']) {
    const v = param(params, name);
    if (v === undefined || v === '') return { ok: false, error: ERRORS.missingParameter(name), accessKeyId };
  }
  const key = opts.findKey(accessKeyId);
  if (!key) return { ok: false, error: ERRORS.accessKeyNotFound(), accessKeyId };
  const fail = (error: ApiError): VerifyResult => ({ ok: false, error, accessKeyId });

  const date = parseAcsDate(param(params, 'Timestamp')!);
  if (date === undefined) return fail(ERRORS.timestampFormat());
  if (Math.abs(opts.nowMs - date) > (opts.maxSkewMs ?? MAX_DATE_SKEW_MS)) return fail(ERRORS.timestampExpired());

  const stringToSign = rpcStringToSign(method, params);
  if (!constantTimeEqual(signature, rpcSignature(stringToSign, key.accessKeySecret))) {
    return fail(ERRORS.signatureMismatch(stringToSign));
  }

  const token = param(params, 'SecurityToken');
  if (key.securityToken !== undefined || token !== undefined) {
    if (key.securityToken === undefined || token === undefined || !constantTimeEqual(token, key.securityToken)) {
      return fail(ERRORS.securityTokenMismatch());
    }
  }
  const nonce = param(params, 'SignatureNonce')!;
  if (opts.nonces && !opts.nonces.use(`${accessKeyId}\n${nonce}`, opts.nowMs)) return fail(ERRORS.nonceUsed());
  return { ok: true, accessKeyId, nonce };
}

export const ROLE_ARN_PATTERN = /^acs:ram::\d+:role\/[A-Za-z0-9._@-]{1,64}$/;
const SESSION_NAME = /^[A-Za-z0-9.@_-]{2,64}$/;
export const MIN_DURATION_S = 900;
const DEFAULT_DURATION_S = 3600;

export interface RoleEntry {
  readonly role: RoleSpec;
  readonly account: AccountRuntime;
  /** A stable numeric role ID for AssumedRoleUser. */
  readonly roleId: string;
}

export type AssumeRoleResult = { readonly ok: true; readonly body: string; readonly credential: IssuedCredential } | { readonly ok: false; readonly error: ApiError };

/**
 * The AssumeRole call once the caller is authenticated. `caller` is the key
 * that signed it; the identity a role trusts is the access key ID of a
 * static pair or, for temporary credentials, the ARN of the role they came from.
 */
export function assumeRole(o: {
  params: ParamList;
  caller: KeyOwner;
  roles: ReadonlyMap<string, RoleEntry>;
  ring: KeyRing;
  nowMs: number;
  requestId: string;
}): AssumeRoleResult {
  const p = (name: string): string | undefined => {
    const v = param(o.params, name);
    return v === undefined || v === '' ? undefined : v;
  };
  const arn = p('RoleArn');
  if (arn === undefined) return { ok: false, error: ERRORS.missingParameter('RoleArn') };
  const sessionName = p('RoleSessionName');
  if (sessionName === undefined) return { ok: false, error: ERRORS.missingParameter('RoleSessionName') };
  if (!ROLE_ARN_PATTERN.test(arn)) return { ok: false, error: STS_ERRORS.roleArnInvalid() };
  if (!SESSION_NAME.test(sessionName)) return { ok: false, error: STS_ERRORS.sessionNameInvalid() };
  const policy = p('Policy');
  if (policy !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(policy);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, error: STS_ERRORS.policyInvalid() };
  }
  const entry = o.roles.get(arn);
  if (!entry) return { ok: false, error: STS_ERRORS.roleNotFound() };
  const { role } = entry;
  const durationText = p('DurationSeconds');
  let durationS = DEFAULT_DURATION_S;
  if (durationText !== undefined) {
    durationS = /^\d{1,9}$/.test(durationText) ? Number(durationText) : NaN;
    if (!(durationS >= MIN_DURATION_S && durationS <= role.maxSessionDurationS)) {
      return { ok: false, error: STS_ERRORS.durationInvalid(role.maxSessionDurationS) };
    }
  }
  const identity = o.caller.issued ? o.caller.issued.roleArn : o.caller.pair.accessKeyId;
  const trusted = role.assumableBy ? role.assumableBy.includes(identity) : o.caller.issued === undefined && o.ring.isStatic(identity);
  if (!trusted) return { ok: false, error: STS_ERRORS.notTrusted() };
  if (role.externalId !== undefined) {
    const given = param(o.params, 'ExternalId');
    if (given === undefined || !constantTimeEqual(given, role.externalId)) return { ok: false, error: STS_ERRORS.externalIdMismatch() };
  }
  const lifetimeMs = role.lifetimeMs ?? durationS * 1000;
  const credential = o.ring.issue({
    roleArn: arn,
    roleSessionName: sessionName,
    account: entry.account.name,
    nowMs: o.nowMs,
    lifetimeMs,
    reportedLifetimeMs: role.reportedLifetimeMs ?? lifetimeMs,
  });
  const body = JSON.stringify({
    RequestId: o.requestId,
    AssumedRoleUser: { AssumedRoleId: `${entry.roleId}:${sessionName}`, Arn: `${arn}/${sessionName}` },
    Credentials: {
      SecurityToken: credential.securityToken,
      AccessKeyId: credential.accessKeyId,
      AccessKeySecret: credential.accessKeySecret,
      Expiration: credential.expiration,
    },
  });
  return { ok: true, body, credential };
}
