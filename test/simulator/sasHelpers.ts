/**
 * Helpers for the multi-account, STS and scan-results tests: the exporter's
 * own SasClient with a given key pair, and a raw RPC-style (signature v1)
 * caller signed with the SDK's own RPC signer.
 */
import { stringify } from 'node:querystring';
import { Config as CredentialConfig } from '@alicloud/credentials';
import { CredentialClient, SasClient } from '../../src/sas/client.js';
import type { SimulatorHandle } from '../../src/simulator/index.js';
import { acsDate, sendTo, Util, type RawResponse } from './helpers.js';

export interface Keys {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly securityToken?: string;
}

export function staticCredential(k: Keys): InstanceType<typeof CredentialClient> {
  return new CredentialClient(
    new CredentialConfig(
      k.securityToken
        ? { type: 'sts', accessKeyId: k.accessKeyId, accessKeySecret: k.accessKeySecret, securityToken: k.securityToken }
        : { type: 'access_key', accessKeyId: k.accessKeyId, accessKeySecret: k.accessKeySecret },
    ),
  );
}

/** The exporter's client, over plain HTTP to the simulator. */
export function sasClient(h: SimulatorHandle, credential: InstanceType<typeof CredentialClient>, timeoutMs = 3000): SasClient {
  return new SasClient({ endpoint: h.endpoint, protocol: 'http', region: 'cn-shanghai', requestTimeoutMs: timeoutMs, credential });
}

let nonceSeq = 0;

export interface RpcCall {
  /** Parameters signed and sent in the query (Action, Version, ... are filled in unless given). */
  query?: Record<string, string>;
  /** Parameters signed and sent as a form body. */
  form?: Record<string, string>;
  keys: Keys;
  /** Change the request after it is signed. */
  afterSigning?: (r: { query: Record<string, string>; form: Record<string, string> }) => void;
  https?: boolean;
  method?: string;
}

/** One AssumeRole-shaped RPC call (signature v1, HMAC-SHA1), signed with @alicloud/openapi-util's own signer. */
export function rpcCall(h: SimulatorHandle, c: RpcCall): Promise<RawResponse> {
  const method = c.method ?? 'POST';
  const query: Record<string, string> = {
    Version: '2015-04-01',
    Action: 'AssumeRole',
    Format: 'JSON',
    Timestamp: acsDate(),
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: `rpc-${process.pid}-${Date.now()}-${++nonceSeq}`,
    AccessKeyId: c.keys.accessKeyId,
    ...(c.keys.securityToken ? { SecurityToken: c.keys.securityToken } : {}),
    ...c.query,
  };
  const form = { ...c.form };
  query.Signature = Util.getRPCSignature({ ...query, ...form }, method, c.keys.accessKeySecret);
  c.afterSigning?.({ query, form });
  const body = Object.keys(form).length ? stringify(form) : '';
  const target = c.https ? { ...h.https!, tls: true } : { host: h.host, port: h.port };
  const headers: Record<string, string | number> = body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {};
  return sendTo(target, method, `/?${stringify(query)}`, headers, body);
}
