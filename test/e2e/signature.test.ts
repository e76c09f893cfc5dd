/**
 * Authentication end to end (test/fixtures/scenarios/credentials.yaml,
 * task 4001): the simulator verifies the SDK's ACS3-HMAC-SHA256 signature
 * and STS token of every call, so a call that succeeds proves the exporter
 * signed it with the key it was given.
 */
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { describe, expect, test, type TestContext } from 'vitest';
import type { Scenario } from '../../src/simulator/index.js';
import { select, statusOf, value } from '../support/exposition.js';
import { apiCalls, credentialEnv, loadFixture, Rig } from '../support/rig.js';
import { exporterYaml } from '../support/yaml.js';

const TASK = '4001';
const DEMO = { id: 'LTAI-demo-access-key-id', secret: 'demo-access-key-secret' };
const STS = { id: 'STS.demo-sts-access-key-id', secret: 'demo-sts-access-key-secret', token: 'demo-security-token' };

async function start(ctx: TestContext, env: Record<string, string>): Promise<Rig> {
  const scenario: Scenario = await loadFixture('credentials');
  const rig = await Rig.start({
    scenario,
    env: credentialEnv(env),
    // Debug logging: the most a log could ever give away.
    args: ['--log.level=debug'],
    config: (endpoint) => exporterYaml({ endpoint, tasks: [TASK], retry: { maxAttempts: 1 } }),
  });
  ctx.onTestFinished(() => rig.close().then(() => undefined));
  return rig;
}

/** Every body the exporter serves, decoded: text, OpenMetrics, gzip, the landing page. */
async function everyBody(rig: Rig): Promise<string[]> {
  const base = rig.exporter.base;
  const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers }).then((r) => r.text());
  const gzipped = await new Promise<string>((resolve, reject) => {
    request(`${base}/metrics`, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve(res.headers['content-encoding'] === 'gzip' ? gunzipSync(body).toString() : body.toString());
      });
    })
      .on('error', reject)
      .end();
  });
  return [await get('/metrics'), await get('/metrics', { Accept: 'application/openmetrics-text;version=1.0.0' }), gzipped, await get('/')];
}

/** The secret as it could appear: raw, URL-encoded, JSON-escaped. */
const forms = (secret: string) => [...new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])];

describe.concurrent('request signing (ACS3-HMAC-SHA256), verified by the simulator', () => {
  test('the right secret: every call verifies (0 signature failures) and succeeds', async (ctx) => {
    const rig = await start(ctx, { ALIBABA_CLOUD_ACCESS_KEY_ID: DEMO.id, ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEMO.secret });
    const s = await rig.until((x) => apiCalls(x, 'OK') >= 2, 'two successful calls');
    expect(statusOf(s, TASK)).toBe('success');
    expect(value(s, 'aliyun_sas_scan_task_poll_success', { task_id: TASK })).toBe(1);
    const c = rig.sim.counts();
    expect(c.signatureFailures).toBe(0);
    expect(c.byTask[TASK]!.byOutcome).toEqual({ OK: c.byTask[TASK]!.total });
    expect(select(s, 'aliyun_sas_api_requests_total').filter((x) => x.labels.code !== 'OK' && x.value > 0)).toEqual([]);
  });

  test('a wrong secret: SignatureDoesNotMatch on /metrics and in the log, and the secret nowhere', async (ctx) => {
    const secret = `e2e-WrongSecret/${randomBytes(9).toString('base64')}+x=`;
    const rig = await start(ctx, { ALIBABA_CLOUD_ACCESS_KEY_ID: DEMO.id, ALIBABA_CLOUD_ACCESS_KEY_SECRET: secret });
    const s = await rig.until((x) => apiCalls(x, 'SignatureDoesNotMatch') >= 2, 'two refused calls');
    expect(apiCalls(s, 'OK')).toBe(0);
    expect(value(s, 'aliyun_sas_scan_task_poll_success', { task_id: TASK })).toBe(0);
    expect(value(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: TASK, class: 'api', code: 'SignatureDoesNotMatch' })).toBe(1);
    expect(statusOf(s, TASK)).toBeUndefined();
    const c = rig.sim.counts();
    expect(c.signatureFailures).toBeGreaterThanOrEqual(2);
    expect(c.byTask[TASK]!.byOutcome.SignatureDoesNotMatch).toBe(c.byTask[TASK]!.total);
    expect(rig.exporter.output).toMatch(/level=warn msg="poll failed".*task_id=4001.*code=SignatureDoesNotMatch/);

    const bodies = await everyBody(rig);
    expect(bodies[0]).toContain('code="SignatureDoesNotMatch"');
    await rig.close(); // everything the process will ever write, shutdown included
    for (const form of forms(secret)) {
      expect(rig.exporter.output.includes(form), `log contains ${form}`).toBe(false);
      bodies.forEach((b, i) => expect(b.includes(form), `body ${i} contains ${form}`).toBe(false));
    }
  });

  test('STS: the STS key pair with ALIBABA_CLOUD_SECURITY_TOKEN works, and neither secret nor token is printed', async (ctx) => {
    const rig = await start(ctx, { ALIBABA_CLOUD_ACCESS_KEY_ID: STS.id, ALIBABA_CLOUD_ACCESS_KEY_SECRET: STS.secret, ALIBABA_CLOUD_SECURITY_TOKEN: STS.token });
    const s = await rig.until((x) => apiCalls(x, 'OK') >= 2, 'two successful calls');
    expect(statusOf(s, TASK)).toBe('success');
    expect(rig.sim.counts().signatureFailures).toBe(0);
    const bodies = await everyBody(rig);
    await rig.close();
    for (const form of [...forms(STS.secret), ...forms(STS.token)]) {
      expect(rig.exporter.output.includes(form), `log contains ${form}`).toBe(false);
      bodies.forEach((b, i) => expect(b.includes(form), `body ${i} contains ${form}`).toBe(false));
    }
  });

  test('STS without its token is refused by the service (so the token really travels with each call)', async (ctx) => {
    const rig = await start(ctx, { ALIBABA_CLOUD_ACCESS_KEY_ID: STS.id, ALIBABA_CLOUD_ACCESS_KEY_SECRET: STS.secret });
    const s = await rig.until((x) => value(x, 'aliyun_sas_scan_task_poll_success', { task_id: TASK }) === 0, 'a refused poll');
    expect(apiCalls(s, 'OK')).toBe(0);
    expect(select(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: TASK }).map((x) => x.labels.code)).toEqual(['InvalidSecurityToken.MismatchWithAccessKey']);
    expect(rig.sim.counts().signatureFailures).toBeGreaterThanOrEqual(1);
  });
});
