/**
 * The exporter's HTTP surface on a listening server: the routes of app.ts
 * behind the web configuration's headers and basic auth, served by
 * web/server.ts with its limits. Used by the daemon and by the benchmark.
 */
import type { Logger } from '../log/logger.js';
import type { ExpositionCache } from '../metrics/cache.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { ExporterStatus } from '../model/status.js';
import type { ReloadOutcome } from '../reload.js';
import { basicAuthMiddleware } from '../web/basicAuth.js';
import type { WebConfig } from '../web/config.js';
import type { ListenAddress } from '../web/listenAddress.js';
import { startServer, type ServingHandle } from '../web/server.js';
import { createRequestListener } from './app.js';

export interface HttpOptions {
  readonly listen: ListenAddress;
  readonly telemetryPath: string;
  readonly cache: ExpositionCache;
  readonly self: SelfMetrics;
  readonly isReady: () => boolean;
  readonly notReadyReason?: () => string;
  /** Set when the lifecycle API is enabled. */
  readonly reload?: () => Promise<ReloadOutcome>;
  /** The web configuration in force, read per request (a reload swaps it). */
  readonly webConfig?: () => WebConfig | undefined;
  /** Scrapes served at once (--web.max-requests). */
  readonly maxRequests?: number;
  readonly logger: Logger;
  /** What the landing page shows (the pipeline's status()). */
  readonly status?: () => ExporterStatus;
}

export function startHttp(o: HttpOptions): Promise<ServingHandle> {
  const web = o.webConfig ?? (() => undefined);
  const listener = createRequestListener({
    telemetryPath: o.telemetryPath,
    cache: o.cache,
    self: o.self,
    logger: o.logger,
    isReady: o.isReady,
    notReadyReason: o.notReadyReason,
    reload: o.reload,
    auth: basicAuthMiddleware(() => web()?.basicAuthUsers, { logger: o.logger, onDenied: (reason) => o.self.authDenied(reason) }),
    headers: () => web()?.headers ?? {},
    maxConcurrentScrapes: o.maxRequests,
    status: o.status,
  });
  return startServer(listener, { host: o.listen.host, port: o.listen.port, webConfig: web(), logger: o.logger, onConnectionShed: (reason) => o.self.connectionShed(reason) });
}
