/**
 * The same task series in a prom-client registry, built independently of
 * TASK_FAMILIES' sample functions (only names and help texts are shared), so
 * comparing the two outputs checks the renderer too.
 */
import client from 'prom-client';
import { allTasks, type Snapshot } from '../../src/model/snapshot.js';
import { TASK_FAMILIES } from '../../src/metrics/taskFamilies.js';
import { TARGET_TYPES, TASK_STATUSES } from '../../src/model/vocabulary.js';

const LABELS: Record<string, readonly string[]> = {
  aliyun_sas_scan_task_info: ['task_id', 'task_name'],
  aliyun_sas_scan_task_status: ['task_id', 'status'],
  aliyun_sas_scan_task_target_info: ['task_id', 'target_type', 'target', 'target_name'],
  aliyun_sas_scan_task_targets: ['task_id', 'target_type'],
  aliyun_sas_scan_task_poll_success: ['task_id'],
  aliyun_sas_scan_task_poll_error_info: ['task_id', 'class', 'code'],
  aliyun_sas_scan_task_last_success_timestamp_seconds: ['task_id'],
  aliyun_sas_scan_task_status_change_timestamp_seconds: ['task_id'],
};

export function buildRegistry(snapshot: Snapshot): client.Registry {
  const registry = new client.Registry();
  const g: Record<string, client.Gauge> = {};
  for (const f of TASK_FAMILIES) {
    const labelNames = LABELS[f.name];
    if (!labelNames) throw new Error(`no label names for ${f.name}: update bench/lib/promclient.ts`);
    g[f.name] = new client.Gauge({ name: f.name, help: f.help, labelNames, registers: [registry] });
  }
  const set = (name: string, labels: Record<string, string>, v: number) => g[name]!.set(labels, v);
  // Family by family, task by task: the order the exporter renders in.
  const tasks = allTasks(snapshot);
  for (const t of tasks) set('aliyun_sas_scan_task_info', { task_id: t.id, task_name: t.name }, 1);
  for (const t of tasks) {
    if (t.status === undefined) continue;
    for (const s of TASK_STATUSES) set('aliyun_sas_scan_task_status', { task_id: t.id, status: s }, s === t.status ? 1 : 0);
  }
  for (const t of tasks) {
    for (const x of t.targets) set('aliyun_sas_scan_task_target_info', { task_id: t.id, target_type: x.type, target: x.target, target_name: x.name }, 1);
  }
  for (const t of tasks) {
    if (t.status === undefined) continue;
    const counts = new Map<string, number>(TARGET_TYPES.map((k) => [k, 0]));
    for (const x of t.targets) counts.set(x.type, (counts.get(x.type) ?? 0) + 1);
    for (const [type, n] of counts) set('aliyun_sas_scan_task_targets', { task_id: t.id, target_type: type }, n);
  }
  for (const t of tasks) if (t.lastPollOk !== undefined) set('aliyun_sas_scan_task_poll_success', { task_id: t.id }, t.lastPollOk ? 1 : 0);
  for (const t of tasks) if (t.lastError) set('aliyun_sas_scan_task_poll_error_info', { task_id: t.id, class: t.lastError.class, code: t.lastError.code }, 1);
  for (const t of tasks) {
    if (t.lastSuccessAt !== undefined) set('aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: t.id }, t.lastSuccessAt / 1000);
  }
  for (const t of tasks) {
    if (t.statusChangedAt !== undefined) set('aliyun_sas_scan_task_status_change_timestamp_seconds', { task_id: t.id }, t.statusChangedAt / 1000);
  }
  return registry;
}

export interface Equivalence {
  /** Byte-equal once prom-client's blank lines between families are removed. */
  readonly byteEqual: boolean;
  /** Same set of sample lines (name, labels, value), whatever the order. */
  readonly sameSeries: boolean;
  readonly oursSeries: number;
  readonly promSeries: number;
  readonly firstDifference?: string;
}

function sampleLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

export function compareExpositions(ours: string, prom: string): Equivalence {
  const normalised = prom.replace(/\n\n/g, '\n');
  const byteEqual = normalised === ours;
  const a = sampleLines(ours);
  const b = sampleLines(prom);
  const sa = new Set(a);
  let sameSeries = a.length === b.length && sa.size === a.length;
  let firstDifference: string | undefined;
  if (sameSeries) {
    for (const l of b) {
      if (!sa.has(l)) {
        sameSeries = false;
        firstDifference = `prom-client has ${l.slice(0, 200)}`;
        break;
      }
    }
  }
  if (!byteEqual && !firstDifference) {
    let i = 0;
    while (i < ours.length && ours[i] === normalised[i]) i++;
    firstDifference = `at byte ${i}: ours ${JSON.stringify(ours.slice(i, i + 80))} vs prom-client ${JSON.stringify(normalised.slice(i, i + 80))}`;
  }
  return { byteEqual, sameSeries, oursSeries: a.length, promSeries: b.length, ...(firstDifference ? { firstDifference } : {}) };
}
