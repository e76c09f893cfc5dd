import bcrypt from 'bcryptjs';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { basicAuthMiddleware, parseBasicAuthorization, type BasicAuthOptions } from '../../src/web/basicAuth.js';
import { webHeadersMiddleware } from '../../src/web/headers.js';
import { startServer, type ServingHandle } from '../../src/web/server.js';
import { silentLogger } from '../../src/log/logger.js';
import { captureLog } from '../support/log.js';
import { basic, request, sleep } from '../support/pki.js';

const ALICE_PW = 'correct horse battery staple';
const aliceHash = bcrypt.hashSync(ALICE_PW, 4);
// htpasswd and Go write $2y$; bcryptjs must take it as is.
const bobHash2y = bcrypt.hashSync('b0b:with:colons', 5).replace(/^\$2b\$/, '$2y$');

const handles: ServingHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close(100)));
});

interface Setup {
  url: string;
  compare: ReturnType<typeof vi.fn<(password: string, hash: string) => Promise<boolean>>>;
  mw: ReturnType<typeof basicAuthMiddleware>;
  setUsers(u: ReadonlyMap<string, string> | undefined): void;
  logs: string[];
}

async function setup(opts: Partial<BasicAuthOptions> = {}, compareImpl = (p: string, h: string) => bcrypt.compare(p, h)): Promise<Setup> {
  let users: ReadonlyMap<string, string> | undefined = new Map([
    ['alice', aliceHash],
    ['bob', bobHash2y],
  ]);
  const compare = vi.fn(compareImpl);
  const log = captureLog();
  const logs = log.lines;
  const mw = basicAuthMiddleware(() => users, { compare, logger: log.logger, ...opts });
  const app = express();
  app.use(webHeadersMiddleware(() => ({ 'X-Frame-Options': 'deny' })));
  app.use(mw);
  app.get('/metrics', (_req, res) => {
    res.type('text/plain').send('up 1\n');
  });
  const h = await startServer(app, { host: '127.0.0.1', port: 0, logger: silentLogger });
  handles.push(h);
  return { url: `${h.url}metrics`, compare, mw, setUsers: (u) => (users = u), logs };
}

describe('basicAuthMiddleware', () => {
  it('no Authorization header: 401 with WWW-Authenticate: Basic (and the configured headers)', async () => {
    const s = await setup();
    const r = await request(s.url);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic');
    expect(r.headers['x-frame-options']).toBe('deny');
    expect(s.compare).not.toHaveBeenCalled();
  });

  it('right password: 200', async () => {
    const s = await setup();
    const r = await request(s.url, { headers: { authorization: basic('alice', ALICE_PW) } });
    expect(r.status).toBe(200);
    expect(r.body).toBe('up 1\n');
  });

  it('wrong password: 401', async () => {
    const s = await setup();
    const r = await request(s.url, { headers: { authorization: basic('alice', 'nope') } });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic');
  });

  it('unknown user: 401, after a bcrypt comparison against a decoy at the highest cost in use', async () => {
    const s = await setup();
    const r = await request(s.url, { headers: { authorization: basic('mallory', ALICE_PW) } });
    expect(r.status).toBe(401);
    expect(s.compare).toHaveBeenCalledTimes(1);
    const [pw, decoy] = s.compare.mock.calls[0]!;
    expect(pw).toBe(ALICE_PW);
    expect(decoy).toMatch(/^\$2b\$05\$[./A-Za-z0-9]{53}$/); // cost 5 = bob's, the highest configured
    expect(decoy).not.toBe(aliceHash);
  });

  it('a $2y$ hash is accepted', async () => {
    const s = await setup();
    expect((await request(s.url, { headers: { authorization: basic('bob', 'b0b:with:colons') } })).status).toBe(200);
    expect((await request(s.url, { headers: { authorization: basic('bob', 'b0b') } })).status).toBe(401);
  });

  it('caches a successful verification: the second request does not run bcrypt', async () => {
    const s = await setup();
    const auth = { authorization: basic('alice', ALICE_PW) };
    expect((await request(s.url, { headers: auth })).status).toBe(200);
    expect(s.compare).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 3; i++) expect((await request(s.url, { headers: auth })).status).toBe(200);
    expect(s.compare).toHaveBeenCalledTimes(1);
    expect(s.mw.stats()).toMatchObject({ bcryptCompares: 1, cacheHits: 3, cacheSize: 1 });
  });

  it('does not cache failures, so a wrong password is always checked', async () => {
    const s = await setup();
    const auth = { authorization: basic('alice', 'wrong') };
    expect((await request(s.url, { headers: auth })).status).toBe(401);
    expect((await request(s.url, { headers: auth })).status).toBe(401);
    expect(s.compare).toHaveBeenCalledTimes(2);
    expect(s.mw.stats().cacheSize).toBe(0);
  });

  it('bounds the cache (LRU)', async () => {
    const users = new Map([
      ['a', bcrypt.hashSync('pa', 4)],
      ['b', bcrypt.hashSync('pb', 4)],
      ['c', bcrypt.hashSync('pc', 4)],
    ]);
    const s = await setup({ cacheSize: 2 });
    s.setUsers(users);
    for (const u of ['a', 'b', 'c']) expect((await request(s.url, { headers: { authorization: basic(u, `p${u}`) } })).status).toBe(200);
    expect(s.mw.stats().cacheSize).toBe(2);
    // 'a' was evicted: verified again.
    expect((await request(s.url, { headers: { authorization: basic('a', 'pa') } })).status).toBe(200);
    expect(s.compare).toHaveBeenCalledTimes(4);
    // 'c' is still cached.
    expect((await request(s.url, { headers: { authorization: basic('c', 'pc') } })).status).toBe(200);
    expect(s.compare).toHaveBeenCalledTimes(4);
  });

  it('reads the users on every request: a reload applies at once, and a changed hash invalidates the cache', async () => {
    const s = await setup();
    const auth = { authorization: basic('alice', ALICE_PW) };
    expect((await request(s.url, { headers: auth })).status).toBe(200);
    s.setUsers(new Map([['alice', bcrypt.hashSync('new password', 4)]]));
    expect((await request(s.url, { headers: auth })).status).toBe(401);
    expect((await request(s.url, { headers: { authorization: basic('alice', 'new password') } })).status).toBe(200);
    s.setUsers(undefined); // basic auth removed from the web config
    expect((await request(s.url)).status).toBe(200);
    s.setUsers(new Map());
    expect((await request(s.url)).status).toBe(200);
  });

  it('malformed credentials: 401 without bcrypt', async () => {
    const s = await setup();
    for (const authorization of ['Bearer abc', 'Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, 'Digest x']) {
      const r = await request(s.url, { headers: { authorization } });
      expect(r.status, authorization).toBe(401);
    }
    expect(s.compare).not.toHaveBeenCalled();
  });

  it('a flood of wrong passwords is bounded: extra requests get 429, cached credentials still pass', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await setup({ maxConcurrent: 1, maxQueue: 2 }, async (p, h) => {
      if (p.startsWith('flood')) {
        await gate;
        return false;
      }
      return bcrypt.compare(p, h);
    });
    const good = { authorization: basic('alice', ALICE_PW) };
    expect((await request(s.url, { headers: good })).status).toBe(200); // now cached

    const flood = [0, 1, 2, 3, 4].map((i) => request(s.url, { headers: { authorization: basic('alice', `flood${i}`) } }));
    await sleep(100);
    // 1 running + 2 queued; the other two were turned away without bcrypt.
    expect(s.compare).toHaveBeenCalledTimes(2); // the good one + the running flood one
    expect((await request(s.url, { headers: good })).status).toBe(200);
    release();
    const statuses = (await Promise.all(flood)).map((r) => r.status).sort();
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(s.compare).toHaveBeenCalledTimes(4);
    expect(s.mw.stats().rejectedBusy).toBe(2);
  });

  it('one address holds at most maxPerAddress places: another client still gets its password checked', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await setup({ maxConcurrent: 1, maxQueue: 10, maxPerAddress: 2 }, async (p, h) => {
      if (p.startsWith('flood')) {
        await gate;
        return false;
      }
      return bcrypt.compare(p, h);
    });
    const flood = [0, 1, 2, 3, 4].map((i) => request(s.url, { headers: { authorization: basic('alice', `flood${i}`) } }));
    await sleep(100);
    const other = request(s.url, { headers: { authorization: basic('alice', ALICE_PW) }, localAddress: '127.0.0.2' });
    await sleep(100);
    release();
    expect((await other).status).toBe(200);
    expect((await Promise.all(flood)).map((r) => r.status).sort()).toEqual([401, 401, 429, 429, 429]);
    expect(s.mw.stats().rejectedBusy).toBe(3);
  });

  it('by default, compares in a worker thread with the real bcrypt', async () => {
    const log = captureLog();
    const mw = basicAuthMiddleware(() => new Map([['alice', aliceHash]]), { logger: log.logger });
    const app = express();
    app.use(mw);
    app.get('/metrics', (_req, res) => res.send('ok'));
    const h = await startServer(app, { host: '127.0.0.1', port: 0, logger: silentLogger });
    handles.push(h);
    try {
      expect((await request(`${h.url}metrics`, { headers: { authorization: basic('alice', ALICE_PW) } })).status).toBe(200);
      expect((await request(`${h.url}metrics`, { headers: { authorization: basic('alice', 'wrong') } })).status).toBe(401);
      expect((await request(`${h.url}metrics`, { headers: { authorization: basic('nobody', 'x') } })).status).toBe(401);
      expect(mw.stats().bcryptCompares).toBe(3);
    } finally {
      await mw.close();
    }
  });

  it('reports every denial with its reason', async () => {
    const reasons: string[] = [];
    const s = await setup({ onDenied: (r) => reasons.push(r) });
    await request(s.url);
    await request(s.url, { headers: { authorization: 'Bearer x' } });
    await request(s.url, { headers: { authorization: basic('alice', 'wrong') } });
    await request(s.url, { headers: { authorization: basic('nobody', 'x') } });
    await request(s.url, { headers: { authorization: basic('alice', ALICE_PW) } });
    expect(reasons).toEqual(['missing', 'malformed', 'invalid', 'invalid']);
  });

  it('never logs the password', async () => {
    const s = await setup();
    await request(s.url, { headers: { authorization: basic('alice', 'hunter2-wrong') } });
    await request(s.url, { headers: { authorization: basic('mallory', 'hunter2-wrong') } });
    expect(s.logs.length).toBeGreaterThan(0);
    expect(JSON.stringify(s.logs)).not.toContain('hunter2');
  });

  it('rejects bad options', () => {
    expect(() => basicAuthMiddleware(() => undefined, { maxConcurrent: 0, logger: silentLogger })).toThrow(RangeError);
    expect(() => basicAuthMiddleware(() => undefined, { cacheSize: 1.5, logger: silentLogger })).toThrow(RangeError);
  });
});

describe('parseBasicAuthorization', () => {
  it('splits at the first colon, decodes UTF-8, accepts any case of the scheme', () => {
    expect(parseBasicAuthorization(basic('u', 'p:a:ss'))).toEqual({ user: 'u', password: 'p:a:ss' });
    expect(parseBasicAuthorization(`bAsIc ${Buffer.from('jörg:pässword').toString('base64')}`)).toEqual({ user: 'jörg', password: 'pässword' });
    expect(parseBasicAuthorization(basic('', ''))).toEqual({ user: '', password: '' });
  });
  it('refuses what is not Basic credentials', () => {
    expect(parseBasicAuthorization(undefined)).toBeUndefined();
    expect(parseBasicAuthorization('Basic a b')).toBeUndefined();
    expect(parseBasicAuthorization('Basic ====')).toBeUndefined();
    expect(parseBasicAuthorization(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBeUndefined();
  });
});
