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
 */
import { createServer, type Server } from 'node:http';
import { ExpositionCache } from '../../src/metrics/cache.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { Snapshot, TaskState } from '../../src/model/snapshot.js';
import { ACTIONS } from '../../src/model/vocabulary.js';

export interface FakeExporter {
  /** host:port to scrape. */
  readonly address: string;
  readonly scrapes: number;
  close(): Promise<void>;
}

export const FAKE_ACCOUNTS = ['prod', 'staging'] as const;

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
  const accounts = multiAccount ? FAKE_ACCOUNTS.map((name) => ({ name, tasks: tasks.map((t) => ({ ...t })) })) : [{ name: '', tasks }];
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
