/** Server limits against slow clients and floods, with their defaults. */

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
  /** Concurrent TCP connections. At the cap a new connection closes the least recently active idle one; it is refused only when all are busy answering. */
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

export function resolveLimits(partial: Partial<ServerLimits> | undefined): ServerLimits {
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
