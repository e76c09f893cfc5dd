/**
 * The HTTP surface: telemetry path, health, readiness, reload and a landing
 * page. Only the methods each path is meant for; no stack or version in
 * error answers.
 *
 * createRequestListener() puts a fast path in front of express for the one
 * hot request, GET/HEAD of the exact telemetry path: express' per-request
 * set-up costs about as much as answering a scrape from the cache (~0.15 ms
 * on a small machine). Both paths run the same handler, headers and auth.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../log/logger.js';
import type { ReloadOutcome } from '../reload.js';
import { webHeadersMiddleware } from '../web/headers.js';
import { negotiate } from '../metrics/exposition.js';
import type { ExpositionCache } from '../metrics/cache.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { ExporterStatus } from '../model/status.js';
import { HOMEPAGE } from '../version.js';
import { renderLandingPage } from './landing.js';

/** Middleware on Node's own request and response (basic auth is one), so it runs on the fast path as well as in express. */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export interface AppDeps {
  telemetryPath: string;
  cache: ExpositionCache;
  self: SelfMetrics;
  logger: Logger;
  isReady: () => boolean;
  /** Why not ready yet, for the 503 answer of /-/ready. */
  notReadyReason?: () => string;
  /** Set when the lifecycle API is enabled (--web.enable-lifecycle). */
  reload?: () => Promise<ReloadOutcome>;
  /** Basic-auth guard for the telemetry path, the reload path and the landing page, when configured. */
  auth?: NodeMiddleware;
  /** Extra response headers from the web configuration, read per request so reloads apply. */
  headers?: () => Readonly<Record<string, string>>;
  /** Scrapes served at once; more get 503 rather than queueing up memory. */
  maxConcurrentScrapes?: number;
  /** What the landing page shows, taken per request; without it the page holds the links only. */
  status?: () => ExporterStatus;
}

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** What the express app and the fast path share: one scrape counter, one handler. */
interface Shared {
  /** Counts the answer of a telemetry-path request by its status, whatever produced it (auth, cap, handler, error). */
  readonly countScrape: (res: ServerResponse) => void;
  /** The web config's response headers; before auth, so 401s carry them too. */
  readonly headers: NodeMiddleware;
  readonly guard: NodeMiddleware;
  readonly serveTelemetry: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  readonly fail: (req: IncomingMessage, res: ServerResponse, err: unknown) => void;
}

function sendText(req: IncomingMessage, res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.end(req.method === 'HEAD' ? undefined : body);
}

function share(deps: AppDeps): Shared {
  const maxScrapes = deps.maxConcurrentScrapes ?? 40;
  let scrapesInFlight = 0;
  const header = (req: IncomingMessage, name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  return {
    countScrape: (res) => res.once('finish', () => deps.self.scraped(res.statusCode)),
    headers: webHeadersMiddleware(() => deps.headers?.()),
    guard: deps.auth ?? ((_req, _res, next) => next()),
    async serveTelemetry(req, res) {
      // Gone while basic auth ran: nobody to answer, and a 'close' already
      // emitted would never give the slot back.
      if (res.closed) return;
      if (scrapesInFlight >= maxScrapes) {
        sendText(req, res, 503, 'Too many concurrent scrapes\n', { 'Retry-After': '1' });
        return;
      }
      // A scrape holds its slot until its answer is flushed or its connection
      // is gone ('close' comes after 'finish', or on abort), as Go's handler
      // does by blocking on the body write. Released when the handler
      // returned, the slot was held only across one await of microtasks: no
      // two scrapes ever overlapped and the cap never answered 503.
      scrapesInFlight++;
      res.once('close', () => scrapesInFlight--);
      const exp = await deps.cache.expose(negotiate(header(req, 'accept'), header(req, 'accept-encoding')));
      res.statusCode = 200;
      res.setHeader('Content-Type', exp.contentType);
      res.setHeader('Content-Length', String(exp.length));
      res.setHeader('Vary', 'Accept, Accept-Encoding');
      if (exp.contentEncoding) res.setHeader('Content-Encoding', exp.contentEncoding);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      // Cached buffers, written as they are: never copied, never re-rendered.
      for (let i = 0; i < exp.chunks.length - 1; i++) res.write(exp.chunks[i]);
      res.end(exp.chunks[exp.chunks.length - 1]);
    },
    // Express' default handler prints stacks outside production; this one never does.
    fail(req, res, err) {
      const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
      if (status >= 500) deps.logger.error('HTTP handler failed', { path: (req.url ?? '').split('?')[0], err: err instanceof Error ? err.message : String(err) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendText(req, res, status, status >= 500 ? 'Internal Server Error\n' : 'Bad Request\n');
    },
  };
}

export function createApp(deps: AppDeps): express.Express {
  return buildApp(deps, share(deps));
}

/**
 * The request listener to serve with: GET and HEAD of the exact telemetry
 * path (a query string allowed) are answered without express; everything
 * else, including other spellings express would match, goes to express.
 */
export function createRequestListener(deps: AppDeps): RequestListener {
  const shared = share(deps);
  const app = buildApp(deps, shared);
  const path = deps.telemetryPath;
  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((req.method === 'GET' || req.method === 'HEAD') && (q < 0 ? url : url.slice(0, q)) === path) {
      shared.countScrape(res);
      try {
        shared.headers(req, res, () =>
          shared.guard(req, res, (err?: unknown) => {
            if (err) shared.fail(req, res, err);
            else shared.serveTelemetry(req, res).catch((e: unknown) => shared.fail(req, res, e));
          }),
        );
      } catch (err) {
        shared.fail(req, res, err);
      }
      return;
    }
    app(req, res);
  };
}

function buildApp(deps: AppDeps, shared: Shared): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag'); // an ETag is a SHA-1 of the whole body per request: costly and useless here
  app.set('query parser', false);
  const landing = { telemetryPath: deps.telemetryPath, ...(HOMEPAGE ? { documentationUrl: HOMEPAGE } : {}) };

  app.use((req, res, next) => shared.headers(req, res, next));

  const only =
    (methods: readonly string[]) =>
    (req: Request, res: Response, next: NextFunction): void => {
      if (methods.includes(req.method)) return next();
      res.setHeader('Allow', methods.join(', '));
      res.status(405).type('text/plain').send('Method Not Allowed\n');
    };
  const guard: express.RequestHandler = (req, res, next) => shared.guard(req, res, next);

  app.all(
    deps.telemetryPath,
    (_req, res, next) => {
      shared.countScrape(res);
      next();
    },
    only(['GET', 'HEAD']),
    guard,
    (req, res) => shared.serveTelemetry(req, res),
  );

  app.all('/-/healthy', only(['GET', 'HEAD']), (_req, res) => {
    res.status(200).type('text/plain').send('Healthy\n');
  });

  app.all('/-/ready', only(['GET', 'HEAD']), (_req, res) => {
    if (deps.isReady()) res.status(200).type('text/plain').send('Ready\n');
    else res.status(503).type('text/plain').send(`Not ready: ${deps.notReadyReason?.() ?? 'the first poll cycle has not finished'}\n`);
  });

  app.all('/-/reload', only(['POST', 'PUT']), guard, async (_req, res) => {
    if (!deps.reload) {
      res.status(403).type('text/plain').send('Lifecycle API is not enabled (--web.enable-lifecycle)\n');
      return;
    }
    const outcome = await deps.reload();
    if (outcome.ok) res.status(200).type('text/plain').send('Configuration reloaded\n');
    // The reason names files and lines: it goes to the log, not to whoever asked.
    else res.status(500).type('text/plain').send('Failed to reload the configuration; the reason is in the exporter log\n');
  });

  // Behind basic auth like the telemetry path (exporter-toolkit guards every path): it shows the
  // accounts, endpoints and task counts. Only the two probe endpoints above stay open, so a kubelet
  // or Docker health check needs no credentials.
  app.all('/', only(['GET', 'HEAD']), guard, (_req, res) => {
    res.set(SECURITY_HEADERS).status(200).type('html').send(renderLandingPage(deps.status?.(), landing));
  });

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not Found\n');
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => shared.fail(req, res, err));

  return app;
}
