/**
 * What one call of the Security Center API returns, as the SAS client hands
 * it to the poller: a typed result or a typed error. Nothing here depends on
 * the SDK or on prom-client.
 */
import type { ScanTarget } from '../model/snapshot.js';
import type { ErrorClass, TaskStatus } from '../model/vocabulary.js';

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
