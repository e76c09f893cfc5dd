/**
 * Requests no SDK would send, against the new parts (RPC style, STS, the
 * scan-results actions): each gets an error answer, none takes the
 * simulator down.
 */
import { describe, expect, it } from 'vitest';
import { loadScenarioFile } from '../../src/simulator/index.js';
import { fixture, getJson, rawCall, send, withSimulator } from './helpers.js';

describe('odd requests', () => {
  it('get an answer and leave the simulator serving', async () => {
    const scenario = await loadScenarioFile(fixture('scans.yaml'));
    await withSimulator({ scenario }, async (h) => {
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const odd: Array<[string, string, Record<string, string>, string]> = [
        ['POST', '/?Action=AssumeRole', {}, ''],
        ['POST', '/?Action=AssumeRole&Version=2015-04-01', {}, ''],
        ['POST', '/?Signature=x', {}, ''],
        ['POST', '/?Action=AssumeRole&Version=2015-04-01&Signature=%ZZ&AccessKeyId=a', {}, ''],
        ['POST', '/?Action=AssumeRole&Version=2015-04-01&Signature=s&AccessKeyId=LTAI-scan-access-key-id&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&Timestamp=x&SignatureNonce=n', {}, ''],
        ['POST', '/', form, 'Action=AssumeRole&Version=2015-04-01&Signature=s&AccessKeyId=nobody'],
        ['POST', '/', form, Buffer.from([0x41, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x3d, 0xff, 0xfe, 0x26]).toString('latin1')],
        ['POST', '/?Action=ListVirusScanTask&Version=2018-12-03', {}, ''],
        ['POST', '/?Action=ListVirusScanTask&Action=AssumeRole', {}, ''],
        ['GET', '/?Action=' + 'A'.repeat(10_000), {}, ''],
      ];
      for (const [method, path, headers, body] of odd) {
        const r = await send(h, method, path, headers, body);
        expect(r.status, path.slice(0, 80)).toBeGreaterThanOrEqual(400);
        expect(r.status, path.slice(0, 80)).toBeLessThan(500);
        expect(r.json, path.slice(0, 80)).toHaveProperty('Code');
      }
      const queries: Array<Record<string, string>> = [
        { PageSize: '1e3' },
        { StatusList: '[[1]]' },
        { StatusList: '{"a":1}' },
        { 'StatusList.1': '1', 'StatusList.99999': '2' },
        { CurrentPage: '99999999999999999999' },
        { MachineName: '\u0000%' },
      ];
      for (const query of queries) {
        const r = await rawCall(h, { query, headers: { 'x-acs-action': 'ListVirusScanTask' }, accessKeyId: 'LTAI-scan-access-key-id', accessKeySecret: 'scan-access-key-secret' });
        expect([200, 400], JSON.stringify(query)).toContain(r.status);
      }
      expect((await getJson(`${h.url}/-/simulator/healthz`)).json).toMatchObject({ status: 'ok' });
    });
  });
});
