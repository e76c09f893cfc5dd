/**
 * What one call of the Security Center API returns, as the SAS client hands
 * it to the poller: a typed result or a typed error. Nothing here depends on
 * the SDK or on prom-client.
 */
import type { ScanTarget } from '../model/snapshot.js';
import type { ErrorClass, TaskStatus } from '../model/vocabulary.js';
import type { LatestScanStatistic, ScanTaskPage } from './virusScan.js';

/** A successful DescribeScanTaskProgress answer, normalised. */
export interface ScanTaskProgress {
  readonly requestId: string;
  /** The string the API returned, kept for logs. */
  readonly rawStatus: string;
  readonly status: TaskStatus;
  readonly targets: readonly ScanTarget[];
  /** Set when TargetInfo was missing, empty or malformed: the status still counts, no targets do. */
  readonly targetInfoError?: string;
}

/**
 * How a call failed. `code` is what `aliyun_sas_api_requests_total{code}` shows:
 * the API's error code (NoPermission, Throttling.User, ...) or, for failures
 * with no API code, the class name itself (timeout, network, bad_response, credentials).
 */
export interface SasError {
  readonly class: ErrorClass;
  readonly code: string;
  readonly httpStatus?: number;
  /** Worth another attempt: throttling, 5xx, timeouts, network errors, unparseable bodies. */
  readonly retriable: boolean;
  /** A one-line description safe to log: no headers, no secrets. */
  readonly message: string;
  readonly requestId?: string;
  /** A server-provided hint, when there is one. */
  readonly retryAfterMs?: number;
}

export type SasResult =
  | { readonly ok: true; readonly value: ScanTaskProgress }
  | { readonly ok: false; readonly error: SasError };

/** One call of DescribeScanTaskProgress: the only thing the poller needs from the API. */
export interface ScanTaskProgressSource {
  describeScanTaskProgress(taskId: string): Promise<SasResult>;
}

/** A typed result of one call, or how it failed. */
export type CallResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SasError };

/** The two scan-results calls, for accounts with latest_scan enabled. */
export interface VirusScanSource {
  getVirusScanLatestTaskStatistic(): Promise<CallResult<LatestScanStatistic>>;
  listVirusScanTask(request: ListVirusScanTaskRequest): Promise<CallResult<ScanTaskPage>>;
}

/** ListVirusScanTask's parameters, all optional (sas-api.md "Scan results"). */
export interface ListVirusScanTaskRequest {
  /** 1-based; the service's default is 1. */
  readonly currentPage?: number;
  /** The service's default is 20; the documented maximum 100. */
  readonly pageSize?: number;
  /** The TaskId from GetVirusScanLatestTaskStatistic. */
  readonly rootTaskId?: string;
  readonly rootTask?: boolean;
  /** A subtask's TaskId. */
  readonly taskId?: string;
  /** 1 running, 2 complete, 3 failed, 4 timed out. */
  readonly status?: number;
  readonly statusList?: readonly number[];
  readonly scanType?: 'system' | 'user';
  readonly startTimeMs?: number;
  readonly endTimeMs?: number;
  readonly machineName?: string;
  readonly internetIp?: string;
  readonly intranetIp?: string;
  readonly lang?: 'zh' | 'en';
}
