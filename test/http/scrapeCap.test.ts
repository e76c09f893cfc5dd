/**
 * --web.max-requests: a scrape holds its slot until its answer has been
 * flushed or its connection is gone, not merely until the handler returned
 * (which, the answer coming from a cache, is one await later: the cap then
 * never saw two scrapes at once and never answered 503).
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createRequestListener } from '../../src/http/app.js';
import { silentLogger } from '../../src/log/logger.js';
import { ExpositionCache } from '../../src/metrics/cache.js';
import type { SelfMetrics } from '../../src/metrics/self.js';

/** A response whose 'close' (answer flushed, or connection gone) the test fires by hand. */
class SlowResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  closed = false;
  ended = false;
  readonly headers = new Map<string, string>();
  setHeader(k: string, v: string): this {
    this.headers.set(k.toLowerCase(), String(v));
    return this;
  }
  getHeader(k: string): string | undefined {
    return this.headers.get(k.toLowerCase());
  }
  write(): boolean {
    this.headersSent = true;
    return true;
  }
  end(): this {
    this.headersSent = true;
    this.ended = true;
    this.emit('finish');
    return this;
  }
  flushed(): void {
    this.closed = true;
    this.emit('close');
  }
}

function setup(max: number) {
  const scraped: number[] = [];
  const self = { renderParts: async () => ({ volatile: '# TYPE x gauge\nx 1\n' }), scraped: (c: number) => void scraped.push(c) } as unknown as SelfMetrics;
  const cache = new ExpositionCache(() => self.renderParts());
  const listener = createRequestListener({ telemetryPath: '/metrics', cache, self, logger: silentLogger, isReady: () => true, maxConcurrentScrapes: max });
  const send = (res: SlowResponse): void => {
    const req = { method: 'GET', url: '/metrics', headers: {}, socket: {} } as unknown as IncomingMessage;
    listener(req, res as unknown as ServerResponse);
  };
  const scrape = async (): Promise<SlowResponse> => {
    const res = new SlowResponse();
    send(res);
    await expect.poll(() => res.ended).toBe(true);
    return res;
  };
  return { send, scrape, scraped };
}

describe('scrape cap (--web.max-requests)', () => {
  it('counts a scrape until its answer is flushed: the next one over the cap gets 503, a slot comes back on close', async () => {
    const { scrape, scraped } = setup(2);
    const a = await scrape();
    const b = await scrape();
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    const c = await scrape();
    expect(c.statusCode).toBe(503);
    expect(c.getHeader('retry-after')).toBe('1');
    a.flushed();
    const d = await scrape();
    expect(d.statusCode).toBe(200);
    // A 503 took no slot: its close must not give one back.
    c.flushed();
    expect((await scrape()).statusCode).toBe(503);
    b.flushed();
    d.flushed();
    expect((await scrape()).statusCode).toBe(200);
    expect(scraped).toEqual([200, 200, 503, 200, 503, 200]);
  });

  it('a client gone before its scrape is served (e.g. while basic auth ran) takes no slot', async () => {
    const { send, scrape, scraped } = setup(1);
    const gone = new SlowResponse();
    gone.closed = true; // its 'close' has been emitted already, and never will be again
    send(gone);
    await new Promise((r) => setTimeout(r, 20));
    expect(gone.ended).toBe(false);
    const ok = await scrape();
    expect(ok.statusCode).toBe(200);
    expect((await scrape()).statusCode).toBe(503);
    ok.flushed();
    expect((await scrape()).statusCode).toBe(200);
    expect(scraped).toEqual([200, 503, 200]);
  });
});

describe('aliyun_sas_exporter_scrapes_total', () => {
  it('counts every answer of the telemetry path by its status: refused by auth, failed, capped, served', async () => {
    const scraped: number[] = [];
    const self = { renderParts: async () => ({ volatile: '# TYPE x gauge\nx 1\n' }), scraped: (c: number) => void scraped.push(c) } as unknown as SelfMetrics;
    const cache = new ExpositionCache(() => self.renderParts());
    let deny = true;
    const listener = createRequestListener({
      telemetryPath: '/metrics',
      cache,
      self,
      logger: silentLogger,
      isReady: () => true,
      auth: (_req, res, next) => {
        if (!deny) return next();
        res.statusCode = 401;
        res.end();
      },
    });
    const run = async (): Promise<void> => {
      const res = new SlowResponse();
      listener({ method: 'GET', url: '/metrics', headers: {}, socket: {} } as unknown as IncomingMessage, res as unknown as ServerResponse);
      await expect.poll(() => res.ended).toBe(true);
    };
    await run();
    deny = false;
    await run();
    cache.expose = () => Promise.reject(new Error('render failed'));
    await run();
    expect(scraped).toEqual([401, 200, 500]);
  });
});
