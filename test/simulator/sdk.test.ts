/**
 * The simulator through the real SDK over real HTTP, called exactly as the
 * exporter calls it. Each assertion is about what the SDK makes of an answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenarioFile, startSimulator, type Scenario, type SimulatorHandle } from '../../src/simulator/index.js';
import { callApi, fixture, getJson, manualClock, sdkClient, withSimulator, type SdkClient } from './helpers.js';

let faults: Scenario;
let timeline: Scenario;
let credentials: Scenario;
beforeAll(async () => {
  [faults, timeline, credentials] = await Promise.all([
    loadScenarioFile(fixture('faults.yaml')),
    loadScenarioFile(fixture('timeline.yaml')),
    loadScenarioFile(fixture('credentials.yaml')),
  ]);
});

describe('answers', () => {
  const clock = manualClock();
  let h: SimulatorHandle;
  let client: SdkClient;
  beforeAll(async () => {
    h = await startSimulator({ scenario: timeline, now: clock.now });
    client = sdkClient(h);
  });
  afterAll(() => h.close());

  it('success with TargetInfo as a string holding a JSON array (the default)', async () => {
    const r = await callApi(client, '1001');
    expect(r.ok).toBe(true);
    expect(r.statusCode).toBe(200);
    expect(r.body!.RequestId).toMatch(/^[0-9A-F-]{36}$/);
    expect(r.body!.ScanTaskProgress).toBe('init');
    expect(typeof r.body!.TargetInfo).toBe('string');
    expect(JSON.parse(r.body!.TargetInfo as string)).toEqual([
      { type: 'uuid', name: 'host-a', target: '24ee7f3f-0568-4a36-9ede-3b7be3531676' },
      { type: 'uuid', name: 'host-b', target: 'b79c6409-2183-405b-b056-3cd9dbbe794a' },
      { type: 'groupId', name: 'web-servers', target: '8812' },
    ]);
    expect(Object.keys(r.body!)).toEqual(['RequestId', 'ScanTaskProgress', 'TargetInfo']);
  });

  it('success with TargetInfo as a plain array when the task says so', async () => {
    const r = await callApi(client, '1006');
    expect(r.body!.TargetInfo).toEqual([
      { type: 'uuid', name: 'host-a', target: '24ee7f3f-0568-4a36-9ede-3b7be3531676' },
      { type: 'groupId', name: 'web-servers', target: '8812' },
    ]);
  });

  it('an empty target list is "[]"', async () => {
    expect((await callApi(client, '1007')).body!.TargetInfo).toBe('[]');
  });

  it('the timeline follows the injected clock', async () => {
    const seen = async (id: string) => (await callApi(client, id)).body!.ScanTaskProgress;
    clock.set(0);
    expect(await Promise.all(['1001', '1002', '1003', '1004', '1005'].map(seen))).toEqual(['init', 'init', 'init', 'Success', 'Failed']);
    clock.set(2_500);
    expect(await Promise.all(['1001', '1002', '1003'].map(seen))).toEqual(['Processing', 'Processing', 'Processing']);
    clock.set(4_000);
    expect(await Promise.all(['1001', '1002', '1003'].map(seen))).toEqual(['Success', 'Failed', 'Processing']);
    clock.set(0);
  });

  it('task IDs are exact: 9007199254740993 exists, 9007199254740992 does not', async () => {
    const big = await callApi(client, '9007199254740993');
    expect(big.ok).toBe(true);
    expect(JSON.parse(big.body!.TargetInfo as string)[0].name).toBe('host-b');
    const near = await callApi(client, '9007199254740992');
    expect(near.error).toMatchObject({ code: 'TaskNotExist', statusCode: 400 });
  });

  it('an unknown task is TaskNotExist', async () => {
    const r = await callApi(client, '282832');
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ code: 'TaskNotExist', statusCode: 400 });
    expect(r.error!.data).toMatchObject({ HostId: 'tds.aliyuncs.com', Code: 'TaskNotExist' });
    expect(r.error!.data!.RequestId).toMatch(/^[0-9A-F-]{36}$/);
    expect(r.error!.data!.Recommend).toContain('TaskNotExist');
  });

  it("query values with !'()* are signed and verified the same way as the SDK does", async () => {
    const r = await callApi(client, '1004', { extraQuery: { Note: "it's (a) *test*! ~ + / 中" } });
    expect(r.ok).toBe(true);
  });

  it('a wrong version is InvalidVersion, a wrong action InvalidAction.NotFound', async () => {
    expect((await callApi(client, '1004', { version: '2018-12-04' })).error).toMatchObject({ code: 'InvalidVersion', statusCode: 400 });
    expect((await callApi(client, '1004', { action: 'DescribeVulList' })).error).toMatchObject({
      code: 'InvalidAction.NotFound',
      statusCode: 404,
    });
  });
});

describe('authentication as the SDK sees it', () => {
  it('a wrong secret is SignatureDoesNotMatch and the secret is never echoed', async () => {
    await withSimulator({ scenario: timeline }, async (h) => {
      const r = await callApi(sdkClient(h, { accessKeySecret: 'wrong-secret-value' }), '1004');
      expect(r.error).toMatchObject({ code: 'SignatureDoesNotMatch', statusCode: 400 });
      const text = JSON.stringify(r.error!.data);
      expect(text).not.toContain('wrong-secret-value');
      expect(text).not.toContain('demo-access-key-secret');
      expect(h.counts().signatureFailures).toBe(1);
    });
  });

  it('an unknown AccessKeyId is InvalidAccessKeyId.NotFound (404)', async () => {
    await withSimulator({ scenario: timeline }, async (h) => {
      const r = await callApi(sdkClient(h, { accessKeyId: 'LTAI-nobody' }), '1004');
      expect(r.error).toMatchObject({ code: 'InvalidAccessKeyId.NotFound', statusCode: 404 });
    });
  });

  it('every configured pair works; an STS pair needs its token', async () => {
    await withSimulator({ scenario: credentials }, async (h) => {
      expect((await callApi(sdkClient(h), '4001')).ok).toBe(true);
      expect((await callApi(sdkClient(h, { accessKeyId: 'LTAI-second-access-key-id', accessKeySecret: 'second-access-key-secret' }), '4001')).ok).toBe(true);
      const sts = { accessKeyId: 'STS.demo-sts-access-key-id', accessKeySecret: 'demo-sts-access-key-secret' };
      expect((await callApi(sdkClient(h, { ...sts, securityToken: 'demo-security-token' }), '4001')).ok).toBe(true);
      expect((await callApi(sdkClient(h, { ...sts, securityToken: 'stolen' }), '4001')).error).toMatchObject({
        code: 'InvalidSecurityToken.MismatchWithAccessKey',
      });
      expect((await callApi(sdkClient(h, sts), '4001')).error).toMatchObject({ code: 'InvalidSecurityToken.MismatchWithAccessKey' });
    });
  });
});

describe('faults as the SDK sees them', () => {
  let h: SimulatorHandle;
  let client: SdkClient;
  const clock = manualClock();
  beforeAll(async () => {
    h = await startSimulator({ scenario: faults, now: clock.now });
    client = sdkClient(h);
  });
  afterAll(() => h.close());

  it.each([
    ['2001', 'NoPermission', 403],
    ['2002', 'ServerError', 500],
    ['2003', 'Throttling.User', 400],
    ['2014', 'InvalidParameter', 400],
  ])('task %s: API error %s (HTTP %i)', async (id, code, status) => {
    const r = await callApi(client, id);
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ code, statusCode: status });
    expect(r.error!.message).toContain(`code: ${status}`);
  });

  it('NoPermission and Throttling.User carry the service messages', async () => {
    expect((await callApi(client, '2001')).error!.data!.Message).toBe('caller has no permission');
    expect((await callApi(client, '2003')).error!.data!.Message).toBe('Request was denied due to user flow control.');
  });

  it('latency: a normal answer, late', async () => {
    const t0 = Date.now();
    const r = await callApi(client, '2004');
    expect(r.ok).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('hang: RequestTimeoutError after the client read timeout', async () => {
    const t0 = Date.now();
    const r = await callApi(client, '2005', { timeoutMs: 150 });
    expect(r.error!.name).toBe('RequestTimeoutError');
    expect(r.error!.message).toMatch(/Timeout/);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('reset: a socket error, no status', async () => {
    const r = await callApi(client, '2006');
    expect(r.ok).toBe(false);
    expect(r.error!.statusCode).toBeUndefined();
    expect(r.error!.code).toMatch(/^(ECONNRESET|EPIPE)$/);
  });

  it.each(['2007', '2008', '2009'])('task %s (html_502, empty_500, garbage_200): a bare SyntaxError', async (id) => {
    const r = await callApi(client, id);
    expect(r.error).toBeInstanceOf(SyntaxError);
    expect(r.error!.statusCode).toBeUndefined();
  });

  it('non_object_200: "The value is not a object"', async () => {
    expect((await callApi(client, '2010')).error!.message).toMatch(/not a object/);
  });

  it('malformed_target_info: status kept, TargetInfo does not parse', async () => {
    const r = await callApi(client, '2011');
    expect(r.body!.ScanTaskProgress).toBe('Success');
    expect(typeof r.body!.TargetInfo).toBe('string');
    expect(() => JSON.parse(r.body!.TargetInfo as string)).toThrow(SyntaxError);
  });

  it('missing_target_info: no TargetInfo at all', async () => {
    const r = await callApi(client, '2012');
    expect(r.body!.ScanTaskProgress).toBe('Success');
    expect('TargetInfo' in r.body!).toBe(false);
  });

  it('undocumented_status: Paused', async () => {
    expect((await callApi(client, '2013')).body!.ScanTaskProgress).toBe('Paused');
  });

  it('transient faults: the first two calls fail, then it answers', async () => {
    const codes = [];
    for (let i = 0; i < 4; i++) {
      const r = await callApi(client, '2020');
      codes.push(r.ok ? 'OK' : r.error!.code);
    }
    expect(codes).toEqual(['ServerError', 'ServerError', 'OK', 'OK']);
  });

  it('a window: NoPermission from 1s to 3s only', async () => {
    const at = async (ms: number) => {
      clock.set(ms);
      const r = await callApi(client, '2023');
      return r.ok ? 'OK' : r.error!.code;
    };
    expect([await at(0), await at(1_000), await at(2_999), await at(3_000)]).toEqual(['OK', 'NoPermission', 'NoPermission', 'OK']);
    clock.set(0);
  });

  it('setFaults replaces a task’s faults at run time', async () => {
    h.setFaults('2030', [{ kind: 'server_error', times: 1 }]);
    expect((await callApi(client, '2030')).error!.code).toBe('ServerError');
    expect((await callApi(client, '2030')).ok).toBe(true);
    h.setFaults('*', [{ kind: 'no_permission' }]);
    expect((await callApi(client, '2030')).error!.code).toBe('NoPermission');
    h.setFaults('*', []);
    expect((await callApi(client, '2030')).ok).toBe(true);
    expect(() => h.setFaults('2030', [{ kind: 'hang', rate: 3 }])).toThrow(/rate/);
  });

  it('counts every outcome, per task, in process and over HTTP', async () => {
    h.resetCounts();
    await callApi(client, '2030');
    await callApi(client, '2001');
    await callApi(client, '2005', { timeoutMs: 100 });
    await callApi(client, '2006');
    await callApi(client, '2007');
    await callApi(client, '2004');
    await callApi(sdkClient(h, { accessKeySecret: 'nope' }), '2030');
    const c = h.counts();
    expect(c.total).toBe(7);
    expect(c.byOutcome).toEqual({ OK: 2, NoPermission: 1, hang: 1, reset: 1, html_502: 1, SignatureDoesNotMatch: 1 });
    expect(c.byTask['2030']).toEqual({ total: 2, byOutcome: { OK: 1, SignatureDoesNotMatch: 1 } });
    expect(c.byTask['2005']).toEqual({ total: 1, byOutcome: { hang: 1 } });
    expect(c.signatureFailures).toBe(1);
    expect(c.faultsFired).toEqual({ no_permission: 1, hang: 1, reset: 1, html_502: 1, latency: 1 });
    expect(c.arrivalsPerSecond.reduce((n, s) => n + s.count, 0)).toBe(7);
    expect(c.recentArrivalsMs).toHaveLength(7);
    const http = await getJson(`${h.url}/-/simulator/counts`);
    expect(http.status).toBe(200);
    expect(http.json).toMatchObject({ total: 7, byOutcome: c.byOutcome, signatureFailures: 1 });
    expect((await getJson(`${h.url}/-/simulator/counts/reset`, 'POST')).json).toMatchObject({ total: 0 });
    expect(h.counts().total).toBe(0);
  });
});

describe('rates are repeatable', () => {
  it('the same scenario fails the same calls in two runs', async () => {
    const run = () =>
      withSimulator({ scenario: faults }, async (h) => {
        const client = sdkClient(h);
        const out: string[] = [];
        for (let i = 0; i < 16; i++) {
          const r = await callApi(client, '2022');
          out.push(r.ok ? 'OK' : r.error!.code!);
        }
        return out;
      });
    const a = await run();
    expect(a).toEqual(await run());
    expect(a).toContain('OK');
    expect(a).toContain('ServerError');
  });
});
