/**
 * The latest virus scan of one account: GetVirusScanLatestTaskStatistic,
 * then ListVirusScanTask page by page for its machines. Runs within the
 * account's cycle, through the same rate limiter, retries and deadline as
 * the task polls.
 *
 * API economy: a scan that is complete, whose machines were listed whole,
 * is asked about again only at `terminal_recheck_interval` (that is also
 * how soon a new scan is noticed after a complete one): zero calls per cycle
 * in between. A running scan is listed whole each cycle: the API's
 * StatusList filter could list only the machines still running, but not say
 * which final state the others reached since the last listing, so listing
 * less would lose exactly what changed.
 */
import type { LatestScanConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { LatestScanState, MachineList, MachineState } from '../model/snapshot.js';
import { ACTIONS } from '../model/vocabulary.js';
import type { CallResult, VirusScanSource } from '../sas/types.js';
import type { ScanTaskRow } from '../sas/virusScan.js';
import { callWithRetries, type CycleBudget } from './cycle.js';

export interface LatestScanPoll {
  readonly config: LatestScanConfig;
  readonly source: VirusScanSource;
  readonly budget: CycleBudget;
  readonly recheckIntervalMs: number;
  readonly logger: Logger;
}

/** Whether a poll can be left out: a complete scan, listed whole, checked less than the interval ago. */
export function latestScanSettled(prev: LatestScanState, cfg: LatestScanConfig, now: number, recheckIntervalMs: number): boolean {
  if (prev.lastPollOk !== true || prev.scan?.status !== 'complete' || prev.lastPolledAt === undefined) return false;
  if (cfg.machines && cfg.maxMachines > 0 && prev.machines?.taskId !== prev.scan.taskId) return false;
  return now - prev.lastPolledAt < recheckIntervalMs;
}

/** A listed row as the exporter keeps it; the previous object when nothing changed (so renderers skip it). */
export function machineOf(row: ScanTaskRow & { uuid: string }, rootTaskId: string, previous: MachineState | undefined): MachineState {
  const m: MachineState = {
    uuid: row.uuid,
    rootTaskId,
    ...(row.taskId !== undefined ? { taskId: row.taskId } : {}),
    instanceName: row.instanceName ?? '',
    internetIp: row.internetIp ?? '',
    intranetIp: row.intranetIp ?? '',
    status: row.status,
    ...(row.rawStatus !== undefined ? { rawStatus: row.rawStatus } : {}),
    ...(row.progressPercent !== undefined ? { progressPercent: row.progressPercent } : {}),
    ...(row.startTimeMs !== undefined ? { startTimeMs: row.startTimeMs } : {}),
    ...(row.endTimeMs !== undefined ? { endTimeMs: row.endTimeMs } : {}),
  };
  return previous && sameMachine(previous, m) ? previous : m;
}

function sameMachine(a: MachineState, b: MachineState): boolean {
  return (
    a.uuid === b.uuid &&
    a.rootTaskId === b.rootTaskId &&
    a.taskId === b.taskId &&
    a.instanceName === b.instanceName &&
    a.internetIp === b.internetIp &&
    a.intranetIp === b.intranetIp &&
    a.status === b.status &&
    a.rawStatus === b.rawStatus &&
    a.progressPercent === b.progressPercent &&
    a.startTimeMs === b.startTimeMs &&
    a.endTimeMs === b.endTimeMs
  );
}

type Failure = Extract<CallResult<unknown>, { ok: false }>['error'];

function failed(prev: LatestScanState, error: Failure, at: number, keep: Partial<LatestScanState> = {}): LatestScanState {
  const { lastError: _e, ...rest } = prev;
  return { ...rest, ...keep, lastPollOk: false, lastError: { class: error.class, code: error.code }, lastPolledAt: at };
}

/**
 * Lists the machines of scan `taskId`: pages of `pageSize` until TotalCount
 * or `maxMachines` rows (whichever comes first), never again after a page
 * with no rows. One row per UUID (the first listed).
 */
async function listMachines(p: LatestScanPoll, taskId: string, previous: MachineList | undefined, at: () => number): Promise<CallResult<MachineList>> {
  const { config } = p;
  const before = new Map((previous?.taskId === taskId ? previous.rows : []).map((m) => [m.uuid, m]));
  const rows: MachineState[] = [];
  const seen = new Set<string>();
  let total: number | undefined;
  let dropped = 0;
  let withoutUuid = 0;
  // Enough pages for the cap, plus one: a service that keeps answering full pages cannot keep us here.
  const maxPages = Math.ceil(config.maxMachines / config.pageSize) + 1;
  for (let page = 1; page <= maxPages; page++) {
    const r = await callWithRetries(
      p.budget,
      ACTIONS.listVirusScanTask,
      () => p.source.listVirusScanTask({ rootTaskId: taskId, currentPage: page, pageSize: config.pageSize }),
      { action: ACTIONS.listVirusScanTask, root_task_id: taskId, page },
    );
    if (!r.ok) return r;
    total = r.value.page.totalCount ?? total;
    for (const row of r.value.rows) {
      if (row.uuid === undefined || row.uuid === '') {
        withoutUuid++;
        continue;
      }
      if (seen.has(row.uuid)) continue;
      seen.add(row.uuid);
      if (rows.length >= config.maxMachines) {
        dropped++;
        continue;
      }
      rows.push(machineOf({ ...row, uuid: row.uuid }, taskId, before.get(row.uuid)));
    }
    if (r.value.rows.length === 0) break; // never loop on a page that returns nothing
    if (total !== undefined && page * config.pageSize >= total) break;
    if (rows.length >= config.maxMachines) {
      // The cap is reached: the rest is counted from TotalCount, not fetched.
      if (total !== undefined) dropped = Math.max(dropped, total - rows.length - withoutUuid);
      break;
    }
  }
  if (withoutUuid > 0) p.logger.warn('ListVirusScanTask rows without a Uuid were left out', { root_task_id: taskId, rows: withoutUuid });
  return { ok: true, value: { taskId, rows, dropped, listedAt: at() } };
}

/**
 * The account's latest scan after one poll. A failure keeps what was known
 * and says so; a scan replaced by a newer one loses its machine list at once.
 */
export async function pollLatestScan(prev: LatestScanState, p: LatestScanPoll): Promise<LatestScanState> {
  const now = p.budget.deps.now;
  const stat = await callWithRetries(p.budget, ACTIONS.getVirusScanLatestTaskStatistic, () => p.source.getVirusScanLatestTaskStatistic(), { action: ACTIONS.getVirusScanLatestTaskStatistic });
  if (!stat.ok) return failed(prev, stat.error, now());
  for (const problem of stat.value.problems) p.logger.debug('GetVirusScanLatestTaskStatistic: field ignored', { field: problem.field, problem: problem.problem });
  const scan = stat.value.latest;
  if (!scan) return { lastPollOk: true, lastPolledAt: now(), lastSuccessAt: now() }; // never ran a scan: nothing else to say
  const listed = p.config.machines && p.config.maxMachines > 0 && scan.taskId !== undefined;
  if (!listed) return { lastPollOk: true, lastPolledAt: now(), lastSuccessAt: now(), scan };
  const sameScan = prev.machines?.taskId === scan.taskId;
  const list = await listMachines(p, scan.taskId!, prev.machines, now);
  if (!list.ok) {
    // The summary is new; the machines are kept only while they belong to this very scan.
    return failed(prev, list.error, now(), { scan, ...(sameScan && prev.machines ? { machines: prev.machines } : { machines: undefined }) });
  }
  if (list.value.dropped > 0 && (prev.machines?.taskId !== scan.taskId || prev.machines.dropped === 0)) {
    p.logger.warn('more machines than latest_scan.max_machines: the rest are counted, not exported', { root_task_id: scan.taskId, exported: list.value.rows.length, dropped: list.value.dropped });
  }
  return { lastPollOk: true, lastPolledAt: now(), lastSuccessAt: now(), scan, machines: list.value };
}
