/**
 * The one API call the exporter makes, through the real SDK. Returns a typed
 * result; never throws.
 */
import OpenApi, { Config, OpenApiRequest, Params } from '@alicloud/openapi-client';
import OpenApiUtil from '@alicloud/openapi-util';
import * as $Util from '@alicloud/tea-util';
import Credential from '@alicloud/credentials';
import { classifySdkError } from './errors.js';
import { parseProgressBody } from './normalize.js';
import { boundedCall, MAX_RESPONSE_BYTES } from './transport.js';
import { ACTIONS, API_VERSION } from '../model/vocabulary.js';
import type { SasResult, ScanTaskProgressSource } from './types.js';

// These packages are CommonJS: under Node's ESM loader the default import is
// the module object (class on `.default`); under bundlers it is the class.
type Ctor<T> = T extends { default: infer C } ? C : T;
export function interop<T>(m: T): Ctor<T> {
  return ((m as { default?: unknown }).default ?? m) as Ctor<T>;
}
const OpenApiClient = interop(OpenApi);
const queryOf = interop(OpenApiUtil).query;
export const CredentialClient = interop(Credential);

/** A credential source as @alicloud/credentials shapes it. */
export type CredentialSource = InstanceType<typeof CredentialClient>;

export interface SasClientOptions {
  /** host[:port] */
  endpoint: string;
  protocol: 'https' | 'http';
  region?: string;
  requestTimeoutMs: number;
  credential: CredentialSource;
  /** Largest answer read; default MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
}

/**
 * The SDK's own timers start later than the call (at the socket's connect)
 * and only cut silence; they stay as a backstop, a little past the call's
 * deadline, so that the deadline (and its classification) is always ours.
 */
const SDK_TIMER_SLACK_MS = 1000;

/** The call as the exporter makes it (RPC style, TaskId in the query). */
export const PARAMS = new Params({
  action: ACTIONS.describeScanTaskProgress,
  version: API_VERSION,
  protocol: 'HTTPS',
  pathname: '/',
  method: 'POST',
  authType: 'AK',
  style: 'RPC',
  reqBodyType: 'formData',
  bodyType: 'json',
});

export class SasClient implements ScanTaskProgressSource {
  private readonly client: InstanceType<typeof OpenApiClient>;
  private readonly timeoutMs: number;
  private readonly sdkTimeoutMs: number;
  private readonly maxBytes: number;

  constructor(opts: SasClientOptions) {
    this.timeoutMs = opts.requestTimeoutMs;
    this.sdkTimeoutMs = opts.requestTimeoutMs + SDK_TIMER_SLACK_MS;
    this.maxBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    this.client = new OpenApiClient(
      new Config({
        credential: opts.credential,
        endpoint: opts.endpoint,
        protocol: opts.protocol,
        regionId: opts.region,
        // Both are set: the SDK applies the connect timeout as the socket idle timeout too.
        readTimeout: this.sdkTimeoutMs,
        connectTimeout: this.sdkTimeoutMs,
        userAgent: 'aliyun-sas-exporter',
      }),
    );
  }

  async describeScanTaskProgress(taskId: string): Promise<SasResult> {
    // TaskId goes out as the decimal string it is: never through a JS number.
    const request = new OpenApiRequest({ query: queryOf({ TaskId: taskId }) });
    const runtime = new $Util.RuntimeOptions({ readTimeout: this.sdkTimeoutMs, connectTimeout: this.sdkTimeoutMs, autoretry: false });
    let body: unknown;
    try {
      // The whole call, answer included, within request_timeout, and never more than maxBytes read.
      body = (await boundedCall(() => this.client.callApi(PARAMS, request, runtime), { timeoutMs: this.timeoutMs, maxBytes: this.maxBytes })).body;
    } catch (err) {
      return { ok: false, error: classifySdkError(err) };
    }
    const parsed = parseProgressBody(body);
    if (!parsed.ok) return { ok: false, error: { class: 'bad_response', code: 'bad_response', retriable: true, message: parsed.detail } };
    return { ok: true, value: parsed.value };
  }
}
