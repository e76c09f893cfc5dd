/**
 * Counts the series of a text exposition per family and checks them against
 * what the configuration says. A line scan, not a full parser: ~50k series
 * per cycle for hundreds of cycles.
 */
import type { Expected } from './pool.js';

export const FAMILIES = {
  info: 'aliyun_sas_scan_task_info',
  status: 'aliyun_sas_scan_task_status',
  targetInfo: 'aliyun_sas_scan_task_target_info',
  targets: 'aliyun_sas_scan_task_targets',
  pollSuccess: 'aliyun_sas_scan_task_poll_success',
  error: 'aliyun_sas_scan_task_poll_error_info',
  lastSuccess: 'aliyun_sas_scan_task_last_success_timestamp_seconds',
  statusChange: 'aliyun_sas_scan_task_status_change_timestamp_seconds',
} as const;
type FamilyKey = keyof typeof FAMILIES;
const BY_NAME = new Map<string, FamilyKey>(Object.entries(FAMILIES).map(([k, v]) => [v, k as FamilyKey]));

export interface Census {
  readonly counts: Record<FamilyKey, number>;
  /** Every series of the task families (not only scan_task_*): all of them. */
  readonly taskSeries: number;
  /** task_id of every task-family series. */
  readonly taskIds: Set<string>;
  /** task_id -> the status whose stateset series is 1. */
  readonly statusOf: Map<string, string>;
  /** task_id -> `class/code` of the poll_error_info series. */
  readonly errorOf: Map<string, string>;
  /** aliyun_sas_tasks, the exporter's own count. */
  readonly tasksGauge: number | undefined;
  /** Series of the same name and labels seen twice. */
  readonly duplicates: number;
  readonly bytes: number;
}

function labelValue(line: string, from: number, key: string): string | undefined {
  const at = line.indexOf(`${key}="`, from);
  if (at < 0) return undefined;
  const start = at + key.length + 2;
  return line.slice(start, line.indexOf('"', start));
}

/** The sample lines of an exposition (no comments, no blank lines), without splitting it whole. */
function* sampleLines(text: string): Generator<string> {
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end);
    pos = end + 1;
    if (line !== '' && line.charCodeAt(0) !== 35 /* # */) yield line;
  }
}

export function census(text: string): Census {
  const counts = Object.fromEntries(Object.keys(FAMILIES).map((k) => [k, 0])) as Record<FamilyKey, number>;
  const taskIds = new Set<string>();
  const statusOf = new Map<string, string>();
  const errorOf = new Map<string, string>();
  const seen = new Set<string>();
  let taskSeries = 0;
  let duplicates = 0;
  let tasksGauge: number | undefined;
  for (const line of sampleLines(text)) {
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = line.slice(0, brace >= 0 && brace < space ? brace : space);
    if (name === 'aliyun_sas_tasks') tasksGauge = Number(line.slice(space + 1));
    if (!name.startsWith('aliyun_sas_scan_task_')) continue;
    taskSeries++;
    const series = line.slice(0, space);
    if (seen.has(series)) duplicates++;
    else seen.add(series);
    const key = BY_NAME.get(name);
    if (key) counts[key]++;
    const id = labelValue(line, brace, 'task_id');
    if (id !== undefined) taskIds.add(id);
    if (key === 'status' && id !== undefined && line.endsWith(' 1')) statusOf.set(id, labelValue(line, brace, 'status') ?? '?');
    if (key === 'error' && id !== undefined) errorOf.set(id, `${labelValue(line, brace, 'class') ?? '?'}/${labelValue(line, brace, 'code') ?? '?'}`);
  }
  return { counts, taskSeries, taskIds, statusOf, errorOf, tasksGauge, duplicates, bytes: text.length };
}

/** Every way the census differs from what the configuration says; empty when exact. */
export function mismatches(c: Census, e: Expected, configuredIds: ReadonlySet<string>, allowedErrorIds: (id: string, classCode: string) => boolean): string[] {
  const out: string[] = [];
  const exact: Array<[FamilyKey, number]> = [
    ['info', e.info],
    ['status', e.status],
    ['targetInfo', e.targetInfo],
    ['targets', e.targets],
    ['pollSuccess', e.pollSuccess],
    ['lastSuccess', e.lastSuccess],
    ['statusChange', e.statusChange],
  ];
  for (const [k, want] of exact) if (c.counts[k] !== want) out.push(`${FAMILIES[k]}: ${c.counts[k]} series, expected ${want}`);
  if (c.counts.error < e.errorMin || c.counts.error > e.errorMax) out.push(`${FAMILIES.error}: ${c.counts.error} series, expected ${e.errorMin}..${e.errorMax}`);
  const summed = Object.values(c.counts).reduce((a, b) => a + b, 0);
  if (summed !== c.taskSeries) out.push(`${c.taskSeries - summed} series of an unexpected aliyun_sas_scan_task_* family`);
  if (c.duplicates > 0) out.push(`${c.duplicates} duplicate series`);
  if (c.tasksGauge !== e.info) out.push(`aliyun_sas_tasks = ${c.tasksGauge}, expected ${e.info}`);
  let stray = 0;
  let example = '';
  for (const id of c.taskIds) {
    if (!configuredIds.has(id)) {
      stray++;
      example ||= id;
    }
  }
  if (stray > 0) out.push(`${stray} task IDs with series that are not configured (removed tasks leaking), e.g. ${example}`);
  const badErrors: string[] = [];
  for (const [id, cc] of c.errorOf) if (!allowedErrorIds(id, cc)) badErrors.push(`${id} ${cc}`);
  if (badErrors.length > 0) out.push(`${badErrors.length} tasks with poll_error_info that should not fail, e.g. ${badErrors.slice(0, 3).join(', ')}`);
  return out;
}

/**
 * What must hold in every scrape, whenever it happens, even in the middle of
 * a cycle that is publishing as answers arrive: the task set is one
 * configuration's (the current one, or the one before while a reload is
 * being applied), each task is whole (its status stateset all there or not
 * at all, its target counts with it), nothing twice, and the exporter's own
 * task count matches the series. Empty when the scrape is consistent.
 */
export function scrapeInconsistencies(text: string, configurations: readonly ReadonlySet<string>[]): string[] {
  const out: string[] = [];
  const c = census(text);
  const infoIds = new Set<string>();
  const statusSeries = new Map<string, number>();
  const targetCounts = new Map<string, number>();
  for (const line of sampleLines(text)) {
    if (!line.startsWith('aliyun_sas_scan_task_')) continue;
    const brace = line.indexOf('{');
    const name = line.slice(0, brace);
    const id = labelValue(line, brace, 'task_id');
    if (id === undefined) continue;
    if (name === FAMILIES.info) infoIds.add(id);
    else if (name === FAMILIES.status) statusSeries.set(id, (statusSeries.get(id) ?? 0) + 1);
    else if (name === FAMILIES.targets) targetCounts.set(id, (targetCounts.get(id) ?? 0) + 1);
  }
  const config = configurations.find((ids) => ids.size === infoIds.size && [...infoIds].every((id) => ids.has(id)));
  if (!config) out.push(`the ${infoIds.size} tasks served are neither the current configuration nor the previous one`);
  for (const id of c.taskIds) if (!infoIds.has(id)) out.push(`series of task ${id} without its info series`);
  for (const [id, n] of statusSeries) if (n !== 5) out.push(`task ${id}: ${n} status series (a half task)`);
  for (const id of infoIds) {
    const hasStatus = statusSeries.has(id);
    const targets = targetCounts.get(id) ?? 0;
    if ((hasStatus && targets !== 2) || (!hasStatus && targets !== 0)) out.push(`task ${id}: ${targets} target-count series with${hasStatus ? '' : 'out'} a status`);
  }
  if (c.duplicates > 0) out.push(`${c.duplicates} duplicate series`);
  if (c.tasksGauge !== infoIds.size) out.push(`aliyun_sas_tasks = ${c.tasksGauge} beside ${infoIds.size} tasks served`);
  return out.slice(0, 5);
}
