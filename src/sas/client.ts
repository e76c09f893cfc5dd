/**
 * The API calls the exporter makes, through the real SDK: DescribeScanTaskProgress,
 * and the scan-results pair GetVirusScanLatestTaskStatistic / ListVirusScanTask.
 * Each returns a typed result; none throws.
 */
import OpenApi, { Config, OpenApiRequest, Params } from '@alicloud/openapi-client';
import OpenApiUtil from '@alicloud/openapi-util';
import * as $Util from '@alicloud/tea-util';
import Credential from '@alicloud/credentials';
import { classifySdkError } from './errors.js';
import { parseProgressBody } from './normalize.js';
import { boundedCall, MAX_RESPONSE_BYTES } from './transport.js';
import { ACTIONS, API_VERSION } from '../model/vocabulary.js';
import type { CallResult, ListVirusScanTaskRequest, SasResult, ScanTaskProgressSource, VirusScanSource } from './types.js';

export type { CallResult, ListVirusScanTaskRequest };
import {
  parseLatestStatisticBody,
  parseScanTaskListBody,
  type LatestScanStatistic,
  type ParseResult,
  type ScanTaskPage,
} from './virusScan.js';

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

/** The same call shape for another action of the same API version. */
export function paramsFor(action: string): InstanceType<typeof Params> {
  return action === ACTIONS.describeScanTaskProgress ? PARAMS : new Params({ ...PARAMS.toMap(), action });
}

/** The query as the SDK sends it: StatusList flattens to StatusList.1, StatusList.2, ... */
export function listVirusScanTaskQuery(r: ListVirusScanTaskRequest): Record<string, unknown> {
  const q: Record<string, unknown> = {
    CurrentPage: r.currentPage,
    PageSize: r.pageSize,
    RootTaskId: r.rootTaskId,
    RootTask: r.rootTask,
    TaskId: r.taskId,
    Status: r.status,
    StatusList: r.statusList && r.statusList.length > 0 ? [...r.statusList] : undefined,
    ScanType: r.scanType,
    StartTime: r.startTimeMs,
    EndTime: r.endTimeMs,
    MachineName: r.machineName,
    InternetIp: r.internetIp,
    IntranetIp: r.intranetIp,
    Lang: r.lang,
  };
  for (const k of Object.keys(q)) if (q[k] === undefined) delete q[k];
  return q;
}

export class SasClient implements ScanTaskProgressSource, VirusScanSource {
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
    return this.call(PARAMS, { TaskId: taskId }, parseProgressBody);
  }

  /** The account's latest virus scan; `value.latest` undefined when it never ran one. */
  async getVirusScanLatestTaskStatistic(): Promise<CallResult<LatestScanStatistic>> {
    return this.call(paramsFor(ACTIONS.getVirusScanLatestTaskStatistic), {}, parseLatestStatisticBody);
  }

  /** One page of virus scan subtasks (one row per machine). */
  async listVirusScanTask(request: ListVirusScanTaskRequest = {}): Promise<CallResult<ScanTaskPage>> {
    return this.call(paramsFor(ACTIONS.listVirusScanTask), listVirusScanTaskQuery(request), parseScanTaskListBody);
  }

  private async call<T>(params: InstanceType<typeof Params>, query: Record<string, unknown>, parse: (body: unknown) => ParseResult<T>): Promise<CallResult<T>> {
    const request = new OpenApiRequest({ query: queryOf(query) });
    const runtime = new $Util.RuntimeOptions({ readTimeout: this.sdkTimeoutMs, connectTimeout: this.sdkTimeoutMs, autoretry: false });
    let body: unknown;
    try {
      // The whole call, answer included, within request_timeout, and never more than maxBytes read.
      body = (await boundedCall(() => this.client.callApi(params, request, runtime), { timeoutMs: this.timeoutMs, maxBytes: this.maxBytes })).body;
    } catch (err) {
      return { ok: false, error: classifySdkError(err) };
    }
    const parsed = parse(body);
    if (!parsed.ok) return { ok: false, error: { class: 'bad_response', code: 'bad_response', retriable: true, message: parsed.detail } };
    return { ok: true, value: parsed.value };
  }
}
