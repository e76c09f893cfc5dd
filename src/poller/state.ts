/**
 * What the exporter knows about each task, and the pure rules that move it
 * forward from one poll result. Immutable: a snapshot can hold these objects
 * while the next cycle builds new ones.
 */
import type { TaskSpec } from '../config/schema.js';
import { TERMINAL_STATUSES, type ErrorClass, type SasResult, type ScanTarget, type TaskStatus } from '../sas/types.js';

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

export interface Snapshot {
  /** Increases with every published snapshot; renderers cache on it. */
  readonly generation: number;
  readonly createdAt: number;
  /** In configuration order. */
  readonly tasks: readonly TaskState[];
}

export function initialState(spec: TaskSpec): TaskState {
  return { id: spec.id, name: spec.name, targets: [] };
}

/** Keeps everything learnt about a task when the configuration is reloaded; only the name can change. */
export function withSpec(state: TaskState | undefined, spec: TaskSpec): TaskState {
  if (!state) return initialState(spec);
  return state.name === spec.name ? state : { ...state, name: spec.name };
}

/** The state after one poll; a failure keeps the last known status and targets. */
export function applyResult(prev: TaskState, result: SasResult, now: number): TaskState {
  if (!result.ok) {
    const { lastError: _old, ...rest } = prev;
    return { ...rest, lastPolledAt: now, lastPollOk: false, lastError: { class: result.error.class, code: result.error.code } };
  }
  const v = result.value;
  const changed = prev.status !== v.status;
  const { lastError: _old, ...rest } = prev;
  return {
    ...rest,
    status: v.status,
    rawStatus: v.rawStatus,
    targets: v.targetInfoError ? [] : v.targets,
    statusChangedAt: changed ? now : (prev.statusChangedAt ?? now),
    lastSuccessAt: now,
    lastPolledAt: now,
    lastPollOk: true,
  };
}

/** Terminal tasks are re-checked only every `intervalMs`: the service never moves them again. */
export function isDue(state: TaskState, now: number, terminalRecheckIntervalMs: number): boolean {
  if (state.status === undefined || !TERMINAL_STATUSES.has(state.status)) return true;
  if (state.lastPolledAt === undefined) return true;
  return now - state.lastPolledAt >= terminalRecheckIntervalMs;
}
