/**
 * A stand-in for the exporter's /metrics, for testing rules and dashboard
 * queries against a real Prometheus without polling anything: a fixed
 * snapshot rendered by the exporter's own metrics code (src/metrics), and
 * real self-metrics whose counters grow with every scrape.
 *
 * Tasks served, in each account:
 *   1001 "nightly full scan": failed, a server and a server group
 *   1002 "weekly":            processing, one server group
 *   1003 (no name):           configured, never polled successfully (polls fail: NoPermission)
 * Accounts: `prod` and `staging` (the multi-account form, default), or the
 * single-account form without an `account` label.
 *
 * The latest virus scan of each account (latest_scan enabled, machines listed):
 *   prod (and the single account): FAKE_SCANS.complete, a user scan started
 *     two days ago, complete, five machines: three complete (two of them
 *     suspicious: 5 alerts, risk high), one failed, one timed out
 *   staging: FAKE_SCANS.running, a system scan started 30 hours ago, still
 *     running (40 %), four machines: one complete, two running, one timed out
 *     whose UUID is also a machine of prod (a machine is (account, uuid))
 */
import { createServer, type Server } from 'node:http';
import { ExpositionCache } from '../../src/metrics/cache.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { LatestScanState, MachineState, Snapshot, TaskState } from '../../src/model/snapshot.js';
import { ACTIONS } from '../../src/model/vocabulary.js';

export interface FakeExporter {
  /** host:port to scrape. */
  readonly address: string;
  readonly scrapes: number;
  close(): Promise<void>;
}

export const FAKE_ACCOUNTS = ['prod', 'staging'] as const;

/** The task IDs of the fake latest scans (32 hex digits, as the API gives them). */
export const FAKE_SCANS = { complete: 'f00dfacef00dfacef00dfacef00d0001', running: 'f00dfacef00dfacef00dfacef00d0002' } as const;

/** The machines of the fake scans whose part failed or timed out: (account, uuid) -> status and names. */
export const FAKE_FAILED_MACHINES: Readonly<Record<'complete' | 'running', readonly { uuid: string; status: 'failed' | 'timeout'; instanceName: string; internetIp: string; intranetIp: string }[]>> = {
  complete: [
    { uuid: 'c0ffee00-0000-4000-8000-000000000004', status: 'failed', instanceName: 'batch "7" 杭州', internetIp: '', intranetIp: '172.16.0.4' },
    { uuid: 'c0ffee00-0000-4000-8000-000000000005', status: 'timeout', instanceName: 'cache-1', internetIp: '', intranetIp: '' },
  ],
  running: [{ uuid: 'c0ffee00-0000-4000-8000-000000000005', status: 'timeout', instanceName: 'staging-cache', internetIp: '47.96.9.5', intranetIp: '10.1.0.5' }],
};

const HOUR = 3_600_000;

/** One machine row of a fake scan. */
function machine(rootTaskId: string, nowMs: number, uuid: string, instanceName: string, internetIp: string, intranetIp: string, status: MachineState['status'], progressPercent: number, ran?: [startHoursAgo: number, endHoursAgo?: number]): MachineState {
  return {
    uuid,
    rootTaskId,
    instanceName,
    internetIp,
    intranetIp,
    status,
    progressPercent,
    ...(ran ? { startTimeMs: nowMs - ran[0] * HOUR } : {}),
    ...(ran?.[1] !== undefined ? { endTimeMs: nowMs - ran[1] * HOUR } : {}),
  };
}

/** The latest scan of prod (and of the single account): complete, with findings and failures. */
function completeScan(nowMs: number): LatestScanState {
  const id = FAKE_SCANS.complete;
  const [failed, timedOut] = FAKE_FAILED_MACHINES.complete;
  const rows = [
    machine(id, nowMs, 'c0ffee00-0000-4000-8000-000000000001', 'web-1', '47.96.0.1', '172.16.0.1', 'complete', 100, [48, 47]),
    machine(id, nowMs, 'c0ffee00-0000-4000-8000-000000000002', 'web-2', '47.96.0.2', '172.16.0.2', 'complete', 100, [48, 46]),
    machine(id, nowMs, 'c0ffee00-0000-4000-8000-000000000003', 'db-1', '', '172.16.0.3', 'complete', 100, [48, 45]),
    machine(id, nowMs, failed!.uuid, failed!.instanceName, failed!.internetIp, failed!.intranetIp, 'failed', 35, [48, 47.5]),
    machine(id, nowMs, timedOut!.uuid, timedOut!.instanceName, timedOut!.internetIp, timedOut!.intranetIp, 'timeout', 60, [48, 44]),
  ];
  return {
    lastPollOk: true,
    lastPolledAt: nowMs - 20_000,
    lastSuccessAt: nowMs - 20_000,
    scan: {
      taskId: id,
      status: 'complete',
      rawStatus: 100,
      progressPercent: 100,
      scanTimeMs: nowMs - 48 * HOUR,
      scanType: 'user',
      scanPaths: ['/root', '/tmp'],
      machines: { scanned: 5, complete: 3, uncomplete: 2, safe: 3, suspicious: 2 },
      suspiciousCount: 5,
      riskLevel: 'high',
      machineName: 'web-1',
    },
    machines: { taskId: id, rows, dropped: 0, listedAt: nowMs - 20_000 },
  };
}

/** The latest scan of staging: running for 30 hours, nothing found yet, one machine timed out. */
function runningScan(nowMs: number): LatestScanState {
  const id = FAKE_SCANS.running;
  const [timedOut] = FAKE_FAILED_MACHINES.running;
  const rows = [
    machine(id, nowMs, 'c0ffee00-0000-4000-8000-000000000011', 'staging-web', '', '10.1.0.1', 'complete', 100, [30, 29]),
    machine(id, nowMs, 'c0ffee00-0000-4000-8000-000000000012', 'staging-db', '', '10.1.0.2', 'running', 20, [30]),
    machine(id, nowMs, 'c0ffee00-0000-4000-8000-000000000013', 'staging-batch', '', '10.1.0.3', 'running', 0),
    machine(id, nowMs, timedOut!.uuid, timedOut!.instanceName, timedOut!.internetIp, timedOut!.intranetIp, 'timeout', 10, [30, 6]),
  ];
  return {
    lastPollOk: true,
    lastPolledAt: nowMs - 20_000,
    lastSuccessAt: nowMs - 20_000,
    scan: {
      taskId: id,
      status: 'running',
      rawStatus: 10,
      progressPercent: 40,
      scanTimeMs: nowMs - 30 * HOUR,
      scanType: 'system',
      scanPaths: [],
      machines: { scanned: 4, complete: 1, uncomplete: 3, safe: 2, suspicious: 0 },
      suspiciousCount: 0,
      riskLevel: 'none',
      machineName: 'staging-web',
    },
    machines: { taskId: id, rows, dropped: 0, listedAt: nowMs - 20_000 },
  };
}

export function fakeSnapshot(nowMs: number, multiAccount = true): Snapshot {
  const tasks: TaskState[] = [
    {
      id: '1001',
      name: 'nightly full scan',
      status: 'failed',
      rawStatus: 'Failed',
      targets: [
        { type: 'uuid', target: 'srv-a', name: 'web-1' },
        { type: 'groupId', target: '42', name: 'production' },
      ],
      statusChangedAt: nowMs - 3_600_000,
      lastSuccessAt: nowMs - 20_000,
      lastPolledAt: nowMs - 20_000,
      lastPollOk: true,
    },
    {
      id: '1002',
      name: 'weekly',
      status: 'processing',
      rawStatus: 'Processing',
      targets: [{ type: 'groupId', target: '7', name: 'staging' }],
      statusChangedAt: nowMs - 600_000,
      lastSuccessAt: nowMs - 20_000,
      lastPolledAt: nowMs - 20_000,
      lastPollOk: true,
    },
    { id: '1003', name: '', targets: [], lastPolledAt: nowMs - 20_000, lastPollOk: false, lastError: { class: 'api', code: 'NoPermission' } },
  ];
  // Each account its own task objects, as the poller makes them: the exposition keys an object's labels by its identity.
  const own = () => tasks.map((t) => ({ ...t }));
  const accounts = multiAccount
    ? FAKE_ACCOUNTS.map((name) => ({ name, tasks: own(), latestScan: name === 'prod' ? completeScan(nowMs) : runningScan(nowMs) }))
    : [{ name: '', tasks, latestScan: completeScan(nowMs) }];
  return { generation: 1, createdAt: nowMs, multiAccount, accounts };
}

/** What one poll cycle of the fake reports per account: 2 OK calls, 1 NoPermission, a throttling every third cycle. */
function fakeCycle(self: SelfMetrics, accounts: readonly string[], n: number): void {
  const action = ACTIONS.describeScanTaskProgress;
  const now = Date.now();
  const stats = { kind: 'schedule', result: 'partial', startedAt: now - 420, durationMs: 420, tasksPolled: 3, tasksFailed: 1, apiCalls: 3, retriesDropped: 0 } as const;
  for (const name of accounts) {
    const a = self.account(name);
    a.apiCall(action, 'OK', 0.08);
    a.apiCall(action, 'OK', 0.2);
    a.apiCall(action, 'NoPermission', 0.3);
    if (n % 3 === 0) a.apiCall(action, 'Throttling.User', 0.05);
    a.cycleFinished(stats);
  }
}

export async function startFakeExporter(opts: { multiAccount?: boolean } = {}): Promise<FakeExporter> {
  const multiAccount = opts.multiAccount ?? true;
  const self = new SelfMetrics({ version: '0.0.0-test', revision: 'test', processMetrics: false, accountLabel: multiAccount });
  const snapshot = fakeSnapshot(Date.now(), multiAccount);
  const names = snapshot.accounts.map((a) => a.name);
  self.accountsChanged(names.map((name) => ({ name, endpoint: 'tds.cn-shanghai.aliyuncs.com', region: 'cn-shanghai' })));
  for (const name of names) self.account(name).rateLimitChanged(5);
  self.configLoaded(true, Date.now() - 60_000);
  const cache = new ExpositionCache(() => self.renderParts());
  await cache.update(snapshot);
  self.tasksServed(snapshot);
  let scrapes = 0;
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    scrapes += 1;
    fakeCycle(self, names, scrapes);
    Promise.resolve(cache.expose({ openMetrics: false, gzip: false })).then(
      (exp) => {
        res.setHeader('content-type', exp.contentType);
        res.end(Buffer.concat([...exp.chunks]));
      },
      () => {
        res.statusCode = 500;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    get scrapes() {
      return scrapes;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
