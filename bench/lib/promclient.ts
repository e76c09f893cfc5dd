/**
 * The same series in a prom-client registry, built independently of the
 * families' sample functions (only names and help texts are shared), so
 * comparing the two outputs checks the renderer too: the task families and,
 * when the snapshot holds a latest scan, the scan and machine families.
 */
import client from 'prom-client';
import { allTasks, type Snapshot } from '../../src/model/snapshot.js';
import { LATEST_SCAN_FAMILIES, MACHINE_FAMILIES } from '../../src/metrics/scanFamilies.js';
import { TASK_FAMILIES } from '../../src/metrics/taskFamilies.js';
import { MACHINE_SCAN_STATUSES, ROOT_SCAN_STATUSES, SCAN_RISK_LEVELS, TARGET_TYPES, TASK_STATUSES } from '../../src/model/vocabulary.js';

const LABELS: Record<string, readonly string[]> = {
  aliyun_sas_scan_task_info: ['task_id', 'task_name'],
  aliyun_sas_scan_task_status: ['task_id', 'status'],
  aliyun_sas_scan_task_target_info: ['task_id', 'target_type', 'target', 'target_name'],
  aliyun_sas_scan_task_targets: ['task_id', 'target_type'],
  aliyun_sas_scan_task_poll_success: ['task_id'],
  aliyun_sas_scan_task_poll_error_info: ['task_id', 'class', 'code'],
  aliyun_sas_scan_task_last_success_timestamp_seconds: ['task_id'],
  aliyun_sas_scan_task_status_change_timestamp_seconds: ['task_id'],
  aliyun_sas_virus_scan_latest_poll_success: [],
  aliyun_sas_virus_scan_latest_poll_error_info: ['class', 'code'],
  aliyun_sas_virus_scan_latest_info: ['task_id', 'scan_type'],
  aliyun_sas_virus_scan_latest_status: ['status'],
  aliyun_sas_virus_scan_latest_progress_ratio: [],
  aliyun_sas_virus_scan_latest_start_timestamp_seconds: [],
  aliyun_sas_virus_scan_latest_machines: ['state'],
  aliyun_sas_virus_scan_latest_alerts: [],
  aliyun_sas_virus_scan_latest_risk_level: ['level'],
  aliyun_sas_virus_scan_machines_dropped: [],
  aliyun_sas_virus_scan_machine_info: ['uuid', 'task_id', 'instance_name', 'internet_ip', 'intranet_ip'],
  aliyun_sas_virus_scan_machine_status: ['uuid', 'status'],
  aliyun_sas_virus_scan_machine_progress_ratio: ['uuid'],
  aliyun_sas_virus_scan_machine_start_timestamp_seconds: ['uuid'],
  aliyun_sas_virus_scan_machine_end_timestamp_seconds: ['uuid'],
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
  addScanFamilies(registry, snapshot);
  return registry;
}

/**
 * The latest scan and its machines (single-account form). A family is
 * registered only when it has samples: prom-client prints a label-less
 * gauge that was never set as 0, where the exporter leaves the family out.
 */
function addScanFamilies(registry: client.Registry, snapshot: Snapshot): void {
  const scans = snapshot.accounts.map((a) => a.latestScan).filter((s) => s !== undefined);
  if (snapshot.multiAccount && scans.length > 0) throw new Error('bench/lib/promclient.ts: latest scans only in the single-account form');
  const samples = new Map<string, [Record<string, string>, number][]>();
  const add = (name: string, labels: Record<string, string>, v: number) => {
    let list = samples.get(name);
    if (!list) samples.set(name, (list = []));
    list.push([labels, v]);
  };
  for (const s of scans) {
    if (s.lastPollOk !== undefined) add('aliyun_sas_virus_scan_latest_poll_success', {}, s.lastPollOk ? 1 : 0);
    if (s.lastError) add('aliyun_sas_virus_scan_latest_poll_error_info', { class: s.lastError.class, code: s.lastError.code }, 1);
    const scan = s.scan;
    if (scan) {
      add('aliyun_sas_virus_scan_latest_info', { task_id: scan.taskId ?? '', scan_type: scan.scanType ?? '' }, 1);
      for (const st of ROOT_SCAN_STATUSES) add('aliyun_sas_virus_scan_latest_status', { status: st }, st === scan.status ? 1 : 0);
      if (scan.progressPercent !== undefined) add('aliyun_sas_virus_scan_latest_progress_ratio', {}, scan.progressPercent / 100);
      if (scan.scanTimeMs !== undefined) add('aliyun_sas_virus_scan_latest_start_timestamp_seconds', {}, scan.scanTimeMs / 1000);
      for (const [state, n] of Object.entries(scan.machines)) if (n !== undefined) add('aliyun_sas_virus_scan_latest_machines', { state }, n);
      if (scan.suspiciousCount !== undefined) add('aliyun_sas_virus_scan_latest_alerts', {}, scan.suspiciousCount);
      for (const l of SCAN_RISK_LEVELS) add('aliyun_sas_virus_scan_latest_risk_level', { level: l }, l === scan.riskLevel ? 1 : 0);
    }
    if (s.machines) add('aliyun_sas_virus_scan_machines_dropped', {}, s.machines.dropped);
  }
  const machines = scans.flatMap((s) => s.machines?.rows ?? []);
  for (const m of machines) {
    add('aliyun_sas_virus_scan_machine_info', { uuid: m.uuid, task_id: m.rootTaskId, instance_name: m.instanceName, internet_ip: m.internetIp, intranet_ip: m.intranetIp }, 1);
  }
  for (const m of machines) for (const st of MACHINE_SCAN_STATUSES) add('aliyun_sas_virus_scan_machine_status', { uuid: m.uuid, status: st }, st === m.status ? 1 : 0);
  for (const m of machines) if (m.progressPercent !== undefined) add('aliyun_sas_virus_scan_machine_progress_ratio', { uuid: m.uuid }, m.progressPercent / 100);
  for (const m of machines) if (m.startTimeMs !== undefined) add('aliyun_sas_virus_scan_machine_start_timestamp_seconds', { uuid: m.uuid }, m.startTimeMs / 1000);
  for (const m of machines) if (m.endTimeMs !== undefined) add('aliyun_sas_virus_scan_machine_end_timestamp_seconds', { uuid: m.uuid }, m.endTimeMs / 1000);
  for (const f of [...LATEST_SCAN_FAMILIES, ...MACHINE_FAMILIES]) {
    const list = samples.get(f.name);
    if (!list) continue;
    const labelNames = LABELS[f.name];
    if (!labelNames) throw new Error(`no label names for ${f.name}: update bench/lib/promclient.ts`);
    const g = new client.Gauge({ name: f.name, help: f.help, labelNames, registers: [registry] });
    for (const [labels, v] of list) {
      if (labelNames.length === 0) g.set(v);
      else g.set(labels, v);
    }
  }
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
