/**
 * Synthetic snapshots: T tasks x K targets, shaped like what the poller
 * publishes (one TaskState per task, new objects every cycle), and
 * optionally the account's latest virus scan with M machines (as a listing
 * of ListVirusScanTask makes them). Deterministic for a given (T, K, M,
 * cycle), so two processes build the same bytes.
 */
import type { LatestScanState, MachineState, Snapshot, TaskState } from '../../src/model/snapshot.js';
import type { MachineScanStatus, TaskStatus } from '../../src/model/vocabulary.js';

export interface SyntheticOptions {
  readonly tasks: number;
  readonly targetsPerTask: number;
  /** Machines of the account's latest scan (0 or absent: latest_scan off, no scan sections). */
  readonly machines?: number;
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

const MACHINE_STATUSES: readonly MachineScanStatus[] = ['running', 'complete', 'complete', 'complete', 'failed', 'timeout'];
const SCAN_TASK_ID = 'fc98d58eb56f699d49bf7ebbd6d70001';

/** Machine i of the latest scan in `cycle`: new objects every call, like a listing parsed from the API. */
export function syntheticMachine(i: number, cycle: number): MachineState {
  const h = ((i * 2_246_822_519 + 374_761_393) >>> 0).toString(16).padStart(8, '0');
  const status = MACHINE_STATUSES[(i + cycle) % MACHINE_STATUSES.length]!;
  const startTimeMs = BASE_MS - 3_600_000 + (i % 600) * 1_000;
  return {
    uuid: `${h}-${h.slice(0, 4)}-4${h.slice(4, 7)}-9${h.slice(1, 4)}-${String(i).padStart(12, '0')}`,
    rootTaskId: SCAN_TASK_ID,
    taskId: `${h}${h}${h}${String(i).padStart(8, '0')}`,
    instanceName: `host-${String(i + 1).padStart(5, '0')}`,
    internetIp: `47.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    intranetIp: `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`,
    status,
    rawStatus: status === 'running' ? 1 : status === 'complete' ? 2 : status === 'failed' ? 3 : 4,
    progressPercent: status === 'complete' ? 100 : (i * 7 + cycle) % 100,
    startTimeMs,
    ...(status === 'running' ? {} : { endTimeMs: startTimeMs + 60_000 + (i % 97) * 1_000 + cycle * 10 }),
  };
}

/** The account's latest scan with `count` machines, all listed (a complete scan). */
export function syntheticLatestScan(count: number, cycle: number): LatestScanState {
  const rows: MachineState[] = new Array(count);
  for (let i = 0; i < count; i++) rows[i] = syntheticMachine(i, cycle);
  const at = BASE_MS + cycle * 30_000;
  return {
    lastPollOk: true,
    lastPolledAt: at,
    lastSuccessAt: at,
    scan: {
      taskId: SCAN_TASK_ID,
      status: 'complete',
      rawStatus: 100,
      progressPercent: 100,
      scanTimeMs: BASE_MS - 3_600_000,
      scanType: 'system',
      scanPaths: [],
      machines: { scanned: count, complete: Math.round(count * 0.66), uncomplete: count - Math.round(count * 0.66), safe: count - Math.round(count * 0.05), suspicious: Math.round(count * 0.05) },
      suspiciousCount: Math.round(count * 0.12),
      riskLevel: count > 0 ? 'high' : 'none',
    },
    machines: { taskId: SCAN_TASK_ID, rows: Object.freeze(rows), dropped: 0, listedAt: at },
  };
}

export function syntheticSnapshot(opts: SyntheticOptions): Snapshot {
  const cycle = opts.cycle ?? 0;
  const tasks: TaskState[] = new Array(opts.tasks);
  for (let i = 0; i < opts.tasks; i++) tasks[i] = syntheticTask(i, opts.targetsPerTask, cycle);
  const machines = opts.machines ?? 0;
  const account = machines > 0 ? { name: '', tasks: Object.freeze(tasks), latestScan: syntheticLatestScan(machines, cycle) } : { name: '', tasks: Object.freeze(tasks) };
  return Object.freeze({ generation: opts.generation ?? cycle + 1, createdAt: BASE_MS + cycle * 30_000, multiAccount: false, accounts: [account] });
}
