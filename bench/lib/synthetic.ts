/**
 * Synthetic snapshots: T tasks x K targets, shaped like what the poller
 * publishes (one TaskState per task, new objects every cycle). Deterministic
 * for a given (T, K, cycle), so two processes build the same bytes.
 */
import type { Snapshot, TaskState } from '../../src/model/snapshot.js';
import type { TaskStatus } from '../../src/model/vocabulary.js';

export interface SyntheticOptions {
  readonly tasks: number;
  readonly targetsPerTask: number;
  /** Changes statuses and timestamps, as a new poll cycle would. */
  readonly cycle?: number;
  readonly generation?: number;
}

const STATUSES: readonly TaskStatus[] = ['init', 'processing', 'success', 'failed'];
const BASE_MS = 1_760_000_000_000;

/** A stable 36-character server UUID for task i, target j. */
function uuid(i: number, j: number): string {
  const h = ((i * 2_654_435_761 + j * 40_503) >>> 0).toString(16).padStart(8, '0');
  const n = String(i * 16 + j).padStart(12, '0');
  return `${h}-${String(j).padStart(4, '0')}-4${h.slice(0, 3)}-8${h.slice(3, 6)}-${n}`;
}

/** The task ID of index i: a realistic 9-digit decimal string. */
export function taskId(i: number): string {
  return String(280_000_000 + i);
}

/**
 * One task's state. Targets are built fresh every call (new strings, new
 * objects), like a parsed API answer: the memory behaviour of a real cycle.
 */
export function syntheticTask(i: number, k: number, cycle: number): TaskState {
  const targets = [];
  for (let j = 0; j < k; j++) {
    // Every fifth target is a server group; the rest are servers.
    const group = j % 5 === 4;
    targets.push(
      group
        ? { type: 'groupId', target: String(8_800 + ((i + j) % 997)), name: `group-${(i + j) % 997}` }
        : { type: 'uuid', target: uuid(i, j), name: `host-${String(i * k + j).padStart(7, '0')}` },
    );
  }
  const status = STATUSES[(i + cycle) % STATUSES.length]!;
  const failing = i % 97 === 0; // ~1 % of tasks: the last poll failed
  const lastSuccessAt = BASE_MS + cycle * 30_000 - (failing ? 30_000 : 0);
  const base: TaskState = {
    id: taskId(i),
    name: `scan task ${i}`,
    status,
    rawStatus: status === 'processing' ? 'Processing' : status === 'init' ? 'init' : status[0]!.toUpperCase() + status.slice(1),
    targets,
    statusChangedAt: BASE_MS + (i % 3_600) * 1_000 + cycle * 500,
    lastSuccessAt,
    lastPolledAt: BASE_MS + cycle * 30_000,
    lastPollOk: !failing,
  };
  return failing ? { ...base, lastError: { class: 'api', code: i % 2 ? 'ServerError' : 'Throttling.User' } } : base;
}

export function syntheticSnapshot(opts: SyntheticOptions): Snapshot {
  const cycle = opts.cycle ?? 0;
  const tasks: TaskState[] = new Array(opts.tasks);
  for (let i = 0; i < opts.tasks; i++) tasks[i] = syntheticTask(i, opts.targetsPerTask, cycle);
  return Object.freeze({ generation: opts.generation ?? cycle + 1, createdAt: BASE_MS + cycle * 30_000, multiAccount: false, accounts: [{ name: '', tasks: Object.freeze(tasks) }] });
}
