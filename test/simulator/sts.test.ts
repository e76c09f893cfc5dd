/**
 * STS AssumeRole over HTTPS, called by @alicloud/credentials' own RAM role
 * ARN provider against the simulator's TLS listener (certificate signed by
 * the test CA that the global setup put in NODE_EXTRA_CA_CERTS), and the
 * temporary credentials it issues used on Security Center calls through the
 * real SDK.
 *
 * The provider's refresh rule (session.js, STALE_TIME = 15 min): it asks STS
 * again once now >= Expiration - 900 s. So a credential announced for 902 s
 * is refreshed about 2 s after issue, and one announced for 900 s or less on
 * every getCredentials() call, i.e. before every SDK call.
 */
import { get as httpsGet } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { RAMRoleARNCredentialsProvider, StaticAKCredentialsProvider } from '@alicloud/credentials';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialClient, SasClient } from '../../src/sas/client.js';
import { scrubbed } from '../../src/sas/credentials.js';
import { runCli } from '../../src/simulator/cli.js';
import { loadScenarioFile, startSimulator, type Scenario, type SimulatorHandle } from '../../src/simulator/index.js';
import { rpcStringToSign } from '../../src/simulator/sts.js';
import { requireTls, simulatorTlsGate } from '../support/simulatorTls.js';
import { acsDate, callApi, fixture, sdkClient, Util } from './helpers.js';
import { rpcCall, sasClient } from './sasHelpers.js';

const BASE = { accessKeyId: 'LTAI-base-access-key-id', accessKeySecret: 'base-access-key-secret' };
const OTHER = { accessKeyId: 'LTAI-other-access-key-id', accessKeySecret: 'other-access-key-secret' };
const ROLE = (name: string): string => `acs:ram::1234567890123456:role/${name}`;
const EXPIRATION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const gate = simulatorTlsGate();
if (gate.skip) console.warn(`[sts.test] skipping the STS-over-HTTPS tests: ${gate.reason}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function provider(h: SimulatorHandle, o: { role: string; base?: typeof BASE; externalId?: string; durationSeconds?: number }, stsEndpoint = h.https!.endpoint) {
  const base = StaticAKCredentialsProvider.builder()
    .withAccessKeyId((o.base ?? BASE).accessKeyId)
    .withAccessKeySecret((o.base ?? BASE).accessKeySecret)
    .build();
  let b = RAMRoleARNCredentialsProvider.builder()
    .withCredentialsProvider(base)
    .withRoleArn(ROLE(o.role))
    .withRoleSessionName('sas-exporter-test')
    .withStsEndpoint(stsEndpoint)
    .withDurationSeconds(o.durationSeconds ?? 3600)
    .withReadTimeout(3000)
    .withConnectTimeout(3000);
  if (o.externalId) b = b.withExternalId(o.externalId);
  return b.build();
}

/** What the exporter will hand the SDK: a Credential wrapping the RAM role ARN provider. */
function roleCredential(h: SimulatorHandle, o: Parameters<typeof provider>[1]): InstanceType<typeof CredentialClient> {
  return new CredentialClient(null, provider(h, o));
}

/** host:port of a port that was just listened on and closed: connections to it are refused. */
async function listenAndClose(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return `127.0.0.1:${port}`;
}

const assumeRoleCalls = (h: SimulatorHandle): number => h.counts().byAction.AssumeRole?.total ?? 0;

describe('the RPC signature matches an independent implementation', () => {
  it('string to sign and signature equal @alicloud/openapi-util’s getRPCSignature', async () => {
    const { rpcSignature } = await import('../../src/simulator/sts.js');
    const params: Array<[string, string]> = [
      ['Version', '2015-04-01'],
      ['Action', 'AssumeRole'],
      ['Timestamp', '2025-05-01T08:00:00Z'],
      ['RoleSessionName', "it's (a) *test*! ~ 中"],
      ['RoleArn', ROLE('reader')],
      ['Policy', '{"Version":"1","Statement":[]}'],
    ];
    const sts = rpcStringToSign('POST', params);
    expect(sts.startsWith('POST&%2F&Action%3DAssumeRole%26Policy%3D')).toBe(true);
    expect(rpcSignature(sts, 'secret')).toBe(Util.getRPCSignature(Object.fromEntries(params), 'POST', 'secret'));
  });
});

describe.skipIf(gate.skip)('AssumeRole over HTTPS with the test CA', () => {
  let sts: Scenario;
  let h: SimulatorHandle;
  beforeAll(async () => {
    sts = await loadScenarioFile(fixture('sts.yaml'));
    h = await startSimulator({ scenario: sts, tls: requireTls(gate).options });
  });
  afterAll(() => h?.close());

  it('this test process trusts the simulator’s certificate (NODE_EXTRA_CA_CERTS set before the worker started)', async () => {
    expect(h.https!.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const status = await new Promise<number>((resolve, reject) => {
      httpsGet(`${h.https!.url}/-/simulator/healthz`, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', (e) =>
        reject(new Error(`the worker does not trust the test CA (${(e as Error).message}); NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS}`)),
      );
    });
    expect(status).toBe(200);
  });

  it('the provider gets temporary credentials; SAS calls signed with them belong to the role’s account', async () => {
    h.resetCounts();
    const p = provider(h, { role: 'reader', externalId: 'ext-42' });
    const c = await p.getCredentials();
    expect(c.accessKeyId).toMatch(/^STS\./);
    expect(c.securityToken).toBeTruthy();
    const issued = h.issuedCredentials().find((x) => x.accessKeyId === c.accessKeyId)!;
    expect(issued).toMatchObject({ roleArn: ROLE('reader'), account: 'target', roleSessionName: 'sas-exporter-test' });
    // DurationSeconds is the lifetime when the role sets none.
    expect(issued.expiresAtMs - issued.issuedAtMs).toBe(3_600_000);
    expect(issued.expiration).toMatch(EXPIRATION);

    const client = sasClient(h, new CredentialClient(null, p));
    const r = await client.describeScanTaskProgress('6001');
    expect(r.ok && r.value.rawStatus).toBe('Success'); // target's 6001; base's is Failed
    const own = await sasClient(h, new CredentialClient(null, StaticAKCredentialsProvider.builder().withAccessKeyId(BASE.accessKeyId).withAccessKeySecret(BASE.accessKeySecret).build())).describeScanTaskProgress('6001');
    expect(own.ok && own.value.rawStatus).toBe('Failed');

    const counts = h.counts();
    expect(counts.byAction.AssumeRole).toEqual({ total: 1, byOutcome: { OK: 1 }, faultsFired: {} });
    // AssumeRole belongs to the caller's account, the SAS call to the role's.
    expect(counts.byAccount.base!.byAction.AssumeRole!.total).toBe(1);
    expect(counts.byAccount.target!.byAction.DescribeScanTaskProgress!.total).toBe(1);
  });

  it('a credential announced for 900 s (DurationSeconds 900) is refreshed before every SDK call', async () => {
    h.resetCounts();
    const client = sasClient(h, roleCredential(h, { role: 'reader', externalId: 'ext-42', durationSeconds: 900 }));
    for (let i = 0; i < 3; i++) expect((await client.describeScanTaskProgress('6001')).ok).toBe(true);
    expect(assumeRoleCalls(h)).toBe(3);
  });

  it('refresh: a credential announced for 902 s is used for about 2 s, then the provider assumes the role again', async () => {
    h.resetCounts();
    const client = sasClient(h, roleCredential(h, { role: 'refresh' }));
    const t0 = Date.now();
    expect((await client.describeScanTaskProgress('6001')).ok).toBe(true);
    expect((await client.describeScanTaskProgress('6001')).ok).toBe(true);
    expect(assumeRoleCalls(h)).toBe(1);
    while (assumeRoleCalls(h) < 2 && Date.now() - t0 < 6_000) {
      await sleep(200);
      expect((await client.describeScanTaskProgress('6001')).ok).toBe(true);
    }
    const refreshedAfter = Date.now() - t0;
    expect(assumeRoleCalls(h)).toBe(2);
    expect(refreshedAfter).toBeGreaterThanOrEqual(900);
    expect(refreshedAfter).toBeLessThan(3_500);
    const keys = new Set(h.issuedCredentials().filter((c) => c.roleArn === ROLE('refresh')).map((c) => c.accessKeyId));
    expect(keys.size).toBe(2);
  });

  it('expiry: a credential accepted for 1 s but announced for 903 s fails with InvalidSecurityToken.Expired until the provider refreshes', async () => {
    h.resetCounts();
    const client = sasClient(h, roleCredential(h, { role: 'expiring' }));
    const t0 = Date.now();
    expect((await client.describeScanTaskProgress('6001')).ok).toBe(true);
    await sleep(1_100);
    const expired = await client.describeScanTaskProgress('6001');
    expect(expired.ok || expired.error).toMatchObject({ class: 'api', code: 'InvalidSecurityToken.Expired', httpStatus: 400, retriable: false });
    let recovered = false;
    while (!recovered && Date.now() - t0 < 6_000) {
      await sleep(200);
      recovered = (await client.describeScanTaskProgress('6001')).ok;
    }
    expect(recovered).toBe(true);
    expect(Date.now() - t0).toBeLessThan(4_500);
    expect(assumeRoleCalls(h)).toBe(2);
    const c = h.counts();
    expect(c.byAccount.target!.byOutcome['InvalidSecurityToken.Expired']).toBeGreaterThanOrEqual(1);
    expect(c.byAccount.target!.signatureFailures).toBe(c.byAccount.target!.byOutcome['InvalidSecurityToken.Expired']);
  });

  it('expireIssuedCredentials: the next SAS call with the old credential fails, through the raw SDK too', async () => {
    const p = provider(h, { role: 'reader', externalId: 'ext-42' });
    const c = await p.getCredentials();
    const keys = { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken };
    expect((await callApi(sdkClient(h, keys), '6001')).body!.ScanTaskProgress).toBe('Success');
    expect((await callApi(sdkClient(h, { ...keys, securityToken: 'forged' }), '6001')).error).toMatchObject({
      code: 'InvalidSecurityToken.MismatchWithAccessKey',
    });
    expect(h.expireIssuedCredentials(c.accessKeyId)).toBe(1);
    const r = await callApi(sdkClient(h, keys), '6001');
    expect(r.error).toMatchObject({ code: 'InvalidSecurityToken.Expired', statusCode: 400 });
    expect(r.error!.data!.Message).toBe('Specified SecurityToken is expired.');
  });

  it('a wrong base secret: the provider recognises its own string to sign and reports an invalid secret', async () => {
    const p = provider(h, { role: 'reader', externalId: 'ext-42', base: { ...BASE, accessKeySecret: 'not-the-secret' } });
    await expect(p.getCredentials()).rejects.toThrow(/^the access key secret is invalid$/);
  });

  it.each([
    ['a wrong ExternalId', { role: 'reader', externalId: 'ext-43' }, 'NoPermission'],
    ['no ExternalId where the role requires one', { role: 'reader' }, 'NoPermission'],
    ['a role that does not trust the key', { role: 'picky' }, 'NoPermission'],
    ['an unknown role', { role: 'nobody' }, 'EntityNotExist.Role'],
    ['an unknown base key', { role: 'reader', externalId: 'ext-42', base: { accessKeyId: 'LTAI-unknown', accessKeySecret: 'x' } }, 'InvalidAccessKeyId.NotFound'],
  ] as const)('%s: the provider fails with %s', async (_what, o, code) => {
    const p = provider(h, o as Parameters<typeof provider>[1]);
    const err = await p.getCredentials().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^refresh session token failed: /);
    expect(JSON.parse(err!.message.slice('refresh session token failed: '.length))).toMatchObject({ Code: code, HostId: 'sts.aliyuncs.com' });
  });

  it('the other key may assume the role that trusts it', async () => {
    const c = await provider(h, { role: 'picky', base: OTHER }).getCredentials();
    expect(c.accessKeyId).toMatch(/^STS\./);
  });

  it('a DurationSeconds the role does not allow', async () => {
    const err = await provider(h, { role: 'reader', externalId: 'ext-42', durationSeconds: 7200 }).getCredentials().catch((e: Error) => e);
    expect((err as Error).message).toMatch(/InvalidParameter\.DurationSeconds/);
  });

  it('the provider failing during a call is counted as credentials, not as the SAS API: a refusal not retried, STS unreachable retried', async () => {
    h.setFaults('*', [{ kind: 'server_error', actions: ['AssumeRole'], times: 1 }], 'base');
    try {
      // Announced for 900 s: the provider asks STS again before every call.
      const client = sasClient(h, scrubbed(roleCredential(h, { role: 'reader', externalId: 'ext-42', durationSeconds: 900 })));
      const refused = await client.describeScanTaskProgress('6001');
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.error).toMatchObject({ class: 'credentials', code: 'credentials', retriable: false });
      expect((await client.describeScanTaskProgress('6001')).ok).toBe(true);
    } finally {
      h.setFaults('*', [], 'base');
    }
    const closed = await listenAndClose();
    const unreachable = new SasClient({
      endpoint: h.endpoint,
      protocol: 'http',
      region: 'cn-shanghai',
      requestTimeoutMs: 3000,
      credential: scrubbed(new CredentialClient(null, provider(h, { role: 'reader', externalId: 'ext-42' }, closed))),
    });
    const down = await unreachable.describeScanTaskProgress('6001');
    expect(down.ok).toBe(false);
    if (!down.ok) expect(down.error).toMatchObject({ class: 'credentials', code: 'credentials', retriable: true });
  });

  it('an AssumeRole fault (actions: [AssumeRole]) fails the provider once; SAS calls are untouched by it', async () => {
    h.resetCounts();
    h.setFaults('*', [{ kind: 'server_error', actions: ['AssumeRole'], times: 1 }], 'base');
    try {
      const p = provider(h, { role: 'reader', externalId: 'ext-42' });
      await expect(p.getCredentials()).rejects.toThrow(/ServerError/);
      expect((await callApi(sdkClient(h, BASE), '6001')).ok).toBe(true);
      expect((await p.getCredentials()).accessKeyId).toMatch(/^STS\./);
      expect(h.counts().byAction.AssumeRole!.faultsFired).toMatchObject({ server_error: 1 });
    } finally {
      h.setFaults('*', [], 'base');
    }
  });
});

describe.skipIf(gate.skip)('AssumeRole: the checks below the provider (raw signed requests)', () => {
  let h: SimulatorHandle;
  beforeAll(async () => {
    h = await startSimulator({ scenario: await loadScenarioFile(fixture('sts.yaml')), tls: requireTls(gate).options });
  });
  afterAll(() => h?.close());

  const form = { RoleArn: ROLE('reader'), RoleSessionName: 'raw-session', DurationSeconds: '900', ExternalId: 'ext-42' };

  it('a correct call: the answer has the service’s shape, over HTTPS and plain HTTP alike', async () => {
    for (const https of [true, false]) {
      const r = await rpcCall(h, { keys: BASE, form, https });
      expect(r.status).toBe(200);
      expect(Object.keys(r.json!)).toEqual(['RequestId', 'AssumedRoleUser', 'Credentials']);
      expect(r.json!.AssumedRoleUser).toMatchObject({ Arn: `${ROLE('reader')}/raw-session`, AssumedRoleId: expect.stringMatching(/^\d+:raw-session$/) });
      const creds = r.json!.Credentials as Record<string, string>;
      expect(Object.keys(creds).sort()).toEqual(['AccessKeyId', 'AccessKeySecret', 'Expiration', 'SecurityToken']);
      expect(creds.Expiration).toMatch(EXPIRATION);
      expect(Date.parse(creds.Expiration!) - Date.now()).toBeGreaterThan(898_000);
    }
  });

  it('a stale Timestamp: InvalidTimeStamp.Expired; a malformed one: InvalidTimeStamp.Format', async () => {
    const stale = await rpcCall(h, { keys: BASE, form, query: { Timestamp: acsDate(Date.now() - 16 * 60_000) }, https: true });
    expect([stale.status, stale.json!.Code]).toEqual([400, 'InvalidTimeStamp.Expired']);
    const bad = await rpcCall(h, { keys: BASE, form, query: { Timestamp: 'yesterday' }, https: true });
    expect(bad.json!.Code).toBe('InvalidTimeStamp.Format');
  });

  it('a reused nonce: SignatureNonceUsed', async () => {
    const nonce = `sts-replay-${Date.now()}`;
    expect((await rpcCall(h, { keys: BASE, form, query: { SignatureNonce: nonce }, https: true })).status).toBe(200);
    const again = await rpcCall(h, { keys: BASE, form, query: { SignatureNonce: nonce }, https: true });
    expect([again.status, again.json!.Code]).toEqual([400, 'SignatureNonceUsed']);
  });

  it('a tampered body or query: SignatureDoesNotMatch, with the server’s string to sign and never a secret', async () => {
    const body = await rpcCall(h, { keys: BASE, form, https: true, afterSigning: (r) => (r.form.RoleArn = ROLE('refresh')) });
    expect([body.status, body.json!.Code]).toEqual([400, 'SignatureDoesNotMatch']);
    expect(body.json!.Message).toMatch(/^Specified signature is not matched with our calculation\. server string to sign is:POST&%2F&/);
    expect(body.text).not.toContain(BASE.accessKeySecret);
    const query = await rpcCall(h, { keys: BASE, form, https: true, afterSigning: (r) => (r.query.Timestamp = acsDate(Date.now() - 1000)) });
    expect(query.json!.Code).toBe('SignatureDoesNotMatch');
  });

  it('a parameter in both the query and the body is refused: it could be signed with one value and read with the other', async () => {
    const r = await rpcCall(h, { keys: BASE, form, https: true, afterSigning: (x) => (x.query.DurationSeconds = '3600') });
    expect([r.status, r.json!.Code]).toEqual([400, 'InvalidParameter']);
    expect(r.json!.Message).toMatch(/DurationSeconds/);
  });

  it('missing or unsupported signature parameters', async () => {
    const noSig = await rpcCall(h, { keys: BASE, form, afterSigning: (r) => delete r.query.Signature });
    expect(noSig.json).toMatchObject({ Code: 'MissingParameter' });
    const sha256 = await rpcCall(h, { keys: BASE, form, query: { SignatureMethod: 'HMAC-SHA256' } });
    expect(sha256.json).toMatchObject({ Code: 'IncompleteSignature' });
    const noVersion = await rpcCall(h, { keys: BASE, form, afterSigning: (r) => delete r.query.Version });
    expect(noVersion.json).toMatchObject({ Code: 'MissingParameter' });
    const version = await rpcCall(h, { keys: BASE, form, query: { Version: '2019-01-01' } });
    expect(version.json).toMatchObject({ Code: 'InvalidVersion' });
    const action = await rpcCall(h, { keys: BASE, form, query: { Action: 'GetCallerIdentity' } });
    expect([action.status, action.json!.Code]).toEqual([404, 'InvalidAction.NotFound']);
  });

  it.each([
    ['RoleArn malformed', 400, 'InvalidParameter.RoleArn', { RoleArn: 'arn:aws:iam::1:role/x' }],
    ['RoleArn missing', 400, 'MissingParameter', { RoleArn: '' }],
    ['RoleSessionName with a space', 400, 'InvalidParameter.RoleSessionName', { RoleSessionName: 'a b' }],
    ['DurationSeconds below 900', 400, 'InvalidParameter.DurationSeconds', { DurationSeconds: '600' }],
    ['DurationSeconds not a number', 400, 'InvalidParameter.DurationSeconds', { DurationSeconds: 'soon' }],
    ['Policy that is not JSON', 400, 'InvalidParameter.PolicyGrammar', { Policy: '{not json' }],
  ] as const)('%s: %i %s', async (_what, status, code, change) => {
    const r = await rpcCall(h, { keys: BASE, form: { ...form, ...change }, https: true });
    expect([r.status, r.json!.Code]).toEqual([status, code]);
  });

  it('temporary credentials of one role do not chain into a role that does not list it', async () => {
    const first = await rpcCall(h, { keys: BASE, form, https: true });
    const c = first.json!.Credentials as Record<string, string>;
    const keys = { accessKeyId: c.AccessKeyId!, accessKeySecret: c.AccessKeySecret!, securityToken: c.SecurityToken! };
    const chained = await rpcCall(h, { keys, form: { ...form, RoleArn: ROLE('refresh'), ExternalId: '' }, https: true });
    expect([chained.status, chained.json!.Code]).toEqual([403, 'NoPermission']);
    const noToken = await rpcCall(h, { keys: { ...keys, securityToken: '' }, form, https: true });
    expect(noToken.json!.Code).toBe('InvalidSecurityToken.MismatchWithAccessKey');
  });
});

describe.skipIf(gate.skip)('the command line with --tls-cert/--tls-key', () => {
  it('prints both URLs and serves HTTPS', async () => {
    const tls = requireTls(gate);
    const out: string[] = [];
    const err: string[] = [];
    const r = await runCli(
      ['--scenario', fixture('sts.yaml'), '--listen', '127.0.0.1:0', '--tls-cert', tls.certFile, '--tls-key', tls.keyFile],
      { out: (l) => out.push(l), err: (l) => err.push(l) },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    try {
      expect(out).toEqual([`simulator listening on ${r.handle.url}`, `simulator listening on ${r.handle.https!.url}`]);
      expect(err[0]).toMatch(/2 tasks in 2 accounts \(base, target\)/);
      const c = await provider(r.handle, { role: 'reader', externalId: 'ext-42' }).getCredentials();
      expect(c.accessKeyId).toMatch(/^STS\./);
    } finally {
      await r.handle.close();
    }
  });

  it('--tls-cert without --tls-key exits 2; an unreadable file exits 1', async () => {
    const io = { out: () => {}, err: () => {} };
    expect(await runCli(['--scenario', fixture('sts.yaml'), '--tls-cert', 'x.pem'], io)).toEqual({ ok: false, exitCode: 2 });
    expect(await runCli(['--scenario', fixture('sts.yaml'), '--tls-listen', '127.0.0.1:0'], io)).toEqual({ ok: false, exitCode: 2 });
    expect(await runCli(['--scenario', fixture('sts.yaml'), '--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.key'], io)).toEqual({
      ok: false,
      exitCode: 1,
    });
  });
});
