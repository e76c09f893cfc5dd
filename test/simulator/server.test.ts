/**
 * The HTTP surface below the SDK: requests the SDK would never send (form
 * bodies, tampering, replays, missing headers), flow control, the control
 * endpoints and shutdown. Requests are signed with the SDK's own signer.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenarioFile, startSimulator, type Scenario, type SimulatorHandle } from '../../src/simulator/index.js';
import { acsDate, callApi, fixture, getJson, manualClock, rawCall, sdkClient, send, withSimulator } from './helpers.js';

let timeline: Scenario;
let throttle: Scenario;
let faults: Scenario;
beforeAll(async () => {
  [timeline, throttle, faults] = await Promise.all(['timeline.yaml', 'throttle.yaml', 'faults.yaml'].map((f) => loadScenarioFile(fixture(f))));
});

describe('requests', () => {
  let h: SimulatorHandle;
  const lines: string[] = [];
  beforeAll(async () => {
    h = await startSimulator({ scenario: timeline, log: (l) => lines.push(l) });
  });
  afterAll(() => h.close());

  it('TaskId in the query (what the SDK sends)', async () => {
    const r = await rawCall(h, { query: { TaskId: '1004' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.headers['x-acs-request-id']).toBe(r.json!.RequestId);
    expect(r.json).toMatchObject({ ScanTaskProgress: 'Success' });
  });

  it('TaskId in a form body (what older SDKs send), the body signed', async () => {
    const r = await rawCall(h, { form: { TaskId: '1005' } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ScanTaskProgress: 'Failed' });
  });

  it('TaskId with leading zeros is the same task; IDs are never rounded', async () => {
    expect((await rawCall(h, { query: { TaskId: '0001004' } })).json).toMatchObject({ ScanTaskProgress: 'Success' });
    expect((await rawCall(h, { query: { TaskId: '009007199254740993' } })).status).toBe(200);
    expect((await rawCall(h, { query: { TaskId: '9007199254740992' } })).json).toMatchObject({ Code: 'TaskNotExist' });
  });

  it('a missing or empty TaskId is MissingTaskId; a non-long one InvalidParameter', async () => {
    expect((await rawCall(h, {})).json).toMatchObject({ Code: 'MissingTaskId' });
    expect((await rawCall(h, { query: { TaskId: '' } })).json).toMatchObject({ Code: 'MissingTaskId' });
    for (const bad of ['abc', '-5', '1.5', '9223372036854775808', '0']) {
      const r = await rawCall(h, { query: { TaskId: bad } });
      expect(r.status, bad).toBe(400);
      expect(r.json, bad).toMatchObject({ Code: 'InvalidParameter' });
    }
  });

  it('error bodies have the service shape', async () => {
    const r = await rawCall(h, { query: { TaskId: '77' } });
    expect(r.status).toBe(400);
    expect(Object.keys(r.json!)).toEqual(['RequestId', 'HostId', 'Code', 'Message', 'Recommend']);
    expect(r.json).toMatchObject({ HostId: 'tds.aliyuncs.com', Code: 'TaskNotExist' });
    expect(r.json!.RequestId).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  });

  it('a tampered query, a tampered body, a forged content hash: SignatureDoesNotMatch', async () => {
    const q = await rawCall(h, { query: { TaskId: '1004' }, afterSigning: (r) => (r.rawQuery = 'TaskId=1005') });
    expect(q.status).toBe(400);
    expect(q.json).toMatchObject({ Code: 'SignatureDoesNotMatch' });
    const b = await rawCall(h, { form: { TaskId: '1004' }, afterSigning: (r) => (r.body = 'TaskId=1005') });
    expect(b.json).toMatchObject({ Code: 'SignatureDoesNotMatch' });
    const forged = await rawCall(h, {
      form: { TaskId: '1004' },
      afterSigning: (r) => {
        r.body = 'TaskId=1005';
        r.headers['x-acs-content-sha256'] = '0'.repeat(64);
      },
    });
    expect(forged.json).toMatchObject({ Code: 'SignatureDoesNotMatch' });
    const header = await rawCall(h, { query: { TaskId: '1004' }, afterSigning: (r) => (r.headers['x-acs-date'] = acsDate(Date.now() - 60_000)) });
    expect(header.json).toMatchObject({ Code: 'SignatureDoesNotMatch' });
  });

  it('a wrong secret: SignatureDoesNotMatch, and no secret in any answer', async () => {
    const r = await rawCall(h, { query: { TaskId: '1004' }, accessKeySecret: 'guess-one' });
    expect(r.json).toMatchObject({ Code: 'SignatureDoesNotMatch' });
    expect(r.text).not.toContain('guess-one');
    expect(r.text).not.toContain('demo-access-key-secret');
  });

  it('a replayed request (same nonce): SignatureNonceUsed', async () => {
    const nonce = `replay-${Date.now()}`;
    expect((await rawCall(h, { query: { TaskId: '1004' }, nonce })).status).toBe(200);
    const again = await rawCall(h, { query: { TaskId: '1004' }, nonce });
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({ Code: 'SignatureNonceUsed' });
  });

  it('a date more than 15 minutes off: InvalidTimeStamp.Expired', async () => {
    expect((await rawCall(h, { query: { TaskId: '1004' }, date: acsDate(Date.now() - 16 * 60_000) })).json).toMatchObject({
      Code: 'InvalidTimeStamp.Expired',
    });
    expect((await rawCall(h, { query: { TaskId: '1004' }, date: acsDate(Date.now() + 16 * 60_000) })).json).toMatchObject({
      Code: 'InvalidTimeStamp.Expired',
    });
    expect((await rawCall(h, { query: { TaskId: '1004' }, date: acsDate(Date.now() - 10 * 60_000) })).status).toBe(200);
  });

  it('no Authorization, or a required header missing: IncompleteSignature / MissingParameter', async () => {
    expect((await rawCall(h, { query: { TaskId: '1004' }, unsigned: true })).json).toMatchObject({ Code: 'IncompleteSignature' });
    const noNonce = await rawCall(h, {
      query: { TaskId: '1004' },
      afterSigning: (r) => delete r.headers['x-acs-signature-nonce'],
    });
    expect(noNonce.json).toMatchObject({ Code: 'MissingParameter' });
    const unsignedExtra = await rawCall(h, { query: { TaskId: '1004' }, afterSigning: (r) => (r.headers['x-acs-extra'] = '1') });
    expect(unsignedExtra.json).toMatchObject({ Code: 'IncompleteSignature' });
  });

  it('an unknown AccessKeyId: 404 InvalidAccessKeyId.NotFound', async () => {
    const r = await rawCall(h, { query: { TaskId: '1004' }, accessKeyId: 'LTAI-unknown' });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ Code: 'InvalidAccessKeyId.NotFound' });
  });

  it('another action, version or path', async () => {
    const action = await rawCall(h, { query: { TaskId: '1004' }, headers: { 'x-acs-action': 'StartVirusScanTask' } });
    expect([action.status, action.json!.Code]).toEqual([404, 'InvalidAction.NotFound']);
    const version = await rawCall(h, { query: { TaskId: '1004' }, headers: { 'x-acs-version': '2021-01-14' } });
    expect([version.status, version.json!.Code]).toEqual([400, 'InvalidVersion']);
    const path = await rawCall(h, { query: { TaskId: '1004' }, path: '/api' });
    expect([path.status, path.json!.Code]).toEqual([404, 'InvalidAction.NotFound']);
  });

  it('GET works too (RPC style accepts both)', async () => {
    expect((await rawCall(h, { method: 'GET', query: { TaskId: '1004' } })).status).toBe(200);
  });

  it('logs one line per call, without secrets', () => {
    expect(lines.some((l) => /task=1004 -> 200 OK/.test(l))).toBe(true);
    expect(lines.join('\n')).not.toContain('demo-access-key-secret');
  });

  it('counts signature failures and attributes calls to their task', () => {
    const c = h.counts();
    expect(c.signatureFailures).toBeGreaterThanOrEqual(10);
    // A tampered call counts against the task it ended up naming.
    expect(c.byTask['1004']!.byOutcome.SignatureDoesNotMatch).toBe(2);
    expect(c.byTask['1005']!.byOutcome.SignatureDoesNotMatch).toBe(3);
    expect(c.byOutcome.SignatureNonceUsed).toBe(1);
  });
});

describe('control endpoints', () => {
  it('counts, reset and health need no signature; other paths are 404', async () => {
    await withSimulator({ scenario: timeline }, async (h) => {
      await rawCall(h, { query: { TaskId: '1004' } });
      const c = await getJson(`${h.url}/-/simulator/counts`);
      expect(c.json).toMatchObject({ total: 1, byOutcome: { OK: 1 } });
      expect((await getJson(`${h.url}/-/simulator/healthz`)).json).toMatchObject({ status: 'ok' });
      expect((await getJson(`${h.url}/-/simulator/nope`)).status).toBe(404);
      expect((await getJson(`${h.url}/-/simulator/counts`, 'POST')).status).toBe(405);
      expect((await getJson(`${h.url}/-/simulator/counts/reset`, 'POST')).json).toMatchObject({ total: 0 });
      // The control endpoints are not API calls.
      expect(h.counts().total).toBe(0);
    });
  });
});

describe('flow control', () => {
  it('qps_limit: above the ceiling in a one-second window, 400 Throttling.User', async () => {
    const clock = manualClock();
    await withSimulator({ scenario: throttle, now: clock.now }, async (h) => {
      const client = sdkClient(h);
      const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => callApi(client, String(3001 + i))));
      const codes = burst.map((r) => (r.ok ? 'OK' : r.error!.code));
      expect(codes.filter((c) => c === 'OK')).toHaveLength(5);
      expect(codes.filter((c) => c === 'Throttling.User')).toHaveLength(3);
      const refused = burst.find((r) => !r.ok)!;
      expect(refused.error).toMatchObject({ statusCode: 400 });
      expect(refused.error!.data!.Message).toBe('Request was denied due to user flow control.');
      clock.advance(1000);
      expect((await callApi(client, '3001')).ok).toBe(true);
      const c = h.counts();
      expect(c.throttledByQpsLimit).toBe(3);
      expect(c.byOutcome).toEqual({ OK: 6, 'Throttling.User': 3 });
      expect(c.arrivalsPerSecond).toEqual([
        { second: 0, count: 8 },
        { second: 1, count: 1 },
      ]);
      h.setQpsLimit(undefined);
      const more = await Promise.all(Array.from({ length: 8 }, () => callApi(client, '3002')));
      expect(more.every((r) => r.ok)).toBe(true);
    });
  });
});

describe('latency and shutdown', () => {
  it('setLatencyMs delays every answer', async () => {
    await withSimulator({ scenario: timeline }, async (h) => {
      h.setLatencyMs(120);
      const t0 = Date.now();
      expect((await callApi(sdkClient(h), '1004')).ok).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    });
  });

  it('close() ends hung and delayed requests at once', async () => {
    const h = await startSimulator({ scenario: faults });
    const client = sdkClient(h, { timeoutMs: 10_000 });
    h.setFaults('2030', [{ kind: 'latency', latencyMs: 60_000 }]);
    const hung = callApi(client, '2005', { timeoutMs: 10_000 });
    const slow = callApi(client, '2030', { timeoutMs: 10_000 });
    // An idle keep-alive connection that never sent a request.
    const idle = connect(h.port, h.host);
    await new Promise((r) => idle.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await h.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    const [a, b] = await Promise.all([hung, slow]);
    expect(a.ok).toBe(false);
    expect(b.ok).toBe(false);
    idle.destroy();
    await h.close(); // idempotent
  });

  it('a raw malformed request gets a 400, and the server carries on', async () => {
    await withSimulator({ scenario: timeline }, async (h) => {
      const sock = connect(h.port, h.host);
      const reply = await new Promise<string>((resolve) => {
        let data = '';
        sock.on('data', (d) => (data += d.toString()));
        sock.on('close', () => resolve(data));
        sock.on('error', () => resolve(data));
        sock.write('NOT HTTP\r\n\r\n');
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      expect((await rawCall(h, { query: { TaskId: '1004' } })).status).toBe(200);
    });
  });

  it('oversized bodies are refused', async () => {
    await withSimulator({ scenario: timeline }, async (h) => {
      const r = await send(h, 'POST', '/', { 'content-type': 'application/x-www-form-urlencoded' }, 'x'.repeat(1024 * 1024 + 10));
      expect(r.status).toBe(413);
    });
  });
});
