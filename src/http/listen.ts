/**
 * Serving: an http or https server with limits against slowloris and floods,
 * client-certificate policy per exporter-toolkit's `client_auth_type` and
 * `client_allowed_sans`, live TLS reload and a bounded graceful close.
 */
import type { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { Express } from 'express';
import type { WebConfig, WebConfigTls } from './webConfig.js';

// ---------------------------------------------------------------------------
// Listen address

export interface ListenAddress {
  /** Undefined means every interface (Go's `:port`). IPv6 without brackets. */
  host?: string;
  port: number;
}

/**
 * Parses a Go-style listen address: `:9717`, `0.0.0.0:9717`, `127.0.0.1:0`,
 * `[::1]:9717`, `localhost:9717`, `[fe80::1%eth0]:9717`.
 */
export function parseListenAddress(s: string): ListenAddress {
  const bad = (why: string): never => {
    throw new Error(`invalid listen address ${JSON.stringify(s)}: ${why}`);
  };
  const input = s.trim();
  if (input === '') bad('empty (expected host:port, e.g. ":9717" or "127.0.0.1:9717")');
  let host: string;
  let portStr: string;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0) bad('missing "]" after the IPv6 address');
    host = input.slice(1, close);
    const rest = input.slice(close + 1);
    if (!rest.startsWith(':')) bad('missing port after "]" (expected e.g. "[::1]:9717")');
    portStr = rest.slice(1);
    const ip = host.split('%')[0] ?? '';
    if (!net.isIPv6(ip)) bad(`${JSON.stringify(host)} in brackets is not an IPv6 address`);
  } else {
    const colon = input.lastIndexOf(':');
    if (colon < 0) bad(`missing port (did you mean ":${input}"?)`);
    host = input.slice(0, colon);
    portStr = input.slice(colon + 1);
    if (host.includes(':')) bad('an IPv6 address needs brackets, e.g. "[::1]:9717"');
    if (host !== '' && !net.isIPv4(host) && !isHostname(host)) bad(`${JSON.stringify(host)} is neither an IP address nor a host name`);
  }
  if (!/^\d{1,5}$/.test(portStr)) bad(`port ${JSON.stringify(portStr)} is not a number`);
  const port = Number(portStr);
  if (port > 65535) bad(`port ${port} is out of range 0-65535`);
  return host === '' ? { port } : { host, port };
}

function isHostname(h: string): boolean {
  return h.length <= 253 && /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/.test(h);
}

// ---------------------------------------------------------------------------
// Limits

export interface ServerLimits {
  /** Time allowed to receive the request headers (slowloris). Node: headersTimeout. */
  headersTimeoutMs: number;
  /** Time allowed to receive the whole request. Node: requestTimeout. Must be >= headersTimeoutMs. */
  requestTimeoutMs: number;
  /** Idle time a keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic in either direction for this long is destroyed (slow readers). 0 = off. */
  socketTimeoutMs: number;
  /** Time allowed for the TLS handshake. */
  handshakeTimeoutMs: number;
  /** Bytes of request line + headers; above it the answer is 431. */
  maxHeaderSize: number;
  /** Concurrent TCP connections; extra ones are dropped at accept. */
  maxConnections: number;
  /** Requests served on one keep-alive connection before it is closed. 0 = unlimited. */
  maxRequestsPerSocket: number;
  /** How often headers/request timeouts are checked (Node's default is 30 s). */
  connectionsCheckingIntervalMs: number;
  /** close(): how long in-flight requests may finish before their sockets are destroyed. */
  closeGraceMs: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  socketTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
  maxHeaderSize: 16 * 1024,
  maxConnections: 256,
  maxRequestsPerSocket: 1_000,
  connectionsCheckingIntervalMs: 1_000,
  closeGraceMs: 5_000,
});

function resolveLimits(partial: Partial<ServerLimits> | undefined): ServerLimits {
  const l: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...(partial ?? {}) };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`server limit ${k} must be a non-negative integer, got ${String(v)}`);
  }
  for (const k of ['headersTimeoutMs', 'requestTimeoutMs', 'handshakeTimeoutMs', 'maxHeaderSize', 'maxConnections', 'connectionsCheckingIntervalMs'] as const) {
    if (l[k] === 0) throw new RangeError(`server limit ${k} must be positive`);
  }
  if (l.headersTimeoutMs > l.requestTimeoutMs) {
    throw new RangeError(`server limit headersTimeoutMs (${l.headersTimeoutMs}) must not exceed requestTimeoutMs (${l.requestTimeoutMs})`);
  }
  return l;
}

// ---------------------------------------------------------------------------
// Serving

export interface ServingLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface StartServerOptions {
  host?: string;
  port: number;
  webConfig?: WebConfig;
  limits?: Partial<ServerLimits>;
  logger?: ServingLogger;
}

export interface ServingHandle {
  /** The bound address (port resolved when 0 was asked for). */
  readonly address: { host: string; port: number; family: string };
  /** e.g. `https://127.0.0.1:9717/`, `http://[::]:9717/`. */
  readonly url: string;
  readonly protocol: 'http' | 'https';
  readonly server: http.Server | https.Server;
  /** The web config currently applied (initial or last successful reload). */
  readonly webConfig: WebConfig | undefined;
  /**
   * Applies a new web config to new connections: TLS certificate, key, CA,
   * versions, ciphers and client-auth policy are swapped live. Never throws:
   * on failure the old config stays in force and the result says why
   * (`restartRequired` when TLS would be turned on or off).
   */
  reload(webConfig: WebConfig | undefined): ReloadResult;
  /**
   * Stops accepting, closes idle keep-alive connections, lets in-flight
   * requests finish (answered with `Connection: close`) and destroys whatever
   * is left after `graceMs` (default limits.closeGraceMs). Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

export type ReloadResult = { ok: true } | { ok: false; error: string; restartRequired: boolean };

type AppLike = Express | http.RequestListener;

interface MutableTlsServer extends https.Server {
  requestCert?: unknown;
  rejectUnauthorized?: unknown;
}

export async function startServer(app: AppLike, opts: StartServerOptions): Promise<ServingHandle> {
  const limits = resolveLimits(opts.limits);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new RangeError(`port must be an integer in 0-65535, got ${String(opts.port)}`);
  }
  const log = opts.logger;
  let current = opts.webConfig;
  const initialTls = current?.tls;
  const protocol: 'http' | 'https' = initialTls ? 'https' : 'http';

  let closing = false;
  const inflight = new Set<http.ServerResponse>();
  const handler = app as (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

  const onRequest: http.RequestListener = (req, res) => {
    if (closing) res.setHeader('Connection', 'close');
    inflight.add(res);
    const sock = req.socket;
    res.once('close', () => inflight.delete(res));
    res.once('finish', () => {
      // A keep-alive response that was already under way when close() began:
      // do not leave the connection idling until the grace runs out.
      if (closing && !sock.destroyed) sock.end();
    });
    try {
      const r = handler(req, res);
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        (r as Promise<unknown>).then(undefined, (err: unknown) => internalError(res, err));
      }
    } catch (err) {
      internalError(res, err);
    }
  };
  const internalError = (res: http.ServerResponse, err: unknown): void => {
    log?.warn('unhandled error in request handler', { err: err instanceof Error ? err.message : String(err) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.statusCode = 500;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Connection', 'close');
    res.end('Internal Server Error\n');
  };

  const common: http.ServerOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
  };
  let server: http.Server | https.Server;
  if (initialTls) {
    server = https.createServer(
      {
        ...common,
        ...initialTls.secureContextOptions,
        requestCert: initialTls.requestCert,
        rejectUnauthorized: initialTls.rejectUnauthorized,
        handshakeTimeout: limits.handshakeTimeoutMs,
      },
      onRequest,
    );
  } else {
    server = http.createServer(common, onRequest);
  }
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.socketTimeoutMs);

  // Every socket, raw and TLS, so close() can destroy the ones that linger
  // (a TLS socket stuck in its handshake is not known to the HTTP layer).
  const sockets = new Set<Duplex>();
  const track = (s: Duplex): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  server.on('connection', track);

  let lastDropLog = 0;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    const now = Date.now();
    if (now - lastDropLog >= 10_000) {
      lastDropLog = now;
      log?.warn('connection limit reached, dropping new connections', { max_connections: limits.maxConnections, remote: data?.remoteAddress });
    }
  });

  const answered = new WeakSet<Duplex>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? '';
    log?.debug('bad client request', { code, remote: (socket as net.Socket).remoteAddress });
    const pending = (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage;
    if (code === 'ECONNRESET' || !socket.writable || answered.has(socket) || (pending && pending.headersSent)) {
      socket.destroy();
      return;
    }
    answered.add(socket);
    const status =
      code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400;
    const body = `${http.STATUS_CODES[status] ?? 'Bad Request'}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // Do not wait for a peer that never reads or never closes.
    setTimeout(() => socket.destroy(), 1_000).unref();
  });

  if (initialTls) {
    const tlsServer = server as https.Server;
    // Runs before the HTTP layer sees the connection: a rejected client never reaches a handler.
    tlsServer.prependListener('secureConnection', (socket: tls.TLSSocket) => {
      track(socket);
      const policy = current?.tls;
      const reason = policy ? clientCertRejection(socket, policy) : undefined;
      if (reason) {
        log?.debug('rejecting TLS client', { reason, remote: socket.remoteAddress });
        socket.destroy();
      }
    });
    tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      log?.debug('TLS handshake failed', { err: err.message, code: err.code, remote: socket.remoteAddress });
    });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const where = opts.host === undefined ? `:${opts.port}` : net.isIPv6(opts.host) ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
      const e = new Error(`cannot listen on ${where}: ${err.message}`, { cause: err }) as NodeJS.ErrnoException;
      if (err.code) e.code = err.code;
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: opts.host, port: opts.port });
  });
  server.on('error', (err) => log?.warn('server error', { err: err.message }));

  const bound = server.address() as net.AddressInfo;
  const address = Object.freeze({ host: bound.address, port: bound.port, family: bound.family });
  const urlHost = net.isIPv6(address.host) ? `[${address.host}]` : address.host;
  const url = `${protocol}://${urlHost}:${address.port}/`;

  let closed: Promise<void> | undefined;
  const close = (graceMs: number = limits.closeGraceMs): Promise<void> => {
    if (closed) return closed;
    closing = true;
    closed = new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      server.close(() => {
        if (timer) clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
      for (const res of inflight) if (!res.headersSent) res.setHeader('Connection', 'close');
      timer = setTimeout(() => {
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }, graceMs);
      timer.unref();
    });
    return closed;
  };

  const reload = (next: WebConfig | undefined): ReloadResult => {
    const nextTls = next?.tls;
    if (!!nextTls !== !!initialTls) {
      return {
        ok: false,
        restartRequired: true,
        error: `the new web config ${nextTls ? 'enables' : 'disables'} TLS while the server is serving ${protocol.toUpperCase()}: a restart is needed to switch between HTTP and HTTPS`,
      };
    }
    if (nextTls) {
      const s = server as MutableTlsServer;
      const mutable = typeof s.requestCert === 'boolean' && typeof s.rejectUnauthorized === 'boolean';
      if (!mutable && (nextTls.requestCert !== initialTls?.requestCert || nextTls.rejectUnauthorized !== initialTls?.rejectUnauthorized)) {
        return { ok: false, restartRequired: true, error: 'changing client_auth_type needs a restart on this Node.js version' };
      }
      try {
        s.setSecureContext(nextTls.secureContextOptions); // throws before anything changed
      } catch (err) {
        return { ok: false, restartRequired: false, error: `cannot apply the new TLS configuration: ${err instanceof Error ? err.message : String(err)}` };
      }
      if (mutable) {
        // Read by Node for every new connection (tlsConnectionListener).
        s.requestCert = nextTls.requestCert;
        s.rejectUnauthorized = nextTls.rejectUnauthorized;
      }
    }
    current = next;
    return { ok: true };
  };

  return {
    address,
    url,
    protocol,
    server,
    get webConfig() {
      return current;
    },
    reload,
    close,
  };
}

// ---------------------------------------------------------------------------
// Client certificate policy

/** Why a TLS client must be turned away under `policy`, or undefined if it may proceed. */
export function clientCertRejection(socket: tls.TLSSocket, policy: WebConfigTls): string | undefined {
  if (!policy.requestCert) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return policy.requireClientCert ? 'no client certificate presented' : undefined;
  if (policy.verifyClientCert && !socket.authorized) {
    return `client certificate not verified: ${String(socket.authorizationError ?? 'unknown error')}`;
  }
  if (policy.clientAllowedSans) {
    const sans = certificateSans(cert);
    const allowed = new Set(policy.clientAllowedSans.map(normalizeSan));
    if (!sans.some((s) => allowed.has(normalizeSan(s)))) {
      return `client certificate has none of the allowed SANs (found: ${sans.join(', ') || 'none'})`;
    }
  }
  return undefined;
}

/**
 * The DNS, IP, e-mail and URI subject alternative names of a certificate, as
 * plain values (Go's x509 fields). Parses Node's `subjectAltName` string, whose
 * entries are `TYPE:value` separated by ", ", with values that contain
 * delimiters given as JSON strings.
 */
export function certificateSans(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // JSON string: find its closing quote, honouring escapes.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        value = text.slice(j + 1, k);
      }
      j = k + 1;
    } else {
      const sep = text.indexOf(', ', j);
      const end = sep < 0 ? text.length : sep;
      value = text.slice(j, end);
      j = end;
    }
    if (type === 'DNS' || type === 'IP Address' || type === 'email' || type === 'URI') out.push(value);
    i = text.startsWith(', ', j) ? j + 2 : j + 1;
  }
  return out;
}

/** IP addresses in one canonical form (Go prints IPv6 compressed, lower case); other values unchanged. */
function normalizeSan(v: string): string {
  if (net.isIPv6(v)) {
    try {
      return new URL(`http://[${v}]/`).hostname.slice(1, -1);
    } catch {
      return v.toLowerCase();
    }
  }
  return v;
}
