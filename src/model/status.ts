/**
 * What the landing page shows: a small, typed summary of the exporter's
 * state, built by the pipeline from the snapshot served and the
 * self-metrics' own bookkeeping, rendered by http/landing.ts.
 *
 * Nothing here may be secret, nor more than an operator needs at a glance:
 * no credential of any kind (not even the names of the variables or the
 * profile that hold one, nor a role ARN), and no per-task series. A task is
 * named only when it needs attention, and at most ATTENTION_MAX of them per
 * account. Every string that comes from the configuration or the API is
 * escaped by the renderer.
 */
import type { AccountSnapshot } from './snapshot.js';
import { TASK_STATUSES, type RootScanStatus, type ScanRiskLevel, type TaskStatus } from './vocabulary.js';

/** Tasks named under "needs attention", per account at most. */
export const ATTENTION_MAX = 5;
/** API error codes shown per account at most (the most frequent). */
export const ERROR_CODES_MAX = 3;

/** How the tasks of one account stand, in the snapshot served. */
export interface TaskCounts {
  /** Tasks configured and served. */
  readonly total: number;
  /** Answered at least once, successfully or not. */
  readonly answered: number;
  /** Tasks by their current status; a task never polled successfully has none. */
  readonly byStatus: Readonly<Record<TaskStatus, number>>;
  /** Tasks without a status yet (not polled yet, or every poll failed so far). */
  readonly noStatus: number;
  /** Tasks whose last poll failed. */
  readonly pollsFailing: number;
}

/** A task that needs an operator: it failed, its status is unknown, or its last poll failed. */
export interface TaskAttention {
  readonly id: string;
  /** Display name from the configuration; empty if none. */
  readonly name: string;
  readonly status?: TaskStatus;
  /** The API error code (or error class) of the last poll, while it fails. */
  readonly pollError?: string;
}

/** The latest virus scan of an account, in a few figures. */
export interface LatestScanSummary {
  /** Absent until the first poll ended. */
  readonly lastPollOk?: boolean;
  /** The API error code (or error class), while the last poll fails. */
  readonly pollError?: string;
  /** Absent: no scan known. */
  readonly status?: RootScanStatus;
  readonly progressPercent?: number;
  readonly scanTimeMs?: number;
  readonly machinesScanned?: number;
  readonly machinesComplete?: number;
  readonly machinesUncomplete?: number;
  readonly machinesSuspicious?: number;
  readonly riskLevel?: ScanRiskLevel;
}

/** What one snapshot says of one account: computed once per snapshot, not per page view. */
export interface AccountTasksSummary {
  readonly tasks: TaskCounts;
  /** At most ATTENTION_MAX, in configuration order. */
  readonly attention: readonly TaskAttention[];
  /** How many more need attention beyond `attention`. */
  readonly attentionMore: number;
  /** Present when latest_scan is enabled for the account. */
  readonly latestScan?: LatestScanSummary;
}

/** What the account's polling did, as the self-metrics saw it. */
export interface AccountActivity {
  /** The last finished cycle of the schedule; absent until one finished. */
  readonly lastCycle?: {
    /** As in aliyun_sas_poll_cycles_total{result}. */
    readonly result: 'success' | 'partial' | 'failure';
    /** Unix ms. */
    readonly finishedAt: number;
    readonly durationMs: number;
    readonly apiCalls: number;
  };
  /** Ticks skipped because a cycle still ran. */
  readonly skippedTicks: number;
  /** API calls since the account was configured, errors included. */
  readonly apiCalls: number;
  /** Of which answered with an error (any code but OK). */
  readonly apiErrors: number;
  /** The most frequent error codes, at most ERROR_CODES_MAX, most frequent first. */
  readonly errorCodes: readonly { readonly code: string; readonly count: number }[];
  /** The client-side rate allowed now, when known (lowered while the API throttles). */
  readonly rateLimitQps?: number;
}

export interface AccountStatus extends AccountTasksSummary, AccountActivity {
  /** The `account` label; '' in the single-account form. */
  readonly name: string;
  readonly region?: string;
  /** `host[:port]` of the API. */
  readonly endpoint: string;
  /** Whether latest_scan is enabled for the account. */
  readonly latestScanEnabled: boolean;
}

/** Everything the landing page shows. */
export interface ExporterStatus {
  readonly version: string;
  readonly revision: string;
  readonly nodeVersion: string;
  /** Unix ms. */
  readonly startedAt: number;
  /** Unix ms at which this status was taken. */
  readonly now: number;
  /** Polling the built-in simulator (`simulator:` in the configuration). */
  readonly demo: boolean;
  /** The `accounts:` form. */
  readonly multiAccount: boolean;
  readonly schedule: string;
  readonly readiness: {
    readonly ready: boolean;
    readonly answered: number;
    readonly total: number;
    readonly timeoutMs: number;
  };
  readonly config: {
    readonly lastReloadOk: boolean;
    /** Unix ms of the last successful load. */
    readonly lastSuccessAt?: number;
  };
  /** In configuration order; one in the single-account form. */
  readonly accounts: readonly AccountStatus[];
}

/** The summary of an account no snapshot holds yet (just configured). */
export function emptySummary(tasks: number, latestScan: boolean): AccountTasksSummary {
  const byStatus = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  return { tasks: { total: tasks, answered: 0, byStatus, noStatus: tasks, pollsFailing: 0 }, attention: [], attentionMore: 0, ...(latestScan ? { latestScan: {} } : {}) };
}

/** Counts the tasks of one account of a snapshot and picks those that need attention. O(tasks), once per snapshot. */
export function summariseAccount(a: AccountSnapshot): AccountTasksSummary {
  const byStatus = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  let answered = 0;
  let noStatus = 0;
  let pollsFailing = 0;
  let attentionMore = 0;
  const attention: TaskAttention[] = [];
  for (const t of a.tasks) {
    if (t.lastPollOk !== undefined) answered++;
    if (t.status === undefined) noStatus++;
    else byStatus[t.status]++;
    if (t.lastPollOk === false) pollsFailing++;
    if (t.status === 'failed' || t.status === 'unknown' || t.lastPollOk === false) {
      if (attention.length < ATTENTION_MAX) {
        attention.push({
          id: t.id,
          name: t.name,
          ...(t.status !== undefined ? { status: t.status } : {}),
          ...(t.lastPollOk === false && t.lastError ? { pollError: t.lastError.code } : {}),
        });
      } else attentionMore++;
    }
  }
  const summary: AccountTasksSummary = { tasks: { total: a.tasks.length, answered, byStatus, noStatus, pollsFailing }, attention, attentionMore };
  if (!a.latestScan) return summary;
  const ls = a.latestScan;
  const scan = ls.scan;
  const latestScan: LatestScanSummary = {
    ...(ls.lastPollOk !== undefined ? { lastPollOk: ls.lastPollOk } : {}),
    ...(ls.lastPollOk === false && ls.lastError ? { pollError: ls.lastError.code } : {}),
    ...(scan
      ? {
          status: scan.status,
          riskLevel: scan.riskLevel,
          ...defined({
            progressPercent: scan.progressPercent,
            scanTimeMs: scan.scanTimeMs,
            machinesScanned: scan.machines.scanned,
            machinesComplete: scan.machines.complete,
            machinesUncomplete: scan.machines.uncomplete,
            machinesSuspicious: scan.machines.suspicious,
          }),
        }
      : {}),
  };
  return { ...summary, latestScan };
}

/** The entries of `o` whose value is defined. */
function defined<T extends Record<string, number | undefined>>(o: T): Partial<Record<keyof T, number>> {
  const out: Partial<Record<keyof T, number>> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k as keyof T] = v;
  return out;
}
