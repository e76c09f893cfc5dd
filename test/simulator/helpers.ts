/**
 * Test helpers: the real SDK set up exactly as the exporter uses it, and a
 * raw HTTP caller that signs with the SDK's own signing code (so the
 * simulator is checked against an implementation that is not its own).
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { stringify } from 'node:querystring';
import { fileURLToPath } from 'node:url';
import OpenApi, { Config, OpenApiRequest, Params } from '@alicloud/openapi-client';
import OpenApiUtil from '@alicloud/openapi-util';
import * as $Util from '@alicloud/tea-util';
import { interop, PARAMS } from '../../src/sas/client.js';
import { DEMO_CREDENTIALS, startSimulator, type SimulatorHandle, type SimulatorOptions } from '../../src/simulator/index.js';

export const OpenApiClient = interop(OpenApi);
export const Util = interop(OpenApiUtil);

export const FIXTURES = fileURLToPath(new URL('../fixtures/scenarios/', import.meta.url));
export const fixture = (name: string): string => `${FIXTURES}${name}`;

export { PARAMS };

export interface ClientOptions {
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  timeoutMs?: number;
  version?: string;
  action?: string;
}

export type SdkClient = InstanceType<typeof OpenApiClient>;

export function sdkClient(handle: SimulatorHandle, o: ClientOptions = {}): SdkClient {
  const timeout = o.timeoutMs ?? 1000;
  return new OpenApiClient(
    new Config({
      accessKeyId: o.accessKeyId ?? DEMO_CREDENTIALS.accessKeyId,
      accessKeySecret: o.accessKeySecret ?? DEMO_CREDENTIALS.accessKeySecret,
      ...(o.securityToken ? { securityToken: o.securityToken } : {}),
      endpoint: handle.endpoint,
      protocol: 'http',
      readTimeout: timeout,
      connectTimeout: timeout,
    }),
  );
}

export interface CallResult {
  ok: boolean;
  statusCode?: number;
  body?: Record<string, unknown>;
  error?: Error & { code?: string; statusCode?: number; data?: Record<string, unknown>; syscall?: string };
}

/** One DescribeScanTaskProgress call the way the exporter makes it; never throws. */
export async function callApi(
  client: SdkClient,
  taskId: string,
  o: { timeoutMs?: number; extraQuery?: Record<string, string>; version?: string; action?: string } = {},
): Promise<CallResult> {
  const timeout = o.timeoutMs ?? 1000;
  const params =
    o.version || o.action
      ? new Params({ ...PARAMS.toMap(), version: o.version ?? PARAMS.version, action: o.action ?? PARAMS.action })
      : PARAMS;
  const req = new OpenApiRequest({ query: Util.query({ TaskId: taskId, ...o.extraQuery }) });
  try {
    const res = await client.callApi(params, req, new $Util.RuntimeOptions({ readTimeout: timeout, connectTimeout: timeout, autoretry: false }));
    return { ok: true, statusCode: res.statusCode as number, body: res.body as Record<string, unknown> };
  } catch (e) {
    return { ok: false, error: e as CallResult['error'] };
  }
}

/** Starts a simulator for one test and always closes it. */
export async function withSimulator<T>(opts: SimulatorOptions, fn: (h: SimulatorHandle) => Promise<T>): Promise<T> {
  const h = await startSimulator(opts);
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json?: Record<string, unknown>;
}

export interface RawCall {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  /** Sent as an application/x-www-form-urlencoded body. */
  form?: Record<string, string>;
  /** Extra or replacement headers, applied before signing. */
  headers?: Record<string, string>;
  accessKeyId?: string;
  accessKeySecret?: string;
  date?: string;
  nonce?: string;
  /** Change the request after it is signed (to tamper with it). */
  afterSigning?: (r: { headers: Record<string, string>; rawQuery: string; body: string }) => void;
  /** Do not add an Authorization header. */
  unsigned?: boolean;
}

export function acsDate(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

let nonceSeq = 0;

/** Builds, signs (with the SDK's getAuthorization) and sends one request over node:http. */
export async function rawCall(handle: SimulatorHandle, c: RawCall = {}): Promise<RawResponse> {
  const method = c.method ?? 'POST';
  const body = c.form ? stringify(c.form) : '';
  const headers: Record<string, string> = {
    host: handle.endpoint,
    'x-acs-action': 'DescribeScanTaskProgress',
    'x-acs-version': '2018-12-03',
    'x-acs-date': c.date ?? acsDate(),
    'x-acs-signature-nonce': c.nonce ?? `nonce-${process.pid}-${Date.now()}-${++nonceSeq}`,
    'x-acs-content-sha256': createHash('sha256').update(body).digest('hex'),
    accept: 'application/json',
  };
  if (c.form) headers['content-type'] = 'application/x-www-form-urlencoded';
  Object.assign(headers, c.headers);
  const query = c.query ?? {};
  if (!c.unsigned) {
    headers.Authorization = Util.getAuthorization(
      { pathname: c.path ?? '/', method, query, headers } as never,
      'ACS3-HMAC-SHA256',
      headers['x-acs-content-sha256']!,
      c.accessKeyId ?? DEMO_CREDENTIALS.accessKeyId,
      c.accessKeySecret ?? DEMO_CREDENTIALS.accessKeySecret,
    );
  }
  const r = { headers, rawQuery: stringify(query), body };
  c.afterSigning?.(r);
  return send(handle, method, (c.path ?? '/') + (r.rawQuery ? `?${r.rawQuery}` : ''), r.headers, r.body);
}

export function send(handle: SimulatorHandle, method: string, pathAndQuery: string, headers: Record<string, string>, body = ''): Promise<RawResponse> {
  return sendTo({ host: handle.host, port: handle.port }, method, pathAndQuery, headers, body);
}

/** One request on a fresh connection; the answer's body also parsed as JSON when it is JSON. */
export function sendTo(target: { host: string; port: number; tls?: boolean }, method: string, pathAndQuery: string, headers: Record<string, string | number>, body = ''): Promise<RawResponse> {
  const request = target.tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({ host: target.host, port: target.port, method, path: pathAndQuery, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ...(json ? { json } : {}) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function getJson(url: string, method = 'GET'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void; set: (elapsedMs: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (elapsedMs) => (t = start + elapsedMs) };
}
