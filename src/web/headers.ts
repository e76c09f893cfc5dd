/**
 * Adds the `http_server_config.headers` of the web config to every response
 * (exporter-toolkit sets them before authentication, so 401s carry them too:
 * mount this before basicAuthMiddleware). `getHeaders()` is read per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export function webHeadersMiddleware(
  getHeaders: () => Readonly<Record<string, string>> | undefined,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  return (_req, res, next) => {
    const headers = getHeaders();
    if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    next();
  };
}
