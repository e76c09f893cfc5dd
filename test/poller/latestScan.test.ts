import { describe, expect, it } from 'vitest';
import type { LatestScanConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log/logger.js';
import type { LatestScanState } from '../../src/model/snapshot.js';
import { CycleBudget } from '../../src/poller/cycle.js';
import { nullAccountObserver } from '../../src/poller/observer.js';
import { latestScanSettled, pollLatestScan } from '../../src/poller/latestScan.js';
import { RateLimiter } from '../../src/poller/rateLimiter.js';
import type { CallResult, ListVirusScanTaskRequest, VirusScanSource } from '../../src/sas/types.js';
import type { LatestScanStatistic, ScanTaskPage, ScanTaskRow } from '../../src/sas/virusScan.js';

const ROOT = 'fc98d58eb56f699d49bf7ebbd6d70001';
const NEXT = 'fc98d58eb56f699d49bf7ebbd6d70002';

/** A scripted account: its latest scan and its machine rows, paged as the API pages them. */
class FakeScans implements VirusScanSource {
  statisticCalls = 0;
  listCalls: ListVirusScanTaskRequest[] = [];
  latest: LatestScanStatistic['latest'] | undefined;
  rows: ScanTaskRow[] = [];
  totalCount: number | undefined;
  failList: CallResult<ScanTaskPage> | undefined;
  emptyPagesFrom = Infinity;

  async getVirusScanLatestTaskStatistic(): Promise<CallResult<LatestScanStatistic>> {
    this.statisticCalls++;
    return { ok: true, value: { requestId: 'R', ...(this.latest ? { latest: this.latest } : {}), problems: [] } };
  }

  async listVirusScanTask(r: ListVirusScanTaskRequest): Promise<CallResult<ScanTaskPage>> {
    this.listCalls.push(r);
    if (this.failList) return this.failList;
    const page = r.currentPage ?? 1;
    const size = r.pageSize ?? 20;
    const rows = page >= this.emptyPagesFrom ? [] : this.rows.slice((page - 1) * size, page * size);
    return { ok: true, value: { requestId: 'R', rows, page: { currentPage: page, pageSize: size, totalCount: this.totalCount ?? this.rows.length }, problems: [] } };
  }
}

const scanOf = (taskId: string, status: 'running' | 'complete'): NonNullable<LatestScanStatistic['latest']> => ({
  taskId,
  status,
  progressPercent: status === 'complete' ? 100 : 40,
  scanTimeMs: 1_700_000_000_000,
  scanType: 'system',
  scanPaths: [],
  machines: { scanned: 3, complete: 1, uncomplete: 2, safe: 1, suspicious: 0 },
  suspiciousCount: 0,
  riskLevel: 'none',
});

const row = (i: number, status: ScanTaskRow['status'] = 'complete'): ScanTaskRow => ({
  taskId: `sub-${i}`,
  status,
  progressPercent: status === 'running' ? 50 : 100,
  startTimeMs: 1_700_000_000_000 + i,
  scanPaths: [],
  uuid: `uuid-${String(i).padStart(4, '0')}`,
  instanceName: `host-${i}`,
  internetIp: '8.210.XX.XX',
  intranetIp: '172.16.XX.XX',
});

const CFG: LatestScanConfig = { enabled: true, machines: true, maxMachines: 10_000, pageSize: 100 };

function poll(source: FakeScans, prev: LatestScanState = {}, cfg: LatestScanConfig = CFG) {
  const budget = new CycleBudget(
    { kind: 'schedule', concurrency: 4, retry: { maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1, maxRetriesPerCycle: 0 }, deadline: Infinity, signal: new AbortController().signal },
    { limiter: new RateLimiter({ qps: 10_000, burst: 10_000 }), observer: nullAccountObserver, logger: silentLogger, now: () => 1_000_000, random: () => 0.5, sleep: async () => {} },
  );
  return pollLatestScan(prev, { config: cfg, source, budget, recheckIntervalMs: 600_000, logger: silentLogger });
}

describe('pollLatestScan', () => {
  it('an account that never ran a scan: one call, a successful poll, nothing else', async () => {
    const src = new FakeScans();
    const s = await poll(src);
    expect(s).toEqual({ lastPollOk: true, lastPolledAt: 1_000_000, lastSuccessAt: 1_000_000 });
    expect(src.listCalls).toHaveLength(0);
  });

  it('lists 250 machines over 3 pages of 100, asking for the root task', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'running');
    src.rows = Array.from({ length: 250 }, (_, i) => row(i));
    const s = await poll(src);
    expect(src.listCalls.map((r) => [r.rootTaskId, r.currentPage, r.pageSize])).toEqual([
      [ROOT, 1, 100],
      [ROOT, 2, 100],
      [ROOT, 3, 100],
    ]);
    expect(s.machines?.rows).toHaveLength(250);
    expect(s.machines).toMatchObject({ taskId: ROOT, dropped: 0 });
    expect(s.machines!.rows[0]).toMatchObject({ uuid: 'uuid-0000', rootTaskId: ROOT, instanceName: 'host-0', status: 'complete', progressPercent: 100 });
  });

  it('stops at max_machines, counts the rest from TotalCount without fetching it', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'running');
    src.rows = Array.from({ length: 250 }, (_, i) => row(i));
    const s = await poll(src, {}, { ...CFG, maxMachines: 120 });
    expect(src.listCalls).toHaveLength(2);
    expect(s.machines!.rows).toHaveLength(120);
    expect(s.machines!.dropped).toBe(130);
  });

  it('never loops on a page that returns nothing, whatever TotalCount says', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'running');
    src.rows = Array.from({ length: 150 }, (_, i) => row(i));
    src.totalCount = 1_000_000;
    src.emptyPagesFrom = 2;
    const s = await poll(src);
    expect(src.listCalls).toHaveLength(2);
    expect(s.machines!.rows).toHaveLength(100);
  });

  it('a service that keeps sending full pages is stopped after the pages max_machines needs', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'running');
    src.rows = Array.from({ length: 100 }, (_, i) => row(i));
    // Every page the same 100 rows (duplicate UUIDs), TotalCount huge.
    src.listVirusScanTask = async (r) => {
      src.listCalls.push(r);
      return { ok: true, value: { requestId: 'R', rows: src.rows, page: { totalCount: 10_000_000 }, problems: [] } };
    };
    const s = await poll(src, {}, { ...CFG, maxMachines: 300 });
    expect(src.listCalls.length).toBeLessThanOrEqual(4);
    expect(s.machines!.rows).toHaveLength(100); // one row per UUID
  });

  it('a newer scan replaces the machine list at once', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'complete');
    src.rows = [row(1), row(2)];
    const first = await poll(src);
    src.latest = scanOf(NEXT, 'running');
    src.rows = [row(3, 'running')];
    const second = await poll(src, first);
    expect(second.machines).toMatchObject({ taskId: NEXT });
    expect(second.machines!.rows.map((m) => m.uuid)).toEqual(['uuid-0003']);
  });

  it('a failed listing keeps the machines of the same scan, says so, and drops those of another scan', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'running');
    src.rows = [row(1)];
    const first = await poll(src);
    src.failList = { ok: false, error: { class: 'api', code: 'NoPermission', retriable: false, message: 'denied', httpStatus: 403 } };
    const same = await poll(src, first);
    expect(same).toMatchObject({ lastPollOk: false, lastError: { class: 'api', code: 'NoPermission' }, scan: { taskId: ROOT } });
    expect(same.machines).toBe(first.machines);
    src.latest = scanOf(NEXT, 'running');
    const other = await poll(src, first);
    expect(other.machines).toBeUndefined();
    expect(other.scan?.taskId).toBe(NEXT);
  });

  it('keeps the very same machine objects when a row did not change (renderers skip them)', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'running');
    src.rows = [row(1, 'running'), row(2, 'complete')];
    const first = await poll(src);
    src.rows = [row(1, 'complete'), row(2, 'complete')];
    const second = await poll(src, first);
    expect(second.machines!.rows[0]).not.toBe(first.machines!.rows[0]);
    expect(second.machines!.rows[1]).toBe(first.machines!.rows[1]);
  });

  it('a complete scan listed whole is left alone until terminal_recheck_interval', async () => {
    const src = new FakeScans();
    src.latest = scanOf(ROOT, 'complete');
    src.rows = [row(1)];
    const s = await poll(src);
    expect(latestScanSettled(s, CFG, 1_000_000 + 599_999, 600_000)).toBe(true);
    expect(latestScanSettled(s, CFG, 1_000_000 + 600_000, 600_000)).toBe(false);
    expect(latestScanSettled({ ...s, scan: scanOf(ROOT, 'running') }, CFG, 1_000_001, 600_000)).toBe(false);
    expect(latestScanSettled({ ...s, lastPollOk: false }, CFG, 1_000_001, 600_000)).toBe(false);
  });
});
