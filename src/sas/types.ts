/**
 * The vocabulary shared by the SAS client, the poller and the metrics code.
 * Nothing here depends on the SDK or on prom-client.
 */

/** The normalised states of a scan task; `unknown` is any string the API documents not. */
export const TASK_STATUSES = ['init', 'processing', 'success', 'failed', 'unknown'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses the service never leaves: a task in one of them is re-checked rarely. */
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(['success', 'failed']);

/** `uuid` is one server, `groupId` a server group (the API's own words). */
export const TARGET_TYPES = ['uuid', 'groupId'] as const;
export type TargetType = string;

export interface ScanTarget {
  readonly type: TargetType;
  /** The server UUID or the group ID. */
  readonly target: string;
  /** The server or group name. */
  readonly name: string;
}

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
export type ErrorClass = 'api' | 'throttled' | 'timeout' | 'network' | 'bad_response' | 'credentials';

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

/** The API action this exporter calls, as it appears in the `action` label. */
export const ACTION = 'DescribeScanTaskProgress';
export const API_VERSION = '2018-12-03';
