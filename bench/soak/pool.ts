/**
 * The soak's task pool: every task the simulator knows, what class each is
 * in (and so what series the exporter must show for it), and the scenario
 * YAML for the simulator process.
 *
 * Classes, by index i (stable for a given seed and pool size):
 *   denied     i % 100 in {0, 1}  403 NoPermission on every call: info and
 *                                  poll_success series only, never a status
 *   paused     i % 100 == 2       an undocumented status: status "unknown", targets kept
 *   malformed  i % 100 == 3       broken TargetInfo: a status, no target series
 *   flaky      i % 100 in 4..9    (core tasks only) 30 % 500 ServerError from
 *                                  `flakyFromMs` on: a failed poll keeps status and targets
 *   normal     the rest
 * Targets: `targets` each, except i % 50 == 25 (none, TargetInfo "[]") and
 * i % 50 == 26 (one). Every task's timeline walks init -> Processing ->
 * Success or Failed -> init ... in steps of 5-60 s (its own PRNG), long
 * enough to keep statuses moving for the whole run.
 */

export type TaskClass = 'denied' | 'paused' | 'malformed' | 'flaky' | 'normal';

export interface PoolTask {
  readonly index: number;
  readonly id: string;
  readonly cls: TaskClass;
  readonly targets: number;
}

export interface PoolShape {
  /** Tasks the simulator knows. */
  readonly size: number;
  /** Indices below this are never churned out (and only they can be flaky). */
  readonly core: number;
  readonly targets: number;
  /** How long the timelines must keep moving, ms. */
  readonly horizonMs: number;
  /** When the flaky tasks start failing, ms after the simulator started. */
  readonly flakyFromMs: number;
}

/** IDs well above 2^53, as the service hands out: exact decimal strings end to end. */
export function taskId(i: number): string {
  return (9_007_199_254_740_993n + BigInt(i) * 7919n).toString();
}

export function classOf(i: number, core: number): TaskClass {
  const r = i % 100;
  if (r <= 1) return 'denied';
  if (r === 2) return 'paused';
  if (r === 3) return 'malformed';
  if (r <= 9 && i < core) return 'flaky';
  return 'normal';
}

export function targetsOf(i: number, targets: number): number {
  const r = i % 50;
  return r === 25 ? 0 : r === 26 ? 1 : targets;
}

export function buildPool(shape: PoolShape): PoolTask[] {
  return Array.from({ length: shape.size }, (_, i) => ({ index: i, id: taskId(i), cls: classOf(i, shape.core), targets: targetsOf(i, shape.targets) }));
}

/** Series the exporter must export per task family, for a set of configured tasks. */
export interface Expected {
  info: number;
  status: number;
  targetInfo: number;
  targets: number;
  pollSuccess: number;
  lastSuccess: number;
  statusChange: number;
  /** poll_error_info lies between these (flaky tasks fail at random). */
  errorMin: number;
  errorMax: number;
}

/**
 * `transient`: healthy tasks whose last poll failed for a reason of the
 * machine, not of the scenario (a timeout or network error on a loaded box):
 * true when the task has never been polled successfully yet (added by this
 * very reload), false when it keeps the status it had.
 */
export function expected(configured: Iterable<PoolTask>, transient: ReadonlyMap<string, boolean> = new Map()): Expected {
  const e: Expected = { info: 0, status: 0, targetInfo: 0, targets: 0, pollSuccess: 0, lastSuccess: 0, statusChange: 0, errorMin: 0, errorMax: 0 };
  for (const t of configured) {
    e.info++;
    e.pollSuccess++;
    const neverOk = transient.get(t.id);
    if (neverOk !== undefined) {
      e.errorMin++;
      e.errorMax++;
      if (neverOk) continue;
    }
    if (t.cls === 'denied') {
      e.errorMin++;
      e.errorMax++;
      continue;
    }
    if (t.cls === 'flaky') e.errorMax++;
    e.status += 5; // init, processing, success, failed, unknown
    e.targets += 2; // uuid, groupId
    e.lastSuccess++;
    e.statusChange++;
    if (t.cls !== 'malformed') e.targetInfo += t.targets;
  }
  return e;
}

/** mulberry32: a small seeded PRNG, so a pool is the same every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STEP_MIN_MS = 5_000;
const STEP_MAX_MS = 60_000;

function timeline(i: number, horizonMs: number): string {
  const rnd = prng(0x5eed + i);
  const steps: string[] = [];
  // Start anywhere in the rotation, so the pool does not move in lock-step.
  let phase = Math.floor(rnd() * 3);
  let t = 0;
  while (t < horizonMs) {
    const len = Math.round(STEP_MIN_MS + rnd() * (STEP_MAX_MS - STEP_MIN_MS));
    const status = phase === 0 ? 'init' : phase === 1 ? 'Processing' : rnd() < 0.8 ? 'Success' : 'Failed';
    steps.push(`{ status: ${status}, for: ${len}ms }`);
    t += len;
    phase = (phase + 1) % 3;
  }
  steps.push('{ status: Processing }');
  return `[${steps.join(', ')}]`;
}

/** The simulator scenario: flow style, one task per line. */
export function scenarioYaml(pool: readonly PoolTask[], shape: PoolShape): string {
  const lines = ['# generated by bench/soak/pool.ts', 'seed: 4242', 'tasks:'];
  for (const t of pool) {
    const targets = Array.from({ length: t.targets }, (_, j) => {
      const groups = j % 5 === 4;
      return groups
        ? `{ type: groupId, target: "${8_800_000 + t.index * 10 + j}", name: "group-${t.index}-${j}" }`
        : `{ type: uuid, target: "${t.index.toString(16).padStart(8, '0')}-5a5a-4000-8000-${String(j).padStart(12, '0')}", name: "host-${t.index}-${j}" }`;
    });
    let faults = '';
    if (t.cls === 'denied') faults = ', faults: [{ kind: no_permission }]';
    else if (t.cls === 'paused') faults = ', faults: [{ kind: undocumented_status, status: Paused }]';
    else if (t.cls === 'malformed') faults = ', faults: [{ kind: malformed_target_info }]';
    else if (t.cls === 'flaky') faults = `, faults: [{ kind: server_error, rate: 0.3, from: ${shape.flakyFromMs}ms }]`;
    lines.push(`  - { id: ${t.id}, targets: [${targets.join(', ')}], timeline: ${timeline(t.index, shape.horizonMs)}${faults} }`);
  }
  return lines.join('\n') + '\n';
}
