/**
 * Pipeline.status(), what the landing page shows: built from the snapshot
 * served and the self-metrics, in configuration order, and without any
 * credential, whatever kind each account uses.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log/logger.js';
import { SelfMetrics } from '../src/metrics/self.js';
import { Pipeline } from '../src/pipeline.js';
import type { TickerFactory } from '../src/poller/scheduler.js';
import { FakeSource, NO_PERMISSION, ok } from './fixtures/fakeSource.js';

/** A schedule that never ticks: only the first cycle, run at start. */
const never: TickerFactory = () => ({ nextTickAt: () => Infinity, stop() {} });

/** Every kind of credential an account can name, with values that must appear nowhere in the status. */
const CONFIG = `
schedule: "*/30 * * * * *"
accounts:
  - name: prod
    region: cn-shanghai
    credentials: { access_key_id_env: PROD_AK_ID_VARIABLE, access_key_secret_env: PROD_AK_SECRET_VARIABLE, security_token_env: PROD_STS_TOKEN_VARIABLE }
    tasks: [1001, { id: 1002, name: nightly }, 1003]
  - name: staging
    endpoint: tds.example.internal:8443
    credentials: { profile: staging-profile-name }
    tasks: [2001]
  - name: subsidiary
    region: ap-southeast-1
    credentials:
      role_arn: acs:ram::1234567890123456:role/sas-readonly-role
      external_id: external-id-value
      role_session_name: session-name-value
      sts_endpoint: sts.example.internal
    tasks: [3001]
`;
const CREDENTIAL_VALUES = ['PROD_AK_ID_VARIABLE', 'PROD_AK_SECRET_VARIABLE', 'PROD_STS_TOKEN_VARIABLE', 'staging-profile-name', '1234567890123456', 'sas-readonly-role', 'external-id-value', 'session-name-value', 'sts.example.internal'];

let running: Pipeline | undefined;
afterEach(async () => {
  await running?.stop(100);
  running = undefined;
});

function start(text: string, sources: Record<string, FakeSource>): Pipeline {
  const config = parseConfig(text, '/config/exporter.yaml');
  const p = new Pipeline(config, { logger: silentLogger, ticker: never, publishIntervalMs: 0, makeSource: (a) => sources[a.name]!, self: new SelfMetrics({ version: 't', revision: 't', processMetrics: false, accountLabel: config.multiAccount }) });
  running = p;
  return p;
}

describe('Pipeline.status()', () => {
  it('before the first snapshot: the configured accounts, every task unanswered, not ready', () => {
    const p = start(CONFIG, { prod: new FakeSource(), staging: new FakeSource(), subsidiary: new FakeSource() });
    const s = p.status();
    expect(s.multiAccount).toBe(true);
    expect(s.readiness).toEqual({ ready: false, answered: 0, total: 0, timeoutMs: 60_000 });
    expect(s.accounts.map((a) => [a.name, a.region, a.endpoint, a.tasks.total, a.tasks.answered, a.lastCycle])).toEqual([
      ['prod', 'cn-shanghai', 'tds.cn-shanghai.aliyuncs.com', 3, 0, undefined],
      ['staging', undefined, 'tds.example.internal:8443', 1, 0, undefined],
      ['subsidiary', 'ap-southeast-1', 'tds.ap-southeast-1.aliyuncs.com', 1, 0, undefined],
    ]);
    expect(s.config.lastReloadOk).toBe(true);
    expect(s.schedule).toBe('*/30 * * * * *');
    expect(s.demo).toBe(false);
  });

  it('after the first cycle: counts of the snapshot served, last cycle and API errors per account', async () => {
    const prod = new FakeSource(ok('Success')).script('1002', ok('Failed')).script('1003', NO_PERMISSION);
    const p = start(CONFIG, { prod, staging: new FakeSource(ok('Processing')), subsidiary: new FakeSource(NO_PERMISSION) });
    p.start();
    await expect.poll(() => p.status().readiness.ready, { timeout: 5_000 }).toBe(true);
    await expect.poll(() => p.status().accounts.every((a) => a.lastCycle !== undefined), { timeout: 5_000 }).toBe(true);
    const s = p.status();
    expect(s.readiness).toMatchObject({ answered: 5, total: 5 });
    const [a, b, c] = s.accounts;
    expect(a!.tasks).toEqual({ total: 3, answered: 3, byStatus: { init: 0, processing: 0, success: 1, failed: 1, unknown: 0 }, noStatus: 1, pollsFailing: 1 });
    expect(a!.attention).toEqual([
      { id: '1002', name: 'nightly', status: 'failed' },
      { id: '1003', name: '', pollError: 'NoPermission' },
    ]);
    expect(a!.lastCycle).toMatchObject({ result: 'partial', apiCalls: 3 });
    expect([a!.apiCalls, a!.apiErrors, a!.errorCodes]).toEqual([3, 1, [{ code: 'NoPermission', count: 1 }]]);
    expect(b!.tasks.byStatus.processing).toBe(1);
    expect(b!.lastCycle?.result).toBe('success');
    expect(c!.lastCycle?.result).toBe('failure');
    expect(c!.apiErrors).toBe(1);
    expect(s.startedAt).toBeLessThanOrEqual(s.now);
  });

  it('holds no credential of any kind: no field named like one, none of the configured values', async () => {
    const p = start(CONFIG, { prod: new FakeSource(), staging: new FakeSource(), subsidiary: new FakeSource() });
    p.start();
    await expect.poll(() => p.status().readiness.ready, { timeout: 5_000 }).toBe(true);
    const json = JSON.stringify(p.status());
    for (const v of CREDENTIAL_VALUES) expect(json).not.toContain(v);
    expect(json).not.toMatch(/"[^"]*(secret|token|passw|credential|key|role|profile|auth|arn|external)[^"]*":/i);
    // Nor where the configuration file lives.
    expect(json).not.toContain('/config/');
  });

  it('the single-account form: one account, named ""', async () => {
    const p = start('endpoint: tds.example.internal\ntasks: [1, 2]\n', { '': new FakeSource(ok('Processing')) });
    p.start();
    await expect.poll(() => p.status().readiness.ready, { timeout: 5_000 }).toBe(true);
    const s = p.status();
    expect(s.multiAccount).toBe(false);
    expect(s.accounts.map((a) => [a.name, a.endpoint, a.tasks.byStatus.processing])).toEqual([['', 'tds.example.internal', 2]]);
  });
});
