/**
 * The scan-results side of the simulated service: GetVirusScanLatestTaskStatistic
 * and ListVirusScanTask (Security Center 2018-12-03).
 *
 * An account has a sequence of virus scans; each becomes "the latest" at its
 * `atMs` on the timeline clock and replaces the one before. A scan is a root
 * task (32 hex digits) with one subtask per machine; each machine follows its
 * own timeline running(1) -> complete(2) / failed(3) / timed out(4).
 *
 * Everything here is pure: the server passes the elapsed time and the wall
 * clock reading at start, and gets bodies back.
 *
 * Choices where the API reference says nothing (documented in
 * config/simulator.example.yaml):
 * - root Status is 0 during the scan's `pending` time (no rows listed yet),
 *   then 10 while any machine runs, then 100; root Progress is the share of
 *   machines no longer running, as a string ("100" once Status is 100);
 * - a machine's alerts count once it stops running; SafeMachine is the
 *   finished machines without alerts, so SafeMachine + SuspiciousMachine is
 *   the number of finished machines (the API page's example, 3 scanned,
 *   2 complete, 1 safe, 2 suspicious, fits this reading);
 *   UnCompleteMachine = ScanMachine - CompleteMachine;
 * - MachineName is the instance name of the scan's first machine;
 * - StartTime/EndTime filters select rows whose StartTime lies in the range;
 *   MachineName, InternetIp and IntranetIp filters match substrings
 *   (MachineName ignoring case); RootTask is accepted and ignored;
 * - PageSize above 100 is refused with InvalidParameter (the reference stops
 *   at 100 and says nothing about more).
 */
import type { ApiError } from './errors.js';
import { hash32, mulberry32 } from './prng.js';

/** The API's fixed TaskName of a virus scan subtask. */
export const SUBTASK_NAME = 'VIRUS_VUL_SCHEDULE_SCAN';
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const MACHINE_STATUSES = ['running', 'complete', 'failed', 'timeout'] as const;
export type MachineStatus = (typeof MACHINE_STATUSES)[number];
export const MACHINE_STATUS_CODES: Readonly<Record<MachineStatus, number>> = { running: 1, complete: 2, failed: 3, timeout: 4 };

export const RISK_LEVELS = ['high', 'medium', 'low'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];
export const SCAN_TYPES = ['system', 'user'] as const;
export type ScanType = (typeof SCAN_TYPES)[number];
/** How an account that never ran a scan answers GetVirusScanLatestTaskStatistic: no `Data`, or `Data: {}`. */
export const NO_SCAN_DATA_FORMS = ['absent', 'empty'] as const;
export type NoScanData = (typeof NO_SCAN_DATA_FORMS)[number];

export const ROOT_STATUS = { pending: 0, running: 10, complete: 100 } as const;

export interface MachineStep {
  readonly status: MachineStatus;
  /** How long the step lasts; the last step holds forever. */
  readonly forMs?: number;
  /**
   * Progress shown during the step. Default: a running step with a duration
   * climbs from 0 to 99 across it (0 when it holds forever); complete is 100;
   * failed and timeout keep what the step before reached.
   */
  readonly progress?: number;
}

export interface MachineSpec {
  readonly uuid: string;
  readonly instanceName: string;
  readonly internetIp?: string;
  readonly intranetIp?: string;
  /** The subtask's 32-hex TaskId; generated from the seed when absent. */
  readonly subtaskId?: string;
  /** Starts when the scan starts (after `pendingMs`). */
  readonly timeline: readonly MachineStep[];
  /** Alerts found on this machine (0: safe). They count once the machine stops running. */
  readonly alerts: number;
  /** Highest risk of its alerts; only with alerts > 0. */
  readonly riskLevel?: RiskLevel;
}

/** Machines drawn from a PRNG seeded by the scenario seed: a benchmark's 10,000 servers without 10,000 lines of YAML. */
export interface MachineGenerator {
  readonly count: number;
  /** Instance names are the prefix and a zero-padded 1-based number. */
  readonly namePrefix: string;
  /** Each machine runs for a time drawn uniformly from [runMinMs, runMaxMs], then ends. */
  readonly runMinMs: number;
  readonly runMaxMs: number;
  /** Shares of machines that end failed and timed out; the rest complete. */
  readonly failedRate: number;
  readonly timeoutRate: number;
  /** Share of machines with alerts (1..maxAlerts, risk drawn uniformly from high/medium/low). */
  readonly suspiciousRate: number;
  readonly maxAlerts: number;
}

export interface VirusScanSpec {
  /** When it becomes the account's latest scan, ms on the timeline clock. */
  readonly atMs: number;
  /** 32 lowercase hex digits; generated from the seed when absent. */
  readonly taskId?: string;
  readonly scanType: ScanType;
  /** Only for scanType user. */
  readonly scanPaths: readonly string[];
  /** Root Status 0 (to be started) for this long after `atMs`; machines start after it. */
  readonly pendingMs: number;
  /** Fixed ScanTime (Unix ms); default: the wall clock when the scan starts. StartTime/EndTime follow it. */
  readonly scanTimeMs?: number;
  readonly machines: readonly MachineSpec[] | MachineGenerator;
}

export function isGenerator(m: VirusScanSpec['machines']): m is MachineGenerator {
  return !Array.isArray(m);
}

// --- compiled form ---------------------------------------------------------

interface CompiledStep {
  readonly status: MachineStatus;
  readonly code: number;
  /** Offsets from the scan's start; endMs is Infinity for the last step. */
  readonly startMs: number;
  readonly endMs: number;
  readonly progress?: number;
  /** Progress reached when the previous step ended (for failed/timeout defaults). */
  readonly carried: number;
}

export interface Machine {
  readonly subtaskId: string;
  readonly uuid: string;
  readonly instanceName: string;
  readonly internetIp?: string;
  readonly intranetIp?: string;
  readonly steps: readonly CompiledStep[];
  readonly alerts: number;
  readonly riskLevel?: RiskLevel;
}

export interface CompiledScan {
  readonly taskId: string;
  readonly atMs: number;
  /** atMs + pendingMs: when the machines start. */
  readonly startMs: number;
  readonly scanType: ScanType;
  readonly scanPaths: readonly string[];
  readonly scanTimeMs?: number;
  readonly machines: readonly Machine[];
}

function hex32(random: () => number): string {
  let out = '';
  for (let i = 0; i < 4; i++) out += Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return out;
}

function uuidFrom(hex: string): string {
  const h = `${hex.slice(0, 12)}4${hex.slice(13, 16)}${'89ab'[parseInt(hex[16]!, 16) & 3]}${hex.slice(17, 32)}`;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function compileSteps(timeline: readonly MachineStep[]): CompiledStep[] {
  const out: CompiledStep[] = [];
  let start = 0;
  let carried = 0;
  timeline.forEach((s, i) => {
    const last = i === timeline.length - 1;
    const end = last ? Infinity : start + (s.forMs ?? 0);
    out.push({
      status: s.status,
      code: MACHINE_STATUS_CODES[s.status],
      startMs: start,
      endMs: end,
      ...(s.progress !== undefined ? { progress: s.progress } : {}),
      carried,
    });
    carried =
      s.status === 'complete' ? 100 : s.status === 'running' ? (s.progress ?? (Number.isFinite(end) && end > start ? 99 : 0)) : (s.progress ?? carried);
    start = end;
  });
  return out;
}

/**
 * Builds the runtime form of an account's scans. `scope` separates the PRNG
 * streams of accounts; the same seed and scope give the same IDs and machines.
 */
export function compileScans(specs: readonly VirusScanSpec[], seed: number, scope: string): CompiledScan[] {
  return specs.map((spec, index) => {
    const ids = mulberry32(hash32(`${seed}/${scope}/scan:${index}/ids`));
    const taskId = spec.taskId ?? hex32(ids);
    let machines: Machine[];
    if (isGenerator(spec.machines)) {
      machines = generateMachines(spec.machines, mulberry32(hash32(`${seed}/${scope}/scan:${index}/machines`)));
    } else {
      machines = spec.machines.map((m) => {
        const subtaskId = m.subtaskId ?? hex32(ids);
        return {
          subtaskId,
          uuid: m.uuid,
          instanceName: m.instanceName,
          ...(m.internetIp !== undefined ? { internetIp: m.internetIp } : {}),
          ...(m.intranetIp !== undefined ? { intranetIp: m.intranetIp } : {}),
          steps: compileSteps(m.timeline),
          alerts: m.alerts,
          ...(m.riskLevel !== undefined ? { riskLevel: m.riskLevel } : {}),
        };
      });
    }
    return {
      taskId,
      atMs: spec.atMs,
      startMs: spec.atMs + spec.pendingMs,
      scanType: spec.scanType,
      scanPaths: spec.scanPaths,
      ...(spec.scanTimeMs !== undefined ? { scanTimeMs: spec.scanTimeMs } : {}),
      machines,
    };
  });
}

function generateMachines(g: MachineGenerator, random: () => number): Machine[] {
  const width = String(g.count).length;
  const out: Machine[] = new Array(g.count);
  const byte = (): number => Math.floor(random() * 256);
  for (let i = 0; i < g.count; i++) {
    const subtaskId = hex32(random);
    const uuid = uuidFrom(hex32(random));
    const run = g.runMinMs + Math.floor(random() * (g.runMaxMs - g.runMinMs + 1));
    const draw = random();
    const end: MachineStatus = draw < g.failedRate ? 'failed' : draw < g.failedRate + g.timeoutRate ? 'timeout' : 'complete';
    const suspicious = random() < g.suspiciousRate;
    const alerts = suspicious ? 1 + Math.floor(random() * g.maxAlerts) : 0;
    const risk = RISK_LEVELS[Math.floor(random() * RISK_LEVELS.length)]!;
    out[i] = {
      subtaskId,
      uuid,
      instanceName: `${g.namePrefix}${String(i + 1).padStart(width, '0')}`,
      internetIp: `47.${byte()}.${byte()}.${byte()}`,
      intranetIp: `172.${16 + (byte() & 15)}.${byte()}.${byte()}`,
      steps: compileSteps(run > 0 ? [{ status: 'running', forMs: run }, { status: end }] : [{ status: end }]),
      alerts,
      ...(suspicious ? { riskLevel: risk } : {}),
    };
  }
  return out;
}

// --- evaluation ------------------------------------------------------------

export interface MachineState {
  readonly code: number;
  readonly running: boolean;
  readonly progress: number;
  /** Offset from the scan's start at which the current terminal step began; undefined while running. */
  readonly endOffsetMs?: number;
}

/** The machine `t` ms after its scan started (t >= 0). */
export function machineAt(m: Machine, t: number): MachineState {
  const steps = m.steps;
  let i = 0;
  while (i < steps.length - 1 && t >= steps[i]!.endMs) i++;
  const s = steps[i]!;
  switch (s.status) {
    case 'running': {
      let progress = s.progress;
      if (progress === undefined) {
        progress = Number.isFinite(s.endMs) && s.endMs > s.startMs ? Math.floor((99 * (t - s.startMs)) / (s.endMs - s.startMs)) : 0;
      }
      return { code: s.code, running: true, progress: Math.max(0, Math.min(99, progress)) };
    }
    case 'complete':
      return { code: s.code, running: false, progress: s.progress ?? 100, endOffsetMs: s.startMs };
    default:
      return { code: s.code, running: false, progress: s.progress ?? s.carried, endOffsetMs: s.startMs };
  }
}

/** The scan that is the account's latest at `elapsedMs`, if any. */
export function latestScan(scans: readonly CompiledScan[], elapsedMs: number): CompiledScan | undefined {
  let latest: CompiledScan | undefined;
  for (const s of scans) if (s.atMs <= elapsedMs) latest = s;
  return latest;
}

/** ScanTime of a scan, and the base of its machines' StartTime/EndTime. */
export function scanWallStart(scan: CompiledScan, epochMs: number): number {
  return scan.scanTimeMs ?? epochMs + scan.startMs;
}

const RISK_RANK: Readonly<Record<RiskLevel, number>> = { low: 1, medium: 2, high: 3 };

/** The `Data` object of GetVirusScanLatestTaskStatistic for one scan. */
export function statisticData(scan: CompiledScan, elapsedMs: number, epochMs: number): Record<string, unknown> {
  const n = scan.machines.length;
  const data: Record<string, unknown> = {
    TaskId: scan.taskId,
    ScanType: scan.scanType,
    ScanTime: scanWallStart(scan, epochMs),
  };
  if (scan.scanType === 'user') data.ScanPath = [...scan.scanPaths];
  if (n > 0) data.MachineName = scan.machines[0]!.instanceName;
  if (elapsedMs < scan.startMs) {
    return {
      ...data,
      Status: ROOT_STATUS.pending,
      Progress: '0',
      ScanMachine: n,
      CompleteMachine: 0,
      UnCompleteMachine: n,
      SafeMachine: 0,
      SuspiciousMachine: 0,
      SuspiciousCount: 0,
    };
  }
  const t = elapsedMs - scan.startMs;
  let complete = 0;
  let finished = 0;
  let suspicious = 0;
  let alerts = 0;
  let risk = 0;
  for (const m of scan.machines) {
    const st = machineAt(m, t);
    if (st.code === MACHINE_STATUS_CODES.complete) complete++;
    if (st.running) continue;
    finished++;
    if (m.alerts > 0) {
      suspicious++;
      alerts += m.alerts;
      risk = Math.max(risk, RISK_RANK[m.riskLevel ?? 'medium']);
    }
  }
  const done = finished === n;
  const out: Record<string, unknown> = {
    ...data,
    Status: done ? ROOT_STATUS.complete : ROOT_STATUS.running,
    Progress: String(done ? 100 : Math.floor((100 * finished) / n)),
    ScanMachine: n,
    CompleteMachine: complete,
    UnCompleteMachine: n - complete,
    SafeMachine: finished - suspicious,
    SuspiciousMachine: suspicious,
    SuspiciousCount: alerts,
  };
  if (suspicious > 0) out.RiskLevel = (Object.keys(RISK_RANK) as RiskLevel[]).find((k) => RISK_RANK[k] === risk);
  return out;
}

// --- ListVirusScanTask -----------------------------------------------------

export type ParamList = ReadonlyArray<readonly [string, string]>;

export interface ListQuery {
  readonly currentPage: number;
  readonly pageSize: number;
  readonly rootTaskId?: string;
  readonly taskId?: string;
  /** Status and StatusList together: a row must match both. */
  readonly status?: number;
  readonly statusList?: readonly number[];
  readonly scanType?: string;
  readonly machineName?: string;
  readonly internetIp?: string;
  readonly intranetIp?: string;
  readonly startTime?: number;
  readonly endTime?: number;
}

export const invalidParameter = (name: string): ApiError => ({
  status: 400,
  code: 'InvalidParameter',
  message: `The specified parameter ${name} is not valid.`,
});

function first(params: ParamList, name: string): string | undefined {
  for (const [k, v] of params) if (k === name) return v;
  return undefined;
}

function integer(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d{1,16}$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * StatusList as the SDK flattens a list (`StatusList.1=2&StatusList.2=3`),
 * or given whole as a JSON array (`[2,3]`) or comma-separated (`2,3`).
 */
function readStatusList(params: ParamList): number[] | undefined | 'invalid' {
  const indexed: Array<[number, string]> = [];
  let whole: string | undefined;
  for (const [k, v] of params) {
    if (k === 'StatusList') whole ??= v;
    const m = /^StatusList\.(\d{1,4})$/.exec(k);
    if (m) indexed.push([Number(m[1]), v]);
  }
  if (indexed.length === 0 && whole === undefined) return undefined;
  let texts: string[];
  if (indexed.length > 0) {
    texts = indexed.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  } else if (whole!.trim().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(whole!);
    } catch {
      return 'invalid';
    }
    if (!Array.isArray(parsed)) return 'invalid';
    texts = parsed.map((x) => (typeof x === 'number' || typeof x === 'string' ? String(x) : 'x'));
  } else {
    texts = whole!.split(',');
  }
  const out: number[] = [];
  for (const t of texts) {
    const n = integer(t);
    if (n === undefined) return 'invalid';
    out.push(n);
  }
  return out;
}

/** Reads and checks the request's parameters (query and form body merged, the query first). */
export function readListQuery(params: ParamList): { ok: true; query: ListQuery } | { ok: false; error: ApiError } {
  const q: { -readonly [K in keyof ListQuery]: ListQuery[K] } = { currentPage: 1, pageSize: DEFAULT_PAGE_SIZE };
  const page = first(params, 'CurrentPage');
  if (page !== undefined && page !== '') {
    const n = integer(page);
    if (n === undefined || n < 1) return { ok: false, error: invalidParameter('CurrentPage') };
    q.currentPage = n;
  }
  const size = first(params, 'PageSize');
  if (size !== undefined && size !== '') {
    const n = integer(size);
    if (n === undefined || n < 1 || n > MAX_PAGE_SIZE) return { ok: false, error: invalidParameter('PageSize') };
    q.pageSize = n;
  }
  const status = first(params, 'Status');
  if (status !== undefined && status !== '') {
    const n = integer(status);
    if (n === undefined) return { ok: false, error: invalidParameter('Status') };
    q.status = n;
  }
  const list = readStatusList(params);
  if (list === 'invalid') return { ok: false, error: invalidParameter('StatusList') };
  if (list !== undefined && list.length > 0) q.statusList = list;
  for (const [name, key] of [
    ['StartTime', 'startTime'],
    ['EndTime', 'endTime'],
  ] as const) {
    const v = first(params, name);
    if (v === undefined || v === '') continue;
    const n = integer(v);
    if (n === undefined || n < 0) return { ok: false, error: invalidParameter(name) };
    q[key] = n;
  }
  const rootTask = first(params, 'RootTask');
  if (rootTask !== undefined && rootTask !== '' && !/^(true|false)$/i.test(rootTask)) return { ok: false, error: invalidParameter('RootTask') };
  for (const [name, key] of [
    ['RootTaskId', 'rootTaskId'],
    ['TaskId', 'taskId'],
    ['ScanType', 'scanType'],
    ['MachineName', 'machineName'],
    ['InternetIp', 'internetIp'],
    ['IntranetIp', 'intranetIp'],
  ] as const) {
    const v = first(params, name);
    if (v !== undefined && v !== '') q[key] = v;
  }
  return { ok: true, query: q };
}

export interface ListResult {
  readonly rows: Array<Record<string, unknown>>;
  readonly totalCount: number;
}

/**
 * The rows of every started scan of the account that match, newest scan
 * first, machines in declaration order; only the requested page is built.
 */
export function listRows(scans: readonly CompiledScan[], elapsedMs: number, epochMs: number, q: ListQuery): ListResult {
  const from = (q.currentPage - 1) * q.pageSize;
  const to = from + q.pageSize;
  const rows: Array<Record<string, unknown>> = [];
  const statuses = q.statusList ? new Set(q.statusList) : undefined;
  const nameNeedle = q.machineName?.toLowerCase();
  let total = 0;
  for (let s = scans.length - 1; s >= 0; s--) {
    const scan = scans[s]!;
    if (scan.atMs > elapsedMs || scan.startMs > elapsedMs) continue;
    if (q.rootTaskId !== undefined && scan.taskId !== q.rootTaskId) continue;
    if (q.scanType !== undefined && scan.scanType !== q.scanType) continue;
    const wall = scanWallStart(scan, epochMs);
    if (q.startTime !== undefined && wall < q.startTime) continue;
    if (q.endTime !== undefined && wall > q.endTime) continue;
    const t = elapsedMs - scan.startMs;
    for (const m of scan.machines) {
      if (q.taskId !== undefined && m.subtaskId !== q.taskId) continue;
      if (nameNeedle !== undefined && !m.instanceName.toLowerCase().includes(nameNeedle)) continue;
      if (q.internetIp !== undefined && !(m.internetIp ?? '').includes(q.internetIp)) continue;
      if (q.intranetIp !== undefined && !(m.intranetIp ?? '').includes(q.intranetIp)) continue;
      let st: MachineState | undefined;
      if (q.status !== undefined || statuses) {
        st = machineAt(m, t);
        if (q.status !== undefined && st.code !== q.status) continue;
        if (statuses && !statuses.has(st.code)) continue;
      }
      if (total >= from && total < to) rows.push(rowOf(scan, m, st ?? machineAt(m, t), wall));
      total++;
    }
  }
  return { rows, totalCount: total };
}

function rowOf(scan: CompiledScan, m: Machine, st: MachineState, wall: number): Record<string, unknown> {
  const row: Record<string, unknown> = {
    TaskId: m.subtaskId,
    TaskName: SUBTASK_NAME,
    Status: st.code,
    Progress: st.progress,
    StartTime: wall,
  };
  if (st.endOffsetMs !== undefined) row.EndTime = wall + st.endOffsetMs;
  row.ScanType = scan.scanType;
  if (scan.scanType === 'user') row.ScanPath = [...scan.scanPaths];
  row.Uuid = m.uuid;
  row.InstanceName = m.instanceName;
  if (m.internetIp !== undefined) row.InternetIp = m.internetIp;
  if (m.intranetIp !== undefined) row.IntranetIp = m.intranetIp;
  return row;
}

/** `fault`: `empty_page` sends no rows, `total_count_mismatch` shifts TotalCount by `delta`. */
export function listBody(
  requestId: string,
  result: ListResult,
  q: ListQuery,
  fault?: { readonly kind: string; readonly delta?: number },
): string {
  const rows = fault?.kind === 'empty_page' ? [] : result.rows;
  const total = fault?.kind === 'total_count_mismatch' ? Math.max(0, result.totalCount + (fault.delta ?? 1)) : result.totalCount;
  return JSON.stringify({
    RequestId: requestId,
    List: rows,
    PageInfo: { CurrentPage: q.currentPage, PageSize: q.pageSize, TotalCount: total, Count: rows.length },
  });
}

/** `Data` absent (or `{}` with noScanData 'empty') when the account has no scan yet, or when `missing_data` fires. */
export function statisticBody(
  requestId: string,
  scans: readonly CompiledScan[],
  elapsedMs: number,
  epochMs: number,
  noScanData: NoScanData,
  missingData = false,
): string {
  const scan = missingData ? undefined : latestScan(scans, elapsedMs);
  if (!scan) return JSON.stringify(noScanData === 'empty' ? { RequestId: requestId, Data: {} } : { RequestId: requestId });
  return JSON.stringify({ RequestId: requestId, Data: statisticData(scan, elapsedMs, epochMs) });
}
