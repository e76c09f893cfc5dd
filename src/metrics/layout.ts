/**
 * How a snapshot is exposed: three sections of families, in this order
 * (the text format wants each family's lines together), each over its
 * objects: every account's tasks, every account's latest scan, the machines
 * of those scans. An object's identifying labels are `[account,]task_id`,
 * `[account]` and `[account,]uuid`; the account label only in the
 * multi-account form.
 */
import type { LatestScanState, MachineState, Snapshot, TaskState } from '../model/snapshot.js';
import { escapeLabelValue as esc } from './exposition.js';
import { withLabels, type Family } from './family.js';
import { UNCOUNTED_LABEL_LIMITS, type LabelLimits } from './labels.js';
import type { Section } from './incremental.js';
import { LATEST_SCAN_FAMILIES, MACHINE_FAMILIES } from './scanFamilies.js';
import { TASK_FAMILIES } from './taskFamilies.js';

export interface ExpositionLayout<Snap> {
  readonly sections: readonly Section<any>[];
  objects(snapshot: Snap): readonly (readonly object[])[];
}

/**
 * The layout of the exporter's snapshots. Each object's label prefix is
 * computed once (objects are immutable, and an object belongs to one
 * account), kept beside it until it is garbage. `labels` bounds the values
 * from the API (the machine's UUID in its prefix, the families' labels) and
 * counts what it does: the self-metrics' own, in the exporter.
 */
export function snapshotLayout(taskFamilies: readonly Family<TaskState>[] = TASK_FAMILIES, labels: LabelLimits = UNCOUNTED_LABEL_LIMITS): ExpositionLayout<Snapshot> {
  const prefixes = new WeakMap<object, string>();
  // Each account's task list of the last call: a task at the same index as
  // then is the same object (most of them, publication after publication),
  // known without a WeakMap lookup.
  let lastTasks = new Map<string, readonly TaskState[]>();
  // Likewise each account's latest scan: the same object holds the same machine rows.
  let lastScans = new Map<string, LatestScanState>();
  const prefixOf = (o: object): string => prefixes.get(o) ?? '';
  const sections = [
    { families: withLabels(taskFamilies, labels), labelPrefix: prefixOf } satisfies Section<TaskState>,
    { families: withLabels(LATEST_SCAN_FAMILIES, labels), labelPrefix: prefixOf } satisfies Section<LatestScanState>,
    { families: withLabels(MACHINE_FAMILIES, labels), labelPrefix: prefixOf } satisfies Section<MachineState>,
  ] as const;
  return {
    sections,
    objects(snapshot) {
      const tasks: TaskState[] = [];
      const scans: LatestScanState[] = [];
      const machines: MachineState[] = [];
      const seen = new Map<string, readonly TaskState[]>();
      const seenScans = new Map<string, LatestScanState>();
      for (const a of snapshot.accounts) {
        const account = snapshot.multiAccount ? `account="${esc(a.name)}"` : '';
        const withAccount = account ? `${account},` : '';
        const before = lastTasks.get(a.name);
        const list = a.tasks;
        for (let i = 0; i < list.length; i++) {
          const t = list[i]!;
          if ((before === undefined || before[i] !== t) && !prefixes.has(t)) prefixes.set(t, `${withAccount}task_id="${esc(t.id)}"`);
          tasks.push(t);
        }
        seen.set(a.name, list);
        const scan = a.latestScan;
        if (scan) {
          const known = lastScans.get(a.name) === scan;
          if (!known && !prefixes.has(scan)) prefixes.set(scan, account);
          scans.push(scan);
          seenScans.set(a.name, scan);
          for (const m of scan.machines?.rows ?? []) {
            if (!known && !prefixes.has(m)) prefixes.set(m, `${withAccount}uuid="${esc(labels.uuid.apply(m.uuid))}"`);
            machines.push(m);
          }
        }
      }
      lastTasks = seen;
      lastScans = seenScans;
      return [tasks, scans, machines];
    },
  };
}
