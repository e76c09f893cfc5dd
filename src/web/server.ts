/**
 * Serving: an http or https server with limits against slow clients and
 * floods, the client-certificate policy, live TLS reload, security events
 * in the log, and a graceful close that lets answers being sent finish.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttle.js';
import { clientCertRejection } from './clientCert.js';
import type { WebConfig } from './config.js';
import { resolveLimits, type ServerLimits } from './limits.js';

/** Why a connection was closed by the connection limit: see Admission. */
export type ShedReason = 'idle_evicted' | 'refused';

export interface StartServerOptions {
  host?: string;
  port: number;
  webConfig?: WebConfig;
  limits?: Partial<ServerLimits>;
  /** Called for every connection closed by the connection limit (for a metric). */
  onConnectionShed?: (reason: ShedReason) => void;
  /** Security-relevant events (drops, TLS failures, rejected certificates, handler errors) are always logged. */
  logger: Logger;
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
   * Stops accepting; connections with nothing in flight are ended
   * gracefully (bytes already queued are still delivered), requests in
   * flight finish and are answered with `Connection: close`; whatever is
   * left after `graceMs` (default limits.closeGraceMs) is destroyed. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

export type ReloadResult = { ok: true } | { ok: false; error: string; restartRequired: boolean };

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

interface MutableTlsServer extends https.Server {
  requestCert?: unknown;
  rejectUnauthorized?: unknown;
}

export async function startServer(handler: Handler, opts: StartServerOptions): Promise<ServingHandle> {
  const limits = resolveLimits(opts.limits);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new RangeError(`port must be an integer in 0-65535, got ${String(opts.port)}`);
  }
  const log = opts.logger;
  const events = new ThrottledLog(log);
  const initialTls = opts.webConfig?.tls;
  const protocol: 'http' | 'https' = initialTls ? 'https' : 'http';
  let current = opts.webConfig;
  const connections = new Connections();

  const onRequest: http.RequestListener = (req, res) => {
    connections.requestStarted(req, res);
    const internalError = (err: unknown): void => {
      log.error('HTTP handler failed', { path: (req.url ?? '').split('?')[0]!.slice(0, 200), err: err instanceof Error ? err.message : String(err) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.statusCode = 500;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Connection', 'close');
      res.end('Internal Server Error\n');
    };
    try {
      const r = handler(req, res);
      if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(undefined, internalError);
    } catch (err) {
      internalError(err);
    }
  };

  const server = createServer(limits, initialTls, onRequest);
  const admission = new Admission(limits.maxConnections, (reason, remote) => {
    opts.onConnectionShed?.(reason);
    if (reason === 'refused') events.warn('connection refused: every connection is busy answering', { max_connections: limits.maxConnections, remote });
    else events.warn('connection limit reached: closed the least recently active idle connection', { max_connections: limits.maxConnections, remote });
  });
  server.on('connection', (s: net.Socket) => admission.admit(s));
  connections.attach(server, initialTls !== undefined, admission);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, log));
  if (initialTls) {
    const tlsServer = server as https.Server;
    // Runs before the HTTP layer sees the connection: a rejected client never reaches a handler.
    tlsServer.prependListener('secureConnection', (socket: tls.TLSSocket) => {
      const policy = current?.tls;
      const reason = policy ? clientCertRejection(socket, policy) : undefined;
      if (reason) {
        events.warn('TLS client certificate rejected', { remote: socket.remoteAddress, reason });
        socket.destroy();
      }
    });
    tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      events.warn('TLS handshake failed', { remote: socket.remoteAddress, code: err.code, err: err.message.slice(0, 200) });
    });
  }

  await listen(server, opts.host, opts.port);
  server.on('error', (err) => log.warn('server error', { err: err.message }));

  const bound = server.address() as net.AddressInfo;
  const address = Object.freeze({ host: bound.address, port: bound.port, family: bound.family });
  const urlHost = net.isIPv6(address.host) ? `[${address.host}]` : address.host;

  let closed: Promise<void> | undefined;
  return {
    address,
    url: `${protocol}://${urlHost}:${address.port}/`,
    protocol,
    server,
    get webConfig() {
      return current;
    },
    reload(next) {
      const r = applyWebConfig(server, protocol, initialTls, next);
      if (r.ok) current = next;
      return r;
    },
    close(graceMs = limits.closeGraceMs) {
      closed ??= connections.close(server, graceMs);
      return closed;
    },
  };
}

function createServer(limits: ServerLimits, tlsConfig: WebConfig['tls'], onRequest: http.RequestListener): http.Server | https.Server {
  const common: http.ServerOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
  };
  const server = tlsConfig
    ? https.createServer(
        {
          ...common,
          ...tlsConfig.secureContextOptions,
          requestCert: tlsConfig.requestCert,
          rejectUnauthorized: tlsConfig.rejectUnauthorized,
          handshakeTimeout: limits.handshakeTimeoutMs,
        },
        onRequest,
      )
    : http.createServer(common, onRequest);
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  // No server.maxConnections: Node would drop every new connection at the
  // cap, probes included, for as long as idle sockets hold it. Admission
  // evicts an idle one instead.
  server.setTimeout(limits.socketTimeoutMs);
  return server;
}

/**
 * Every socket (raw and TLS, so a TLS socket stuck in its handshake can be
 * destroyed at close) and the responses in flight on each, so close() can
 * tell a connection that is idle from one that is still being answered.
 */
class Connections {
  private readonly all = new Set<Duplex>();
  /** Sockets the HTTP layer reads requests from, with their responses in flight. */
  private readonly http = new Map<Duplex, number>();
  private readonly responses = new Set<http.ServerResponse>();
  private closing = false;
  private admission: Admission | undefined;

  attach(server: http.Server | https.Server, tls: boolean, admission?: Admission): void {
    this.admission = admission;
    server.on('connection', (s: Duplex) => {
      this.track(s);
      if (!tls) this.http.set(s, 0);
    });
    if (tls) {
      server.on('secureConnection', (s: tls.TLSSocket) => {
        this.track(s);
        this.http.set(s, 0);
      });
    }
  }

  requestStarted(req: http.IncomingMessage, res: http.ServerResponse): void {
    const sock = req.socket;
    this.http.set(sock, (this.http.get(sock) ?? 0) + 1);
    if (this.closing) res.setHeader('Connection', 'close');
    this.responses.add(res);
    const conn = this.admission?.busy(sock);
    res.once('close', () => {
      if (conn) this.admission?.idle(conn);
      this.responses.delete(res);
      const n = (this.http.get(sock) ?? 1) - 1;
      if (this.http.has(sock)) this.http.set(sock, n);
      // Answered during close(): end the connection once its bytes are out.
      if (this.closing && n === 0 && !sock.destroyed) sock.end();
    });
  }

  /**
   * Graceful close: no new connections; idle HTTP connections are ended
   * (end(), not destroy(): a response that has finished but whose bytes
   * are still queued for a slow reader is delivered first); the rest end as
   * their answers finish; after `graceMs` everything left is destroyed.
   */
  close(server: http.Server | https.Server, graceMs: number): Promise<void> {
    this.closing = true;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.all) s.destroy();
      }, graceMs);
      timer.unref();
      // net.Server's close, not http.Server's: the latter also destroys every
      // connection whose response has finished, bytes still queued for a
      // slow reader included, which cuts a large scrape short.
      net.Server.prototype.close.call(server, () => {
        clearTimeout(timer);
        resolve();
      });
      for (const [s, inFlight] of this.http) if (inFlight === 0 && !s.destroyed) s.end();
      for (const res of this.responses) if (!res.headersSent) res.setHeader('Connection', 'close');
    });
  }

  private track(s: Duplex): void {
    this.all.add(s);
    s.once('close', () => {
      this.all.delete(s);
      this.http.delete(s);
    });
  }
}

/**
 * The connection limit. At the limit, a new connection closes the least
 * recently active connection that has no request in flight (it sent nothing
 * yet, is in its TLS handshake, is sending its headers, or is a keep-alive
 * between requests), as nginx reuses its idle connections when it runs out;
 * only when every connection is busy answering is the new one refused.
 *
 * Idle sockets, however many and from however many addresses, then never
 * lock anyone out: they push each other out, oldest first, while a probe or
 * a scrape is busy, hence kept, as soon as its request has been read. The
 * cost: during such a flood, an idle keep-alive connection of a real scraper
 * may be closed (it reconnects at its next scrape), as may a connection
 * whose request is still unread because the server is saturated. There is
 * no limit per client address: one would also close, or refuse, a real
 * client's connections in a burst from one address (a scraper behind a NAT
 * or a proxy, a load test), before their requests are read.
 */
class Admission {
  /** Raw connections by address and port, least recently active first (Map order). */
  private readonly conns = new Map<string, AdmittedConnection>();

  constructor(
    private readonly max: number,
    private readonly onShed: (reason: ShedReason, remote: string | undefined) => void,
  ) {}

  admit(socket: net.Socket): void {
    const key = connectionKey(socket);
    if (key === undefined) {
      socket.destroy();
      return;
    }
    if (this.conns.size >= this.max && !this.evictIdle()) {
      this.onShed('refused', socket.remoteAddress);
      socket.destroy();
      return;
    }
    const conn: AdmittedConnection = { key, socket, inFlight: 0 };
    this.conns.set(key, conn);
    socket.once('close', () => this.forget(conn));
  }

  /** A request started on `socket` (raw or TLS): its connection is busy and most recently active. */
  busy(socket: Duplex): AdmittedConnection | undefined {
    const key = connectionKey(socket as net.Socket);
    const conn = key === undefined ? undefined : this.conns.get(key);
    if (!conn) return undefined;
    conn.inFlight++;
    this.touch(conn);
    return conn;
  }

  /** Its answer is done (sent, or the connection gone). */
  idle(conn: AdmittedConnection): void {
    conn.inFlight = Math.max(0, conn.inFlight - 1);
    this.touch(conn);
  }

  /** Closes the least recently active idle connection; false when there is none. */
  private evictIdle(): boolean {
    for (const c of this.conns.values()) {
      if (c.inFlight === 0) {
        this.forget(c);
        c.socket.destroy();
        this.onShed('idle_evicted', c.socket.remoteAddress);
        return true;
      }
    }
    return false;
  }

  private forget(conn: AdmittedConnection): void {
    if (this.conns.get(conn.key) === conn) this.conns.delete(conn.key);
  }

  private touch(conn: AdmittedConnection): void {
    if (this.conns.get(conn.key) !== conn) return;
    this.conns.delete(conn.key);
    this.conns.set(conn.key, conn);
  }
}

interface AdmittedConnection {
  readonly key: string;
  readonly socket: net.Socket;
  inFlight: number;
}

/** The same for a raw socket and the TLS socket on top of it. */
function connectionKey(socket: net.Socket): string | undefined {
  return socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}|${socket.remotePort}`;
}

/** A malformed request, an oversized header or a request timeout: answered once, briefly, then closed. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, log: Logger): void {
  const code = err.code ?? '';
  log.debug('bad client request', { code, remote: (socket as net.Socket).remoteAddress });
  const pending = (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage;
  if (code === 'ECONNRESET' || !socket.writable || answeredSockets.has(socket) || (pending && pending.headersSent)) {
    socket.destroy();
    return;
  }
  answeredSockets.add(socket);
  const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400;
  const body = `${http.STATUS_CODES[status] ?? 'Bad Request'}\n`;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  // Do not wait for a peer that never reads or never closes.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
const answeredSockets = new WeakSet<Duplex>();

function listen(server: net.Server, host: string | undefined, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const where = host === undefined ? `:${port}` : net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
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
    server.listen({ host, port });
  });
}

/** Swaps the TLS material and client-auth policy of a running server; HTTP <-> HTTPS needs a restart. */
function applyWebConfig(server: http.Server | https.Server, protocol: 'http' | 'https', initialTls: WebConfig['tls'], next: WebConfig | undefined): ReloadResult {
  const nextTls = next?.tls;
  if (!!nextTls !== !!initialTls) {
    return {
      ok: false,
      restartRequired: true,
      error: `the new web config ${nextTls ? 'enables' : 'disables'} TLS while the server is serving ${protocol.toUpperCase()}: a restart is needed to switch between HTTP and HTTPS`,
    };
  }
  if (!nextTls) return { ok: true };
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
  return { ok: true };
}
