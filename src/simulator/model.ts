/**
 * The validated, normalised form of a scenario: what the server runs on.
 * Field names are camelCase and durations are milliseconds, whatever the YAML
 * said, so a test can also build one by hand.
 */
import type { KeyPair } from './signature.js';
import type { AccountSpec } from './accounts.js';

export type { KeyPair } from './signature.js';

/** The API's own spelling: note the mixed case. */
export const SCAN_STATUSES = ['init', 'Processing', 'Success', 'Failed'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];

import { TARGET_TYPES } from '../model/vocabulary.js';

export { TARGET_TYPES };
/** The simulator serves only the documented target types. */
export type TargetType = (typeof TARGET_TYPES)[number];

export const TARGET_INFO_FORMATS = ['string', 'array'] as const;
/** `string`: TargetInfo is a string holding a JSON array (what the service sends); `array`: a plain JSON array. */
export type TargetInfoFormat = (typeof TARGET_INFO_FORMATS)[number];

export interface Target {
  readonly type: TargetType;
  readonly target: string;
  readonly name: string;
}

export interface TimelineStep {
  readonly status: ScanStatus;
  /** How long the step lasts; the last step holds forever whatever this says. */
  readonly forMs?: number;
}

export const FAULT_KINDS = [
  'no_permission',
  'server_error',
  'throttling',
  'latency',
  'hang',
  'reset',
  'html_502',
  'empty_500',
  'garbage_200',
  'non_object_200',
  'malformed_target_info',
  'missing_target_info',
  'undocumented_status',
  'api_error',
] as const;
/**
 * Faults that bend an answer of the scan-results actions only: `empty_page`
 * and `total_count_mismatch` (ListVirusScanTask), `missing_data`
 * (GetVirusScanLatestTaskStatistic).
 */
export const RESULT_FAULT_KINDS = ['empty_page', 'total_count_mismatch', 'missing_data'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type ResultFaultKind = (typeof RESULT_FAULT_KINDS)[number];

/**
 * When none of rate/times/fromMs/toMs is set the fault applies to every call.
 * They combine: the window filters first, `times` caps how often the fault
 * fires, `rate` is the chance it fires on a call that passed both.
 */
export interface FaultSpec {
  readonly kind: FaultKind;
  /** 0..1, drawn from a PRNG seeded from the scenario seed, so runs repeat. */
  readonly rate?: number;
  /** Fires on at most this many calls (the first ones that match). */
  readonly times?: number;
  /** Window start, ms since the simulator started (inclusive). */
  readonly fromMs?: number;
  /** Window end, ms since the simulator started (exclusive). */
  readonly toMs?: number;
  /** `latency`: the delay added before the normal answer. */
  readonly latencyMs?: number;
  /** `undocumented_status`: the status string to answer with. */
  readonly status?: string;
  /** `api_error`: any error answer, for codes the simulator has no kind for. */
  readonly httpStatus?: number;
  readonly code?: string;
  readonly message?: string;
  /**
   * Only calls of these actions (account-level faults). Unset: every Security
   * Center action the kind can bend; AssumeRole only when named here.
   */
  readonly actions?: readonly string[];
  /** `total_count_mismatch`: added to the true TotalCount (default 1; negative allowed). */
  readonly delta?: number;
}

/** An account-level fault: any FaultSpec, or one of the kinds that bend the scan-results answers. */
export type AccountFaultSpec = Omit<FaultSpec, 'kind'> & { readonly kind: FaultKind | ResultFaultKind };

export interface ScenarioTask {
  /** Canonical decimal string; never a number. */
  readonly id: string;
  /** Documentation only; the API has no task names. */
  readonly name?: string;
  readonly targets: readonly Target[];
  readonly timeline: readonly TimelineStep[];
  readonly faults: readonly FaultSpec[];
  /** Overrides the scenario's format for this task. */
  readonly targetInfoFormat?: TargetInfoFormat;
}

/**
 * The top-level fields below (credentials, targetInfoFormat, qpsLimit,
 * faults, tasks) are those of the first account: in the single-account form,
 * the only one. `accounts` is always set by the parser; a scenario built by
 * hand may leave it out, and then is that one account.
 */
export interface Scenario {
  /** Where it came from, for messages. */
  readonly source: string;
  readonly credentials: readonly KeyPair[];
  readonly targetInfoFormat: TargetInfoFormat;
  /** Global ceiling on calls per second; above it calls get Throttling.User. */
  readonly qpsLimit?: number;
  /** Seeds every fault's PRNG. */
  readonly seed: number;
  /** Apply to every call of the account, after a task's own faults. */
  readonly faults: readonly AccountFaultSpec[];
  readonly tasks: readonly ScenarioTask[];
  readonly accounts?: readonly AccountSpec[];
}

export const DEMO_CREDENTIALS: { readonly accessKeyId: string; readonly accessKeySecret: string } = Object.freeze({
  accessKeyId: 'LTAI-demo-access-key-id',
  accessKeySecret: 'demo-access-key-secret',
});

export const DEFAULT_SEED = 20181203;
export const DEFAULT_LATENCY_MS = 200;
export const DEFAULT_UNDOCUMENTED_STATUS = 'Paused';
