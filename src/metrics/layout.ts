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
import type { Family } from './family.js';
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
 * account), kept beside it until it is garbage.
 */
export function snapshotLayout(taskFamilies: readonly Family<TaskState>[] = TASK_FAMILIES): ExpositionLayout<Snapshot> {
  const prefixes = new WeakMap<object, string>();
  const prefixOf = (o: object): string => prefixes.get(o) ?? '';
  const sections = [
    { families: taskFamilies, labelPrefix: prefixOf } satisfies Section<TaskState>,
    { families: LATEST_SCAN_FAMILIES, labelPrefix: prefixOf } satisfies Section<LatestScanState>,
    { families: MACHINE_FAMILIES, labelPrefix: prefixOf } satisfies Section<MachineState>,
  ] as const;
  return {
    sections,
    objects(snapshot) {
      const tasks: TaskState[] = [];
      const scans: LatestScanState[] = [];
      const machines: MachineState[] = [];
      for (const a of snapshot.accounts) {
        const account = snapshot.multiAccount ? `account="${esc(a.name)}"` : '';
        const withAccount = account ? `${account},` : '';
        for (const t of a.tasks) {
          if (!prefixes.has(t)) prefixes.set(t, `${withAccount}task_id="${esc(t.id)}"`);
          tasks.push(t);
        }
        if (a.latestScan) {
          if (!prefixes.has(a.latestScan)) prefixes.set(a.latestScan, account);
          scans.push(a.latestScan);
          for (const m of a.latestScan.machines?.rows ?? []) {
            if (!prefixes.has(m)) prefixes.set(m, `${withAccount}uuid="${esc(m.uuid)}"`);
            machines.push(m);
          }
        }
      }
      return [tasks, scans, machines];
    },
  };
}
