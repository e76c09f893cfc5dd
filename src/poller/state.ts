/**
 * The pure rules that move a task's state forward: a new task, a reload, a
 * poll result, whether a task is due. No I/O; unit tested with literal states.
 */
import type { ScanTarget, TaskSpec, TaskState } from '../model/snapshot.js';
import { TERMINAL_STATUSES } from '../model/vocabulary.js';
import type { SasResult } from '../sas/types.js';

export function initialState(spec: TaskSpec): TaskState {
  return { id: spec.id, name: spec.name, targets: [] };
}

/** Keeps everything learnt about a task when the configuration is reloaded; only the name can change. */
export function withSpec(state: TaskState | undefined, spec: TaskSpec): TaskState {
  if (!state) return initialState(spec);
  return state.name === spec.name ? state : { ...state, name: spec.name };
}

/**
 * The state after one poll; a failure keeps the last known status and targets.
 * Built field by field rather than with object rest/spread: a cycle applies
 * this to every task at once (10,000 in one go), and copying through rest
 * and spread costs ~10 us a task, enough to block the event loop for 100 ms.
 * Optional fields are set only when they have a value, as before; a new
 * TaskState field must be carried over here.
 */
export function applyResult(prev: TaskState, result: SasResult, now: number): TaskState {
  if (!result.ok) {
    const s: Mutable<TaskState> = { id: prev.id, name: prev.name, targets: prev.targets };
    if (prev.status !== undefined) s.status = prev.status;
    if (prev.rawStatus !== undefined) s.rawStatus = prev.rawStatus;
    if (prev.statusChangedAt !== undefined) s.statusChangedAt = prev.statusChangedAt;
    if (prev.lastSuccessAt !== undefined) s.lastSuccessAt = prev.lastSuccessAt;
    s.lastPolledAt = now;
    s.lastPollOk = false;
    s.lastError = { class: result.error.class, code: result.error.code };
    return s;
  }
  const v = result.value;
  const changed = prev.status !== v.status;
  return {
    id: prev.id,
    name: prev.name,
    status: v.status,
    // The previous strings and targets when the answer says the same (nearly always for the
    // targets): the state keeps what it had, and the answer's copies die young, instead of a
    // task's whole target list (most of its memory) being replaced, promoted and collected at every poll.
    rawStatus: prev.rawStatus === v.rawStatus ? prev.rawStatus : v.rawStatus,
    targets: v.targetInfoError ? NO_TARGETS : sameTargets(prev.targets, v.targets) ? prev.targets : v.targets,
    statusChangedAt: changed ? now : (prev.statusChangedAt ?? now),
    lastSuccessAt: now,
    lastPolledAt: now,
    lastPollOk: true,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NO_TARGETS: readonly ScanTarget[] = Object.freeze([]);

function sameTargets(a: readonly ScanTarget[], b: readonly ScanTarget[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.type !== y.type || x.target !== y.target || x.name !== y.name) return false;
  }
  return true;
}

/** Terminal tasks are re-checked only every `intervalMs`: the service never moves them again. */
export function isDue(state: TaskState, now: number, terminalRecheckIntervalMs: number): boolean {
  if (state.status === undefined || !TERMINAL_STATUSES.has(state.status)) return true;
  if (state.lastPolledAt === undefined) return true;
  return now - state.lastPolledAt >= terminalRecheckIntervalMs;
}
