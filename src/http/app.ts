/**
 * The HTTP surface: telemetry path, health, readiness, reload and a landing
 * page. Only the methods each path is meant for; no stack or version in
 * error answers.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../log/logger.js';
import { webHeadersMiddleware } from './headers.js';
import { negotiate } from '../metrics/exposition.js';
import type { ExpositionCache } from '../metrics/cache.js';
import type { SelfMetrics } from '../metrics/self.js';

export type ReloadOutcome = { ok: true } | { ok: false; error: string };

export interface AppDeps {
  telemetryPath: string;
  cache: ExpositionCache;
  self: SelfMetrics;
  logger: Logger;
  isReady: () => boolean;
  /** Set when the lifecycle API is enabled (--web.enable-lifecycle). */
  reload?: () => Promise<ReloadOutcome>;
  /** Basic-auth guard for the telemetry and reload paths, when configured. */
  auth?: express.RequestHandler;
  /** Extra response headers from the web configuration, read per request so reloads apply. */
  headers?: () => Readonly<Record<string, string>>;
  /** Scrapes served at once; more get 503 rather than queueing up memory. */
  maxConcurrentScrapes?: number;
}

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function landingPage(telemetryPath: string): string {
  const p = escapeHtml(telemetryPath);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Alibaba Cloud Security Center exporter</title></head>
<body>
<h1>Alibaba Cloud Security Center exporter</h1>
<p>Exports the progress of Security Center virus scan tasks (DescribeScanTaskProgress) for Prometheus.</p>
<ul>
<li><a href="${p}">${p}</a> metrics</li>
<li><a href="/-/healthy">/-/healthy</a> liveness</li>
<li><a href="/-/ready">/-/ready</a> readiness (after the first poll cycle)</li>
</ul>
</body></html>
`;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag'); // an ETag is a SHA-1 of the whole body per request: costly and useless here
  app.set('query parser', false);
  const maxScrapes = deps.maxConcurrentScrapes ?? 40;
  let scrapesInFlight = 0;
  const landing = landingPage(deps.telemetryPath);

  if (deps.headers) app.use(webHeadersMiddleware(deps.headers));

  const only =
    (methods: readonly string[]) =>
    (req: Request, res: Response, next: NextFunction): void => {
      if (methods.includes(req.method)) return next();
      res.setHeader('Allow', methods.join(', '));
      res.status(405).type('text/plain').send('Method Not Allowed\n');
    };
  const guard: express.RequestHandler = deps.auth ?? ((_req, _res, next) => next());

  app.all(deps.telemetryPath, only(['GET', 'HEAD']), guard, async (req, res) => {
    if (scrapesInFlight >= maxScrapes) {
      deps.self.scraped(503);
      res.status(503).setHeader('Retry-After', '1').type('text/plain').send('Too many concurrent scrapes\n');
      return;
    }
    scrapesInFlight++;
    try {
      const exp = await deps.cache.expose(negotiate(req.get('accept'), req.get('accept-encoding')));
      res.status(200);
      res.setHeader('Content-Type', exp.contentType);
      res.setHeader('Content-Length', String(exp.length));
      res.setHeader('Vary', 'Accept, Accept-Encoding');
      if (exp.contentEncoding) res.setHeader('Content-Encoding', exp.contentEncoding);
      deps.self.scraped(200);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      for (let i = 0; i < exp.chunks.length - 1; i++) res.write(exp.chunks[i]);
      res.end(exp.chunks[exp.chunks.length - 1]);
    } finally {
      scrapesInFlight--;
    }
  });

  app.all('/-/healthy', only(['GET', 'HEAD']), (_req, res) => {
    res.status(200).type('text/plain').send('Healthy\n');
  });

  app.all('/-/ready', only(['GET', 'HEAD']), (_req, res) => {
    if (deps.isReady()) res.status(200).type('text/plain').send('Ready\n');
    else res.status(503).type('text/plain').send('Not ready: the first poll cycle has not finished\n');
  });

  app.all('/-/reload', only(['POST', 'PUT']), guard, async (_req, res) => {
    if (!deps.reload) {
      res.status(403).type('text/plain').send('Lifecycle API is not enabled (--web.enable-lifecycle)\n');
      return;
    }
    const outcome = await deps.reload();
    if (outcome.ok) res.status(200).type('text/plain').send('Configuration reloaded\n');
    else res.status(500).type('text/plain').send(`Failed to reload configuration: ${outcome.error}\n`);
  });

  app.all('/', only(['GET', 'HEAD']), (_req, res) => {
    res.set(SECURITY_HEADERS).status(200).type('html').send(landing);
  });

  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not Found\n');
  });

  // Express' default handler prints stacks outside production; this one never does.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
    if (status >= 500) deps.logger.error('HTTP handler failed', { path: req.path, err: err instanceof Error ? err.message : String(err) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).type('text/plain').send(status >= 500 ? 'Internal Server Error\n' : 'Bad Request\n');
  });

  return app;
}
