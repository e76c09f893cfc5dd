/**
 * Accounts through the real SDK: a call belongs to the account of the key
 * that signed it, each account with its own tasks, flow control and faults,
 * counted per account and per action.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildScenario, loadScenarioFile, startSimulator, type Scenario, type SimulatorHandle } from '../../src/simulator/index.js';
import { callApi, fixture, getJson, manualClock, sdkClient, withSimulator } from './helpers.js';
import { sasClient, staticCredential } from './sasHelpers.js';

const PROD = { accessKeyId: 'LTAI-prod-access-key-id', accessKeySecret: 'prod-access-key-secret' };
const AUDIT = { accessKeyId: 'LTAI-audit-access-key-id', accessKeySecret: 'audit-access-key-secret' };

let accounts: Scenario;
beforeAll(async () => {
  accounts = await loadScenarioFile(fixture('accounts.yaml'));
});

describe('two accounts keyed by access key', () => {
  const clock = manualClock();
  let h: SimulatorHandle;
  beforeAll(async () => {
    h = await startSimulator({ scenario: accounts, now: clock.now });
  });
  afterAll(() => h.close());

  it('the same task ID is two tasks: each key sees its own account’s status and targets', async () => {
    const prod = await callApi(sdkClient(h, PROD), '5001');
    const audit = await callApi(sdkClient(h, AUDIT), '5001');
    expect(prod.body!.ScanTaskProgress).toBe('Success');
    expect(JSON.parse(prod.body!.TargetInfo as string)).toEqual([{ type: 'uuid', name: 'prod-host', target: '6c1b4f2e-8a63-4c1e-9d7a-0a1b2c3d5001' }]);
    expect(audit.body!.ScanTaskProgress).toBe('init');
    expect(JSON.parse(audit.body!.TargetInfo as string)).toEqual([{ type: 'groupId', name: 'audit-group', target: '77' }]);
    clock.set(1_000);
    expect((await callApi(sdkClient(h, AUDIT), '5001')).body!.ScanTaskProgress).toBe('Failed');
    expect((await callApi(sdkClient(h, PROD), '5001')).body!.ScanTaskProgress).toBe('Success');
    clock.set(0);
  });

  it('a task of one account does not exist for the other', async () => {
    expect((await callApi(sdkClient(h, PROD), '5002')).ok).toBe(true);
    expect((await callApi(sdkClient(h, AUDIT), '5002')).error).toMatchObject({ code: 'TaskNotExist', statusCode: 400 });
  });

  it('the demo key belongs to no account of a scenario that does not list it', async () => {
    expect((await callApi(sdkClient(h), '5001')).error).toMatchObject({ code: 'InvalidAccessKeyId.NotFound', statusCode: 404 });
  });

  it('a permission-denied account: 403 on the scan-results actions while DescribeScanTaskProgress works', async () => {
    const audit = sasClient(h, staticCredential(AUDIT));
    const stat = await audit.getVirusScanLatestTaskStatistic();
    const list = await audit.listVirusScanTask({ pageSize: 10 });
    expect(stat.ok || stat.error).toMatchObject({ class: 'api', code: 'NoPermission', httpStatus: 403, retriable: false });
    expect(list.ok || list.error).toMatchObject({ code: 'NoPermission', httpStatus: 403 });
    const progress = await audit.describeScanTaskProgress('5001');
    expect(progress.ok).toBe(true);
    const prod = sasClient(h, staticCredential(PROD));
    const ok = await prod.getVirusScanLatestTaskStatistic();
    expect(ok.ok && ok.value.latest?.taskId).toBe('0123456789abcdef0123456789abcdef');
  });
});

describe('flow control and faults per account', () => {
  it('qps_limit is the account’s own: prod is throttled, audit is not', async () => {
    const clock = manualClock();
    await withSimulator({ scenario: accounts, now: clock.now }, async (h) => {
      const prod = sdkClient(h, PROD);
      const audit = sdkClient(h, AUDIT);
      const burst = await Promise.all([
        ...Array.from({ length: 5 }, () => callApi(prod, '5001')),
        ...Array.from({ length: 5 }, () => callApi(audit, '5001')),
      ]);
      const codes = burst.map((r) => (r.ok ? 'OK' : r.error!.code));
      expect(codes.slice(0, 5).filter((c) => c === 'Throttling.User')).toHaveLength(2);
      expect(codes.slice(5)).toEqual(['OK', 'OK', 'OK', 'OK', 'OK']);
      const c = h.counts();
      expect(c.throttledByQpsLimit).toBe(2);
      expect(c.byAccount.prod!.throttledByQpsLimit).toBe(2);
      expect(c.byAccount.audit!.throttledByQpsLimit).toBe(0);
      h.setQpsLimit(1, 'audit');
      clock.advance(1000);
      const second = await Promise.all(Array.from({ length: 3 }, () => callApi(audit, '5001')));
      expect(second.filter((r) => r.ok)).toHaveLength(1);
      h.setQpsLimit(undefined, 'prod');
      clock.advance(1000);
      expect((await Promise.all(Array.from({ length: 6 }, () => callApi(prod, '5001')))).every((r) => r.ok)).toBe(true);
    });
  });

  it('setFaults names the account; without one it is the first account; an unknown name throws', async () => {
    await withSimulator({ scenario: accounts }, async (h) => {
      expect(h.accounts).toEqual(['prod', 'audit']);
      h.setQpsLimit(undefined, 'prod');
      h.setFaults('5001', [{ kind: 'server_error' }], 'audit');
      expect((await callApi(sdkClient(h, AUDIT), '5001')).error!.code).toBe('ServerError');
      expect((await callApi(sdkClient(h, PROD), '5001')).ok).toBe(true);
      h.setFaults('*', [{ kind: 'no_permission', actions: ['DescribeScanTaskProgress'] }]);
      expect((await callApi(sdkClient(h, PROD), '5001')).error!.code).toBe('NoPermission');
      expect((await sasClient(h, staticCredential(PROD)).getVirusScanLatestTaskStatistic()).ok).toBe(true);
      h.setFaults('*', []);
      expect((await callApi(sdkClient(h, PROD), '5001')).ok).toBe(true);
      expect(() => h.setFaults('*', [], 'nobody')).toThrow(/no account "nobody"; accounts: prod, audit/);
      expect(() => h.setQpsLimit(1, 'nobody')).toThrow(/no account/);
      expect(() => h.setFaults('*', [{ kind: 'empty_page', actions: ['DescribeScanTaskProgress'] }])).toThrow(/does not apply/);
    });
  });

  it('counts per account and per action, in process and over HTTP', async () => {
    await withSimulator({ scenario: accounts }, async (h) => {
      const prod = sasClient(h, staticCredential(PROD));
      const audit = sasClient(h, staticCredential(AUDIT));
      await prod.describeScanTaskProgress('5001');
      await prod.getVirusScanLatestTaskStatistic();
      await prod.listVirusScanTask();
      await audit.describeScanTaskProgress('5001');
      await audit.listVirusScanTask();
      await callApi(sdkClient(h, { ...AUDIT, accessKeySecret: 'wrong' }), '5001');
      await callApi(sdkClient(h, { accessKeyId: 'LTAI-nobody', accessKeySecret: 'x' }), '5001');
      const c = h.counts();
      expect(c.total).toBe(7);
      expect(c.byOutcome).toEqual({ OK: 4, NoPermission: 1, SignatureDoesNotMatch: 1, 'InvalidAccessKeyId.NotFound': 1 });
      expect(c.byAction.DescribeScanTaskProgress).toEqual({
        total: 4,
        byOutcome: { OK: 2, SignatureDoesNotMatch: 1, 'InvalidAccessKeyId.NotFound': 1 },
        faultsFired: {},
      });
      expect(c.byAction.ListVirusScanTask).toEqual({ total: 2, byOutcome: { OK: 1, NoPermission: 1 }, faultsFired: { no_permission: 1 } });
      expect(c.byAction.GetVirusScanLatestTaskStatistic).toEqual({ total: 1, byOutcome: { OK: 1 }, faultsFired: {} });
      expect(c.byAccount.prod).toMatchObject({ total: 3, byOutcome: { OK: 3 }, signatureFailures: 0 });
      expect(c.byAccount.prod!.byTask).toEqual({ '5001': { total: 1, byOutcome: { OK: 1 } } });
      // The wrong secret still names an audit key, so the call is audit's; the unknown key belongs to no account.
      expect(c.byAccount.audit).toMatchObject({
        total: 3,
        byOutcome: { OK: 1, NoPermission: 1, SignatureDoesNotMatch: 1 },
        signatureFailures: 1,
        faultsFired: { no_permission: 1 },
      });
      expect(c.byAccount.audit!.byAction.ListVirusScanTask).toEqual({ total: 1, byOutcome: { NoPermission: 1 }, faultsFired: { no_permission: 1 } });
      expect(c.byAccount.audit!.byTask['5001']).toEqual({ total: 2, byOutcome: { OK: 1, SignatureDoesNotMatch: 1 } });
      // The top-level per-task table merges both accounts' task 5001, as it always has.
      expect(c.byTask['5001']!.total).toBe(4);
      const http = await getJson(`${h.url}/-/simulator/counts`);
      expect(http.json.byAccount).toEqual(c.byAccount);
      expect(http.json.byAction).toEqual(c.byAction);
      h.resetCounts();
      expect(h.counts().byAccount).toEqual({
        prod: { total: 0, byOutcome: {}, byAction: {}, byTask: {}, signatureFailures: 0, throttledByQpsLimit: 0, faultsFired: {} },
        audit: { total: 0, byOutcome: {}, byAction: {}, byTask: {}, signatureFailures: 0, throttledByQpsLimit: 0, faultsFired: {} },
      });
    });
  });

  it('the single-account form is the account `default`, with the old fields unchanged', async () => {
    await withSimulator({ scenario: buildScenario({ tasks: [{ id: '9', status: 'Success' }] }) }, async (h) => {
      expect(h.accounts).toEqual(['default']);
      await callApi(sdkClient(h), '9');
      const c = h.counts();
      expect(c).toMatchObject({ total: 1, byOutcome: { OK: 1 }, byTask: { '9': { total: 1, byOutcome: { OK: 1 } } } });
      expect(c.byAccount.default).toMatchObject({ total: 1, byOutcome: { OK: 1 } });
    });
  });

  it('a scenario built by hand without accounts still runs as one account', async () => {
    const s = buildScenario({ tasks: [{ id: '9', status: 'Failed' }] });
    const { accounts: _drop, ...withoutAccounts } = s;
    await withSimulator({ scenario: withoutAccounts }, async (h) => {
      expect((await callApi(sdkClient(h), '9')).body!.ScanTaskProgress).toBe('Failed');
      expect(h.accounts).toEqual(['default']);
    });
  });
});

describe('a single-account scenario edited after parsing', () => {
  it('runs with the edited top-level fields, as before accounts existed', async () => {
    const parsed = buildScenario({ tasks: [{ id: '9', status: 'Failed' }] });
    const edited: Scenario = { ...parsed, tasks: [{ id: '10', targets: [], timeline: [{ status: 'Success' }], faults: [] }], qpsLimit: 1 };
    await withSimulator({ scenario: edited }, async (h) => {
      const client = sdkClient(h);
      expect((await callApi(client, '10')).body!.ScanTaskProgress).toBe('Success');
      expect((await callApi(client, '9')).error!.code).toMatch(/^(TaskNotExist|Throttling\.User)$/);
    });
  });
});
