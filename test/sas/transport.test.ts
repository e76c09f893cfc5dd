/**
 * The call bounds through the real SDK over real HTTP, against a hostile
 * local server: a cap on the answer's size (announced or streamed, on a 200
 * and on an error status) and a deadline for the whole call, answer included.
 */
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SasClient } from '../../src/sas/client.js';
import { staticCredential } from '../../src/sas/credentials.js';
import { boundedCall, LOCAL_WORK_ALLOWANCE_MS, MAX_RESPONSE_BYTES } from '../../src/sas/transport.js';

type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const OK_BODY = JSON.stringify({ RequestId: 'R', ScanTaskProgress: 'Success', TargetInfo: '[{"type":"uuid","target":"u1","name":"n1"}]' });

/** Writes `chunk` for as long as the peer reads. */
function endless(res: http.ServerResponse, chunk = Buffer.alloc(64 * 1024, 0x20)): void {
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
}

const behaviours: Record<string, Behaviour> = {
  ok: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(OK_BODY);
  },
  endless200: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"RequestId":"');
    endless(res);
  },
  endless500: (_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.write('{"Code":"ServerError","Message":"');
    endless(res);
  },
  announced: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 ** 3) });
    res.write('{');
  },
  headersThenStall: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"ScanTaskProgress":');
  },
  trickle: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const t = setInterval(() => res.write(' '), 50);
    res.on('close', () => clearInterval(t));
  },
  nearCap: (_req, res) => {
    // A valid answer just under the cap: about 3.5 MiB of TargetInfo.
    const targets = Array.from({ length: 35_000 }, (_, i) => ({ type: 'uuid', target: `u-${String(i).padStart(8, '0')}`, name: `host-${i}` }));
    const body = JSON.stringify({ RequestId: 'R', ScanTaskProgress: 'Processing', TargetInfo: JSON.stringify(targets) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  },
};

let server: http.Server;
let endpoint: string;
let mode = 'ok';
const closedEarly: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const m = mode;
    res.on('close', () => {
      if (!res.writableFinished) closedEarly.push(m);
    });
    behaviours[m]!(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function client(timeoutMs: number, maxResponseBytes?: number): SasClient {
  const credential = staticCredential('AK', 'SK-transport-test');
  return new SasClient({ endpoint, protocol: 'http', requestTimeoutMs: timeoutMs, credential, ...(maxResponseBytes ? { maxResponseBytes } : {}) });
}

async function call(m: string, timeoutMs = 1000, maxBytes?: number) {
  mode = m;
  const t0 = performance.now();
  const result = await client(timeoutMs, maxBytes).describeScanTaskProgress('1');
  return { result, ms: performance.now() - t0 };
}

describe('SAS call bounds through the SDK', () => {
  it('a normal answer passes, also on a reused keep-alive connection', async () => {
    const c = client(1000);
    mode = 'ok';
    for (let i = 0; i < 3; i++) {
      const r = await c.describeScanTaskProgress('1');
      expect(r).toMatchObject({ ok: true, value: { status: 'success', targets: [{ target: 'u1' }] } });
    }
  });

  it("the SDK's read timer ends with the answer: a finished call holds nothing for request_timeout", async () => {
    // httpx arms a read timer per request that only its own read() clears; the SDK reads through
    // tea-util, so without the guard the timer (and the request it closes over) lives on for request_timeout.
    const sockets: Socket[] = [];
    const onResponse = (m: unknown): void => {
      const s = (m as { response: http.IncomingMessage }).response.socket;
      if (s) sockets.push(s);
    };
    diagnostics.subscribe('http.client.response.finish', onResponse);
    try {
      const c = client(60_000);
      mode = 'ok';
      for (let i = 0; i < 3; i++) expect((await c.describeScanTaskProgress('1')).ok).toBe(true);
    } finally {
      diagnostics.unsubscribe('http.client.response.finish', onResponse);
    }
    expect(sockets).toHaveLength(3);
    for (const s of sockets) {
      const sym = Object.getOwnPropertySymbols(s).find((x) => x.description === 'TIMER::READ_TIMER');
      expect(sym, 'httpx still keeps its read timer on the socket').toBeDefined();
      const timer = (s as unknown as Record<symbol, { _destroyed?: boolean } | null>)[sym!];
      expect(timer === null || timer._destroyed === true).toBe(true);
    }
  });

  it('an endless 200 answer is cut past the cap and counted as response_too_large, not network', async () => {
    const { result, ms } = await call('endless200', 5000);
    expect(result).toMatchObject({ ok: false, error: { class: 'response_too_large', code: 'response_too_large', retriable: false } });
    expect(ms).toBeLessThan(4000);
  });

  it('an endless error answer (500) is cut the same way', async () => {
    const { result } = await call('endless500', 5000);
    expect(result).toMatchObject({ ok: false, error: { class: 'response_too_large' } });
  });

  it('an announced Content-Length over the cap is refused before any body is read', async () => {
    const { result, ms } = await call('announced', 5000);
    expect(result).toMatchObject({ ok: false, error: { class: 'response_too_large' } });
    expect(result.ok ? '' : result.error.message).toContain('announces');
    expect(ms).toBeLessThan(2000);
  });

  it('a smaller cap applies (the option)', async () => {
    const { result } = await call('ok', 1000, 16);
    expect(result).toMatchObject({ ok: false, error: { class: 'response_too_large' } });
  });

  it('an answer just under the cap is read whole', async () => {
    const { result } = await call('nearCap', 5000);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.targets).toHaveLength(35_000);
  });

  it('headers then silence: a timeout at request_timeout, not a network error', async () => {
    const { result, ms } = await call('headersThenStall', 600);
    expect(result).toMatchObject({ ok: false, error: { class: 'timeout', code: 'timeout', retriable: true } });
    expect(ms).toBeGreaterThanOrEqual(590);
    expect(ms).toBeLessThan(600 + 400);
  });

  it('a trickle that never ends: cut at request_timeout overall, not only after silence', async () => {
    const { result, ms } = await call('trickle', 600);
    expect(result).toMatchObject({ ok: false, error: { class: 'timeout' } });
    expect(ms).toBeLessThan(600 + 400);
  });

  it('the hostile connections are closed by the exporter, not left open', async () => {
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !['endless200', 'endless500', 'announced', 'headersThenStall', 'trickle'].every((m) => closedEarly.includes(m))) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(new Set(closedEarly)).toEqual(new Set(['endless200', 'endless500', 'announced', 'headersThenStall', 'trickle']));
  });

  it('boundedCall settles with the call itself when it is in time; a call that never sends fails after the local allowance', async () => {
    await expect(boundedCall(async () => 42, { timeoutMs: 100 })).resolves.toBe(42);
    await expect(boundedCall(() => Promise.reject(new Error('own')), { timeoutMs: 100 })).rejects.toThrow('own');
    const t0 = performance.now();
    await expect(boundedCall(() => new Promise(() => undefined), { timeoutMs: 50 })).rejects.toMatchObject({ name: 'RequestTimeoutError' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50 + LOCAL_WORK_ALLOWANCE_MS - 10);
  });

  it('the cap is a few MiB', () => {
    expect(MAX_RESPONSE_BYTES).toBe(4 * 1024 * 1024);
  });
});
