/**
 * What the poller publishes and the metrics code renders: immutable task
 * states and the snapshot that holds them. Belongs to neither stage.
 */
import type { ErrorClass, TargetType, TaskStatus } from './vocabulary.js';

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

/** One account's part of a snapshot. */
export interface AccountSnapshot {
  /** The `account` label; '' in the single-account form. */
  readonly name: string;
  /** In configuration order. */
  readonly tasks: readonly TaskState[];
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
