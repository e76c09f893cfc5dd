/**
 * What the poller publishes and the metrics code renders: immutable task
 * states and the snapshot that holds them. Belongs to neither stage.
 */
import type { ErrorClass, MachineScanStatus, RootScanStatus, ScanRiskLevel, TargetType, TaskStatus } from './vocabulary.js';

/** One element of a task's TargetInfo. */
export interface ScanTarget {
  readonly type: TargetType;
  /** The server UUID or the group ID. */
  readonly target: string;
  /** The server or group name. */
  readonly name: string;
}

/** A configured task: what the YAML says about it. */
export interface TaskSpec {
  /** Canonical decimal string, exact up to 2^63-1. */
  readonly id: string;
  /** Display name from the YAML; empty if none. */
  readonly name: string;
}

/**
 * What the exporter knows about one task. Immutable: a snapshot can hold
 * these objects while the next cycle builds new ones, and an unchanged task
 * keeps the very same object from one snapshot to the next.
 */
export interface TaskState {
  readonly id: string;
  readonly name: string;
  /** Absent until the first successful poll. */
  readonly status?: TaskStatus;
  readonly rawStatus?: string;
  readonly targets: readonly ScanTarget[];
  /** Unix ms at which this exporter first saw the current status. */
  readonly statusChangedAt?: number;
  readonly lastSuccessAt?: number;
  readonly lastPolledAt?: number;
  /** Absent until the first poll ended. */
  readonly lastPollOk?: boolean;
  /** Set while the last poll failed. */
  readonly lastError?: { readonly class: ErrorClass; readonly code: string };
}

/** The latest virus scan of the account, as GetVirusScanLatestTaskStatistic describes it. */
export interface LatestScan {
  /** 32 hex digits: the RootTaskId for ListVirusScanTask. */
  readonly taskId?: string;
  readonly status: RootScanStatus;
  readonly rawStatus?: number;
  /** 0..100 */
  readonly progressPercent?: number;
  readonly scanTimeMs?: number;
  /** `system` (automatic) or `user` (custom), as sent. */
  readonly scanType?: string;
  readonly scanPaths: readonly string[];
  readonly machines: {
    readonly scanned?: number;
    readonly complete?: number;
    /** Not complete, or failed. */
    readonly uncomplete?: number;
    readonly safe?: number;
    readonly suspicious?: number;
  };
  /** Alerts detected. */
  readonly suspiciousCount?: number;
  readonly riskLevel: ScanRiskLevel;
  readonly machineName?: string;
}

/** One machine of the latest scan (a row of ListVirusScanTask). */
export interface MachineState {
  /** The server's UUID: what identifies the machine. */
  readonly uuid: string;
  /** The scan (root task) the row was listed for. */
  readonly rootTaskId: string;
  /** The machine's subtask ID. */
  readonly taskId?: string;
  readonly instanceName: string;
  readonly internetIp: string;
  readonly intranetIp: string;
  readonly status: MachineScanStatus;
  readonly rawStatus?: number;
  /** 0..100 */
  readonly progressPercent?: number;
  readonly startTimeMs?: number;
  /** Absent while the machine still runs. */
  readonly endTimeMs?: number;
}

/** The machines listed for one scan. */
export interface MachineList {
  /** The scan (root task) these rows belong to. */
  readonly taskId: string;
  /** In the order the API listed them, one per UUID, at most `max_machines`. */
  readonly rows: readonly MachineState[];
  /** Rows the API has beyond `max_machines`: counted, not exported. */
  readonly dropped: number;
  /** Unix ms of the listing. */
  readonly listedAt: number;
}

/** What the exporter knows of an account's latest virus scan. Immutable, like TaskState. */
export interface LatestScanState {
  /** Absent until the first poll ended. */
  readonly lastPollOk?: boolean;
  /** Set while the last poll (the statistic or a page) failed. */
  readonly lastError?: { readonly class: ErrorClass; readonly code: string };
  readonly lastPolledAt?: number;
  readonly lastSuccessAt?: number;
  /** Undefined: no scan known (none yet, or the account never ran one). */
  readonly scan?: LatestScan;
  /** The machines of `scan`, when listed (latest_scan.machines). */
  readonly machines?: MachineList;
}

/**
 * One account's part of a snapshot. Its task, scan and machine objects are
 * its own, never shared with another account: the exposition keeps an
 * object's identifying labels by the object's identity.
 */
export interface AccountSnapshot {
  /** The `account` label; '' in the single-account form. */
  readonly name: string;
  /** In configuration order. */
  readonly tasks: readonly TaskState[];
  /** Present when latest_scan is enabled for the account. */
  readonly latestScan?: LatestScanState;
}

export interface Snapshot {
  /** Increases with every published snapshot; renderers cache on it. */
  readonly generation: number;
  readonly createdAt: number;
  /** True in the `accounts:` form: every series carries an `account` label. */
  readonly multiAccount: boolean;
  /** In configuration order. */
  readonly accounts: readonly AccountSnapshot[];
}

/** Every task of a snapshot, account by account. */
export function allTasks(snapshot: Snapshot): TaskState[] {
  const out: TaskState[] = [];
  for (const a of snapshot.accounts) for (const t of a.tasks) out.push(t);
  return out;
}
