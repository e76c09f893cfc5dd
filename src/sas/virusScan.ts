/**
 * Pure parsing of the two scan-results answers, GetVirusScanLatestTaskStatistic
 * and ListVirusScanTask, onto typed values in the exporter's vocabulary. No
 * I/O: unit tested on literal bodies.
 *
 * The quirks handled (sas-api.md "Scan results"):
 * - Progress is a string in the statistic ("92") and an integer in list rows;
 *   both accept either, and a trailing `%`.
 * - Times (ScanTime, StartTime, EndTime) are Unix milliseconds; numeric
 *   strings are accepted too.
 * - `Data` absent, null or `{}`: the account never ran a scan (not an error).
 * - Statuses are numbers: root 0 pending / 10 running / 100 complete; a
 *   machine 1 running / 2 complete / 3 failed / 4 timeout; anything else is
 *   `unknown` (kept in rawStatus).
 * - RiskLevel high / medium / low; absent means `none`.
 *
 * A malformed field is left out of the result and named in `problems`; only
 * a body that is not an object, a `Data` that is not an object or a `List`
 * that is not an array makes the whole answer unusable. Nothing here throws.
 */

import type { LatestScan } from '../model/snapshot.js';
import type { MachineScanStatus, RootScanStatus, ScanRiskLevel } from '../model/vocabulary.js';

export type { LatestScan };

/** The largest PageSize the API reference documents. */
export const MAX_PAGE_SIZE = 100;

const ROOT_BY_CODE: Readonly<Record<number, RootScanStatus>> = { 0: 'pending', 10: 'running', 100: 'complete' };
const MACHINE_BY_CODE: Readonly<Record<number, MachineScanStatus>> = { 1: 'running', 2: 'complete', 3: 'failed', 4: 'timeout' };

export function rootScanStatus(code: number | undefined): RootScanStatus {
  return code === undefined ? 'unknown' : (ROOT_BY_CODE[code] ?? 'unknown');
}

export function machineScanStatus(code: number | undefined): MachineScanStatus {
  return code === undefined ? 'unknown' : (MACHINE_BY_CODE[code] ?? 'unknown');
}

export interface FieldProblem {
  /** Where, e.g. `Data.Progress`, `List[3].StartTime`, `PageInfo.TotalCount`. */
  readonly field: string;
  readonly problem: string;
}

export interface LatestScanStatistic {
  readonly requestId: string;
  /** Undefined: the account never ran a scan (`Data` absent, null or empty). */
  readonly latest?: LatestScan;
  readonly problems: readonly FieldProblem[];
}

/** One row of ListVirusScanTask: one machine's subtask. */
export interface ScanTaskRow {
  readonly taskId?: string;
  readonly taskName?: string;
  readonly status: MachineScanStatus;
  readonly rawStatus?: number;
  readonly progressPercent?: number;
  readonly startTimeMs?: number;
  /** Absent while the machine still runs. */
  readonly endTimeMs?: number;
  readonly scanType?: string;
  readonly scanPaths: readonly string[];
  readonly uuid?: string;
  readonly instanceName?: string;
  readonly internetIp?: string;
  readonly intranetIp?: string;
}

export interface ScanTaskPage {
  readonly requestId: string;
  readonly rows: readonly ScanTaskRow[];
  readonly page: {
    readonly currentPage?: number;
    readonly pageSize?: number;
    readonly totalCount?: number;
    /** Rows in this page, when the service says. */
    readonly count?: number;
  };
  readonly problems: readonly FieldProblem[];
}

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly detail: string };

// --- field readers ---------------------------------------------------------

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

class Reader {
  readonly problems: FieldProblem[] = [];

  constructor(private readonly prefix: string) {}

  private bad(field: string, v: unknown, expected: string): undefined {
    this.problems.push({ field: `${this.prefix}${field}`, problem: `expected ${expected}, got ${show(v)}` });
    return undefined;
  }

  note(field: string, problem: string): void {
    this.problems.push({ field: `${this.prefix}${field}`, problem });
  }

  string(o: Obj, field: string): string | undefined {
    const v = o[field];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : this.bad(field, v, 'a string');
  }

  /** A whole number >= 0, also from a string of digits. */
  count(o: Obj, field: string): number | undefined {
    const v = o[field];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d{1,16}\s*$/.test(v) ? Number(v) : NaN;
    return Number.isSafeInteger(n) && n >= 0 ? n : this.bad(field, v, 'a whole number');
  }

  /** A status code: any integer, also from a string. */
  code(o: Obj, field: string): number | undefined {
    const v = o[field];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d{1,9}\s*$/.test(v) ? Number(v) : NaN;
    return Number.isSafeInteger(n) ? n : this.bad(field, v, 'an integer status');
  }

  /** A percentage 0..100, a number or a string ("92", "92.5", "92%"). */
  percent(o: Obj, field: string): number | undefined {
    const v = o[field];
    if (v === undefined || v === null) return undefined;
    let n = NaN;
    if (typeof v === 'number') n = v;
    else if (typeof v === 'string' && /^\s*\d{1,3}(\.\d+)?\s*%?\s*$/.test(v)) n = Number.parseFloat(v);
    return Number.isFinite(n) && n >= 0 && n <= 100 ? n : this.bad(field, v, 'a percentage 0..100');
  }

  /** Unix milliseconds (integer > 0), also from a string of digits. */
  millis(o: Obj, field: string): number | undefined {
    const v = o[field];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d{1,16}\s*$/.test(v) ? Number(v) : NaN;
    return Number.isSafeInteger(n) && n > 0 ? n : this.bad(field, v, 'a time in Unix milliseconds');
  }

  strings(o: Obj, field: string): string[] {
    const v = o[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.bad(field, v, 'a list of strings');
      return [];
    }
    const out: string[] = [];
    v.forEach((x, i) => {
      if (typeof x === 'string') out.push(x);
      else this.bad(`${field}[${i}]`, x, 'a string');
    });
    return out;
  }
}

function requestIdOf(b: Obj): string {
  return typeof b.RequestId === 'string' ? b.RequestId : '';
}

// --- GetVirusScanLatestTaskStatistic ----------------------------------------

export function parseLatestStatisticBody(body: unknown): ParseResult<LatestScanStatistic> {
  if (!isObject(body)) return { ok: false, detail: 'response body is not a JSON object' };
  const requestId = requestIdOf(body);
  const data = body.Data;
  if (data === undefined || data === null || (isObject(data) && Object.keys(data).length === 0)) {
    return { ok: true, value: { requestId, problems: [] } };
  }
  if (!isObject(data)) return { ok: false, detail: `Data is not an object (${show(data)})` };
  const r = new Reader('Data.');
  const rawStatus = r.code(data, 'Status');
  if (rawStatus !== undefined && ROOT_BY_CODE[rawStatus] === undefined) r.note('Status', `undocumented root status ${rawStatus}`);
  const rawRisk = r.string(data, 'RiskLevel');
  let riskLevel: ScanRiskLevel = 'none';
  if (rawRisk !== undefined && rawRisk !== '') {
    const lower = rawRisk.trim().toLowerCase();
    riskLevel = lower === 'high' || lower === 'medium' || lower === 'low' ? lower : 'unknown';
    if (riskLevel === 'unknown') r.note('RiskLevel', `undocumented risk level ${show(rawRisk)}`);
  }
  const taskId = r.string(data, 'TaskId');
  if (taskId === undefined && data.TaskId === undefined) r.note('TaskId', 'missing');
  const latest: LatestScan = {
    ...(taskId !== undefined ? { taskId } : {}),
    status: rootScanStatus(rawStatus),
    ...(rawStatus !== undefined ? { rawStatus } : {}),
    ...opt('progressPercent', r.percent(data, 'Progress')),
    ...opt('scanTimeMs', r.millis(data, 'ScanTime')),
    ...opt('scanType', r.string(data, 'ScanType')),
    scanPaths: r.strings(data, 'ScanPath'),
    machines: {
      ...opt('scanned', r.count(data, 'ScanMachine')),
      ...opt('complete', r.count(data, 'CompleteMachine')),
      ...opt('uncomplete', r.count(data, 'UnCompleteMachine')),
      ...opt('safe', r.count(data, 'SafeMachine')),
      ...opt('suspicious', r.count(data, 'SuspiciousMachine')),
    },
    ...opt('suspiciousCount', r.count(data, 'SuspiciousCount')),
    riskLevel,
    ...opt('machineName', r.string(data, 'MachineName')),
  };
  const m = latest.machines;
  if (m.scanned !== undefined && m.complete !== undefined && m.uncomplete !== undefined && m.complete + m.uncomplete !== m.scanned) {
    r.note('ScanMachine', `CompleteMachine ${m.complete} + UnCompleteMachine ${m.uncomplete} is not ScanMachine ${m.scanned}`);
  }
  if (m.scanned !== undefined && m.safe !== undefined && m.suspicious !== undefined && m.safe + m.suspicious > m.scanned) {
    r.note('ScanMachine', `SafeMachine ${m.safe} + SuspiciousMachine ${m.suspicious} exceeds ScanMachine ${m.scanned}`);
  }
  if (m.suspicious === 0 && riskLevel !== 'none' && riskLevel !== 'unknown') r.note('RiskLevel', `${riskLevel} with no suspicious machine`);
  return { ok: true, value: { requestId, latest, problems: r.problems } };
}

// --- ListVirusScanTask -------------------------------------------------------

export function parseScanTaskListBody(body: unknown): ParseResult<ScanTaskPage> {
  if (!isObject(body)) return { ok: false, detail: 'response body is not a JSON object' };
  const requestId = requestIdOf(body);
  const list = body.List;
  if (list !== undefined && list !== null && !Array.isArray(list)) return { ok: false, detail: `List is not a list (${show(list)})` };
  const problems: FieldProblem[] = [];
  const rows: ScanTaskRow[] = [];
  (list ?? []).forEach((raw: unknown, i: number) => {
    const r = new Reader(`List[${i}].`);
    if (!isObject(raw)) {
      problems.push({ field: `List[${i}]`, problem: `expected an object, got ${show(raw)}` });
      return;
    }
    const rawStatus = r.code(raw, 'Status');
    if (rawStatus !== undefined && MACHINE_BY_CODE[rawStatus] === undefined) r.note('Status', `undocumented status ${rawStatus}`);
    if (raw.Status === undefined) r.note('Status', 'missing');
    rows.push({
      ...opt('taskId', r.string(raw, 'TaskId')),
      ...opt('taskName', r.string(raw, 'TaskName')),
      status: machineScanStatus(rawStatus),
      ...(rawStatus !== undefined ? { rawStatus } : {}),
      ...opt('progressPercent', r.percent(raw, 'Progress')),
      ...opt('startTimeMs', r.millis(raw, 'StartTime')),
      ...opt('endTimeMs', r.millis(raw, 'EndTime')),
      ...opt('scanType', r.string(raw, 'ScanType')),
      scanPaths: r.strings(raw, 'ScanPath'),
      ...opt('uuid', r.string(raw, 'Uuid')),
      ...opt('instanceName', r.string(raw, 'InstanceName')),
      ...opt('internetIp', r.string(raw, 'InternetIp')),
      ...opt('intranetIp', r.string(raw, 'IntranetIp')),
    });
    problems.push(...r.problems);
  });
  const pr = new Reader('PageInfo.');
  let page: ScanTaskPage['page'] = {};
  const info = body.PageInfo;
  if (isObject(info)) {
    page = {
      ...opt('currentPage', pr.count(info, 'CurrentPage')),
      ...opt('pageSize', pr.count(info, 'PageSize')),
      ...opt('totalCount', pr.count(info, 'TotalCount')),
      ...opt('count', pr.count(info, 'Count')),
    };
  } else if (info !== undefined && info !== null) {
    pr.note('', `expected an object, got ${show(info)}`);
  }
  const n = (list ?? []).length;
  if (page.count !== undefined && page.count !== n) pr.note('Count', `says ${page.count} rows, the page has ${n}`);
  if (page.pageSize !== undefined && n > page.pageSize) pr.note('PageSize', `${page.pageSize}, but the page has ${n} rows`);
  if (page.totalCount !== undefined && page.currentPage !== undefined && page.pageSize !== undefined) {
    const seen = (page.currentPage - 1) * page.pageSize + n;
    if (n > 0 && page.totalCount < seen) pr.note('TotalCount', `${page.totalCount}, but this page reaches row ${seen}`);
  }
  problems.push(...pr.problems.map((p) => (p.field === 'PageInfo.' ? { ...p, field: 'PageInfo' } : p)));
  return { ok: true, value: { requestId, rows, page, problems } };
}

/** How many pages a TotalCount spreads over. */
export function pageCount(totalCount: number, pageSize: number): number {
  return pageSize > 0 && totalCount > 0 ? Math.ceil(totalCount / pageSize) : 0;
}

function opt<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}
