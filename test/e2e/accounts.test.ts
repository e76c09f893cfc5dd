/**
 * Several accounts in one exporter, end to end through the real SDK and the
 * real credential providers: environment variables, a profile of a
 * credentials file, and a RAM role assumed through STS over HTTPS (the
 * simulator's, with the test CA) whose token is refreshed during the run.
 * The same task ID lives in two accounts with different statuses; one account
 * is throttled, one is denied, the third stays exact and on time. No secret
 * of any account, nor any token STS issued, appears in any output.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildScenario, startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { ExporterProcess, runToExit, tempDir } from '../support/exporter.js';
import { select, statusOf, value, type Sample } from '../support/exposition.js';
import { sleep } from '../support/net.js';
import { credentialEnv, sum } from '../support/rig.js';
import { distinctiveCredentials, findLeaks, recordScrapes, type TestCredentials } from '../support/secrets.js';
import { requireTls, simulatorTlsGate } from '../support/simulatorTls.js';

const gate = simulatorTlsGate();
if (gate.skip) console.warn(`[accounts.test] skipping: ${gate.reason}`);

const ROLE = 'acs:ram::1234567890123456:role/sas-reader';
const TASK = '5001';
const targets = (id: string, n: number) => Array.from({ length: n }, (_, i) => ({ type: 'uuid', target: `srv-${id}-${i}`, name: `host-${id}-${i}` }));

const prod = distinctiveCredentials('prod', { sts: false });
const staging = distinctiveCredentials('staging', { sts: false });
const hub = distinctiveCredentials('hub', { sts: false });
const extra = distinctiveCredentials('extra', { sts: false });
const key = (c: TestCredentials) => ({ access_key_id: c.accessKeyId, access_key_secret: c.accessKeySecret });

/** On the service side: four accounts; the subsidiary's role is assumed with the hub's key. */
function scenario() {
  return buildScenario(
    {
      seed: 3,
      accounts: [
        { name: 'prod', credentials: [key(prod)], tasks: [{ id: TASK, status: 'Success', targets: targets('p', 2) }, { id: '5002', status: 'Processing', targets: targets('q', 1) }] },
        // Flow control far below what the exporter asks for: most calls are throttled.
        { name: 'staging', credentials: [key(staging)], qps_limit: 1, tasks: Array.from({ length: 8 }, (_, i) => ({ id: String(5001 + i), status: i === 0 ? 'Failed' : 'Processing' })) },
        { name: 'hub', credentials: [key(hub)], tasks: [] },
        {
          name: 'subsidiary',
          // Accepted by SAS for 3 s; announced for 902 s, so the provider refreshes about 2 s after each issue.
          roles: [{ arn: ROLE, assumable_by: [hub.accessKeyId], external_id: 'ext-77', lifetime: '3s', reported_lifetime: '902s' }],
          tasks: [{ id: '7001', status: 'Processing', targets: targets('s', 1) }],
        },
        { name: 'extra', credentials: [key(extra)], tasks: [{ id: '8001', status: 'init' }] },
      ],
    },
    'accounts',
  );
}

function config(sim: SimulatorHandle, opts: { withStaging?: boolean; withExtra?: boolean } = {}): string {
  const lines = [
    'schedule: "*/1 * * * * *"',
    'request_timeout: 1s',
    'retry: { max_attempts: 1 }',
    'terminal_recheck_interval: 0s',
    'rate_limit: { qps: 50, burst: 50 }',
    'accounts:',
    '  - name: prod',
    `    endpoint: "${sim.endpoint}"`,
    '    protocol: http',
    '    credentials: { access_key_id_env: PROD_SAS_AK_ID, access_key_secret_env: PROD_SAS_AK_SECRET }',
    `    tasks: [${TASK}, 5002]`,
  ];
  if (opts.withStaging !== false) {
    lines.push(
      '  - name: staging',
      `    endpoint: "${sim.endpoint}"`,
      '    protocol: http',
      '    credentials: { profile: staging }',
      '    rate_limit: { qps: 20, burst: 20 }',
      `    tasks: [${Array.from({ length: 8 }, (_, i) => 5001 + i).join(', ')}]`,
    );
  }
  lines.push(
    '  - name: subsidiary',
    `    endpoint: "${sim.endpoint}"`,
    '    protocol: http',
    '    credentials:',
    '      access_key_id_env: HUB_AK_ID',
    '      access_key_secret_env: HUB_AK_SECRET',
    `      role_arn: ${ROLE}`,
    '      external_id: ext-77',
    `      sts_endpoint: "${sim.https!.endpoint}"`,
    '      role_duration: 15m',
    '    tasks: [7001]',
  );
  if (opts.withExtra) {
    lines.push('  - name: extra', `    endpoint: "${sim.endpoint}"`, '    protocol: http', '    credentials: { access_key_id_env: EXTRA_AK_ID, access_key_secret_env: EXTRA_AK_SECRET }', '    tasks: [8001]');
  }
  return `${lines.join('\n')}\n`;
}

const accountsOf = (s: Sample[], name = 'aliyun_sas_scan_task_info') => [...new Set(select(s, name).map((x) => x.labels.account!))].sort();

describe.skipIf(gate.skip)('several accounts, one exporter', () => {
  let sim: SimulatorHandle;
  let dir: string;
  let file: string;
  let exporter: ExporterProcess;
  let bodies: string[];
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    sim = await startSimulator({ scenario: scenario(), host: '127.0.0.1', port: 0, tls: requireTls(gate).options });
    dir = await tempDir('sas-accounts-');
    const credentialsFile = path.join(dir, 'credentials');
    await writeFile(credentialsFile, `[staging]\ntype = access_key\naccess_key_id = ${staging.accessKeyId}\naccess_key_secret = ${staging.accessKeySecret}\n`);
    file = path.join(dir, 'exporter.yaml');
    await writeFile(file, config(sim));
    env = credentialEnv({
      PROD_SAS_AK_ID: prod.accessKeyId,
      PROD_SAS_AK_SECRET: prod.accessKeySecret,
      HUB_AK_ID: hub.accessKeyId,
      HUB_AK_SECRET: hub.accessKeySecret,
      EXTRA_AK_ID: extra.accessKeyId,
      EXTRA_AK_SECRET: extra.accessKeySecret,
      ALIBABA_CLOUD_CREDENTIALS_FILE: credentialsFile,
    });
    exporter = await ExporterProcess.start({ args: [`--config.file=${file}`, '--no-config.watch', '--log.level=debug'], env, waitFor: 'ready' });
    bodies = recordScrapes(exporter);
  });

  afterAll(async () => {
    await exporter?.stop();
    await sim?.close();
  });

  test('the same task ID in two accounts is two tasks, each with its own status', async () => {
    const s = await exporter.until((x) => statusOf(select(x, 'aliyun_sas_scan_task_status', { account: 'staging' }), TASK) === 'failed', 15_000, 'staging polled');
    expect(accountsOf(s)).toEqual(['prod', 'staging', 'subsidiary']);
    expect(statusOf(select(s, 'aliyun_sas_scan_task_status', { account: 'prod' }), TASK)).toBe('success');
    expect(select(s, 'aliyun_sas_scan_task_info', { task_id: TASK }).map((x) => x.labels.account).sort()).toEqual(['prod', 'staging']);
    expect(select(s, 'aliyun_sas_scan_task_target_info', { account: 'prod', task_id: TASK })).toHaveLength(2);
    expect(select(s, 'aliyun_sas_account_info').map((x) => [x.labels.account, x.labels.endpoint])).toEqual([
      ['prod', sim.endpoint],
      ['staging', sim.endpoint],
      ['subsidiary', sim.endpoint],
    ]);
    expect(value(s, 'aliyun_sas_tasks', { account: 'staging' })).toBe(8);
  });

  test('staging throttled and subsidiary denied: prod stays exact and on time', async () => {
    await exporter.until((x) => sum(x, 'aliyun_sas_api_requests_total', { account: 'staging', code: 'Throttling.User' }) > 0, 15_000, 'staging throttled');
    // The role's account loses the permission: a revoked policy.
    sim.setFaults('*', [{ kind: 'no_permission' }], 'subsidiary');
    await exporter.until((x) => sum(x, 'aliyun_sas_api_requests_total', { account: 'subsidiary', code: 'NoPermission' }) > 0, 15_000, 'subsidiary denied');
    // Over the next cycles prod answers every second, whatever the others do.
    const seen: number[] = [];
    const t0 = Date.now();
    let last: Sample[] = [];
    while (Date.now() - t0 < 4000) {
      last = await exporter.scrape();
      seen.push(value(last, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { account: 'prod', task_id: TASK }) ?? 0);
      await sleep(250);
    }
    const distinct = new Set(seen);
    expect(distinct.size).toBeGreaterThanOrEqual(3); // a fresh success every cycle
    expect(Date.now() / 1000 - Math.max(...seen)).toBeLessThan(2.5);
    expect(value(last, 'aliyun_sas_scan_task_poll_success', { account: 'prod', task_id: TASK })).toBe(1);
    expect(value(last, 'aliyun_sas_scan_task_poll_success', { account: 'subsidiary', task_id: '7001' })).toBe(0);
    expect(select(last, 'aliyun_sas_scan_task_poll_error_info', { account: 'subsidiary' })[0]?.labels.code).toBe('NoPermission');
    // Still known: the last status before the denial.
    expect(statusOf(select(last, 'aliyun_sas_scan_task_status', { account: 'subsidiary' }), '7001')).toBe('processing');
    // The staging throttling slowed staging only: its rate was cut, prod's was not.
    expect(value(last, 'aliyun_sas_api_rate_limit_qps', { account: 'staging' })).toBeLessThan(20);
    expect(value(last, 'aliyun_sas_api_rate_limit_qps', { account: 'prod' })).toBe(50);
    expect(sum(last, 'aliyun_sas_api_requests_total', { account: 'prod', code: 'Throttling.User' })).toBe(0);
    expect(sum(last, 'aliyun_sas_api_requests_total', { account: 'prod', code: 'NoPermission' })).toBe(0);
    sim.setFaults('*', [], 'subsidiary');
  });

  test('the assumed role’s STS token is refreshed during the run and keeps working', async () => {
    await exporter.until((x) => value(x, 'aliyun_sas_scan_task_poll_success', { account: 'subsidiary', task_id: '7001' }) === 1, 15_000, 'subsidiary back');
    const before = sim.counts().byAction.AssumeRole?.total ?? 0;
    await sleep(4500); // beyond the 3 s a token is accepted
    const after = sim.counts().byAction.AssumeRole?.total ?? 0;
    expect(after).toBeGreaterThan(before);
    const s = await exporter.scrape();
    expect(value(s, 'aliyun_sas_scan_task_poll_success', { account: 'subsidiary', task_id: '7001' })).toBe(1);
    expect(sum(s, 'aliyun_sas_api_requests_total', { account: 'subsidiary', code: 'OK' })).toBeGreaterThan(3);
    expect(sim.issuedCredentials().length).toBeGreaterThanOrEqual(2);
  });

  test('a reload adds and removes accounts: their series appear and vanish exactly', async () => {
    await writeFile(file, config(sim, { withStaging: false, withExtra: true }));
    exporter.child.kill('SIGHUP');
    const s = await exporter.until((x) => accountsOf(x).join() === 'extra,prod,subsidiary' && statusOf(select(x, 'aliyun_sas_scan_task_status', { account: 'extra' }), '8001') === 'init', 15_000, 'the new account set');
    for (const sample of s) if (sample.labels.account !== undefined) expect(['extra', 'prod', 'subsidiary'], sample.name).toContain(sample.labels.account);
    expect(select(s, 'aliyun_sas_scan_task_info', { account: 'extra' })).toHaveLength(1);
    expect(accountsOf(s, 'aliyun_sas_account_info')).toEqual(['extra', 'prod', 'subsidiary']);
    expect(exporter.output).toMatch(/msg="configuration reloaded" trigger=SIGHUP accounts=3 .*accounts_added=extra accounts_removed=staging/);
  });

  test('a reload naming an unset variable is refused whole: the running accounts stay', async () => {
    const bad = config(sim, { withStaging: false, withExtra: true }).replace('EXTRA_AK_ID', 'NOT_SET_ANYWHERE');
    // A fresh account name, so the credential is resolved again.
    await writeFile(file, bad.replace('name: extra', 'name: extra2'));
    exporter.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!exporter.output.includes('NOT_SET_ANYWHERE') && Date.now() < deadline) await sleep(50);
    expect(exporter.output).toMatch(/configuration reload failed.*account extra2: environment variable NOT_SET_ANYWHERE is not set/);
    const s = await exporter.scrape();
    expect(value(s, 'aliyun_sas_exporter_config_last_reload_successful')).toBe(0);
    expect(accountsOf(s)).toEqual(['extra', 'prod', 'subsidiary']);
  });

  test('no secret of any account, nor any token STS issued, in the log or a /metrics body (debug level)', async () => {
    await exporter.scrape();
    const secrets = [prod, staging, hub, extra].map((c) => c.accessKeySecret);
    for (const issued of sim.issuedCredentials()) secrets.push(issued.accessKeySecret, issued.securityToken);
    expect(bodies.length).toBeGreaterThan(5);
    expect(findLeaks(exporter.output, secrets)).toEqual([]);
    for (const b of bodies) expect(findLeaks(b, secrets)).toEqual([]);
  });
});

describe('credentials that cannot be found stop the start, naming the account', () => {
  const yaml = (credentials: string) => `accounts:\n  - name: prod\n    endpoint: "127.0.0.1:9"\n    protocol: http\n    credentials: ${credentials}\n    tasks: [1]\n`;
  test.each([
    ['an environment variable that is not set', '{ access_key_id_env: NO_SUCH_AK, access_key_secret_env: NO_SUCH_SK }', /account prod: environment variable NO_SUCH_AK is not set/],
    ['a profile that is not in the credentials file', '{ profile: nowhere }', /account prod: cannot get credentials from the profile nowhere/],
  ])('%s', async (_what, credentials, message) => {
    const dir = await tempDir('sas-accounts-bad-');
    const f = path.join(dir, 'exporter.yaml');
    await writeFile(f, yaml(credentials));
    await writeFile(path.join(dir, 'credentials'), '[other]\ntype = access_key\naccess_key_id = x\naccess_key_secret = y\n');
    const r = await runToExit([`--config.file=${f}`], credentialEnv({ ALIBABA_CLOUD_CREDENTIALS_FILE: path.join(dir, 'credentials') }));
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(message);
    expect(r.output).not.toContain('msg=listening');
  });
});
