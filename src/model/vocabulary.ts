/**
 * The words every stage shares: scan statuses, target types, error classes,
 * API actions. Defined once here; the SAS client, the poller, the metrics,
 * the simulator and the tests all import them from this file.
 */

/** Security Center API version of every action the exporter calls. */
export const API_VERSION = '2018-12-03';

/** The API actions, as they appear in the `action` label and in RAM policies (`yundun-sas:<action>`). */
export const ACTIONS = {
  describeScanTaskProgress: 'DescribeScanTaskProgress',
  getVirusScanLatestTaskStatistic: 'GetVirusScanLatestTaskStatistic',
  listVirusScanTask: 'ListVirusScanTask',
} as const;
export type Action = (typeof ACTIONS)[keyof typeof ACTIONS];

/** The normalised states of a scan task; `unknown` is any string the API does not document. */
export const TASK_STATUSES = ['init', 'processing', 'success', 'failed', 'unknown'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses the service never leaves: a task in one of them is re-checked rarely. */
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(['success', 'failed']);

/** `uuid` is one server, `groupId` a server group (the API's own words). */
export const TARGET_TYPES = ['uuid', 'groupId'] as const;
/** One of TARGET_TYPES, or whatever else the API sends (kept, exported as is). */
export type TargetType = string;

/**
 * How a call failed. `code` in `aliyun_sas_api_requests_total{code}` is the
 * API's error code or, for failures without one, the class name itself:
 * `response_too_large` is an answer larger than the exporter reads
 * (MAX_RESPONSE_BYTES), cut off as it passed the limit.
 */
export const ERROR_CLASSES = ['api', 'throttled', 'timeout', 'network', 'bad_response', 'response_too_large', 'credentials'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/**
 * Error codes the API is known to answer with (the operation's documented
 * errors and Alibaba Cloud's common codes). They are always exported as
 * they are; other codes are exported too, up to a bound (see
 * src/metrics/labels.ts), so a service that invents a new code per call
 * cannot grow the exporter's series without end.
 */
export const KNOWN_API_CODES = [
  'NoPermission',
  'ServerError',
  'InternalError',
  'ServiceUnavailable',
  'Throttling',
  'Throttling.User',
  'Throttling.Api',
  'Throttling.Resource',
  'ServiceUnavailable.Throttling',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'SignatureNonceUsed',
  'InvalidTimeStamp.Expired',
  'InvalidTimeStamp.Format',
  'InvalidAccessKeyId.NotFound',
  'InvalidAccessKeyId.Inactive',
  'InvalidSecurityToken.Expired',
  'InvalidSecurityToken.Malformed',
  'InvalidSecurityToken.MismatchWithAccessKey',
  'Forbidden.RAM',
  'InvalidAction.NotFound',
  'InvalidVersion',
  'MissingParameter',
  'MissingTaskId',
  'InvalidParameter',
  'TaskNotExist',
  'RequestEntityTooLarge',
] as const;

/** Why a TargetInfo was not used (the status still counts): the `reason` of aliyun_sas_target_info_errors_total. */
export const TARGET_INFO_PROBLEMS = ['missing', 'empty', 'malformed'] as const;
export type TargetInfoProblem = (typeof TARGET_INFO_PROBLEMS)[number];

/** The latest virus scan (GetVirusScanLatestTaskStatistic `Status`): 0 pending, 10 running, 100 complete, anything else unknown. */
export const ROOT_SCAN_STATUSES = ['pending', 'running', 'complete', 'unknown'] as const;
export type RootScanStatus = (typeof ROOT_SCAN_STATUSES)[number];

/** One machine of a scan (ListVirusScanTask `Status`): 1 running, 2 complete, 3 failed, 4 timed out, anything else unknown. */
export const MACHINE_SCAN_STATUSES = ['running', 'complete', 'failed', 'timeout', 'unknown'] as const;
export type MachineScanStatus = (typeof MACHINE_SCAN_STATUSES)[number];

/** The highest risk level of a scan's alerts: `none` when there is none, `unknown` for a value the API does not document. */
export const SCAN_RISK_LEVELS = ['high', 'medium', 'low', 'none', 'unknown'] as const;
export type ScanRiskLevel = (typeof SCAN_RISK_LEVELS)[number];
