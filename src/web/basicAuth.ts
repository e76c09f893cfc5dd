/**
 * HTTP basic authentication against the bcrypt hashes of `basic_auth_users`,
 * in the manner of exporter-toolkit:
 *
 * - successful verifications are cached, keyed by an HMAC-SHA-256 (random
 *   per-process key) of user, password and hash, so a scraper presenting the
 *   same credentials every 15 s costs one bcrypt per process, and a hash change
 *   (reload) invalidates its entries by construction. Only successes are
 *   cached: an attacker cannot fill the cache and evict legitimate entries;
 * - bcrypt runs in a worker thread (bcryptPool.ts), never on the main thread,
 *   so health checks, readiness and cached scrapes answer in milliseconds
 *   during a flood of wrong passwords;
 * - at most `maxConcurrent` comparisons run at once (one, as exporter-toolkit's
 *   mutex) behind a bounded queue, and one client address holds at most
 *   `maxPerAddress` places in it; beyond either the request is answered 429
 *   without any bcrypt work, so a flood cannot burn unbounded CPU nor, from
 *   one address, lock out the first login of a scraper elsewhere (cached
 *   credentials skip the queue altogether);
 * - an unknown user is compared against a decoy hash at the highest cost in
 *   use, so it takes as long as a wrong password for a real user;
 * - the password is never logged, nor kept anywhere in clear.
 *
 * `getUsers()` is read on every request, so a reloaded web config applies at once.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import bcrypt from 'bcryptjs';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttle.js';
import { BcryptWorkerPool } from './bcryptPool.js';

export interface BasicAuthOptions {
  /** bcrypt comparison; injectable for tests. Default: bcryptjs in a pool of `maxConcurrent` worker threads. */
  compare?: (password: string, hash: string) => Promise<boolean>;
  /** Successful verifications remembered (LRU). Default 1024. */
  cacheSize?: number;
  /** bcrypt comparisons running at once. Default 1 (as exporter-toolkit's mutex). */
  maxConcurrent?: number;
  /** Requests waiting for a bcrypt slot before new ones get 429. Default 32. */
  maxQueue?: number;
  /** Verifications (waiting or running) one client address may have at once; more get 429. Default 4. */
  maxPerAddress?: number;
  /** Adds `realm="..."` to the challenge. Default: plain `Basic`, as exporter-toolkit. */
  realm?: string;
  /** Failed logins are logged at warn (remote address and user name, never the password), throttled. */
  logger: Logger;
  /** Called for every request denied (for a metric). */
  onDenied?: (reason: AuthDenialReason) => void;
}

/**
 * Why a request was denied: no credentials (how every browser starts), a
 * header that is not Basic credentials, a wrong password or unknown user
 * (not told apart, as in the answer), or the bcrypt queue full (429).
 */
export const AUTH_DENIAL_REASONS = ['missing', 'malformed', 'invalid', 'busy'] as const;
export type AuthDenialReason = (typeof AUTH_DENIAL_REASONS)[number];

export interface BasicAuthStats {
  /** bcrypt comparisons started. */
  bcryptCompares: number;
  cacheHits: number;
  cacheSize: number;
  /** Requests answered 429 because the bcrypt queue, or the address' share of it, was full. */
  rejectedBusy: number;
}

type Next = (err?: unknown) => void;
export type BasicAuthMiddleware = ((req: IncomingMessage, res: ServerResponse, next: Next) => void) & {
  /** Counters, for tests and metrics. */
  stats(): BasicAuthStats;
  /** Stops the bcrypt workers (they never keep the process alive anyway). */
  close(): Promise<void>;
};

export const BASIC_AUTH_DEFAULTS = Object.freeze({ cacheSize: 1024, maxConcurrent: 1, maxQueue: 32, maxPerAddress: 4 });

/** Parses `Authorization: Basic <base64(user:password)>`; undefined when absent or malformed. */
export function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^[ \t]*basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function basicAuthMiddleware(
  getUsers: () => ReadonlyMap<string, string> | undefined,
  opts: BasicAuthOptions,
): BasicAuthMiddleware {
  const maxConcurrent = positiveInt(opts.maxConcurrent ?? BASIC_AUTH_DEFAULTS.maxConcurrent, 'maxConcurrent');
  const maxPerAddress = positiveInt(opts.maxPerAddress ?? BASIC_AUTH_DEFAULTS.maxPerAddress, 'maxPerAddress');
  // The worker pool starts with the first comparison: no thread at all without basic auth.
  let pool: BcryptWorkerPool | undefined;
  const compare = opts.compare ?? ((password: string, hash: string) => (pool ??= new BcryptWorkerPool(maxConcurrent)).compare(password, hash));
  const cacheSize = positiveInt(opts.cacheSize ?? BASIC_AUTH_DEFAULTS.cacheSize, 'cacheSize');
  const limiter = new Limiter(maxConcurrent, nonNegativeInt(opts.maxQueue ?? BASIC_AUTH_DEFAULTS.maxQueue, 'maxQueue'));
  /** Verifications waiting or running, per client address. */
  const perAddress = new Map<string, number>();
  const challenge = opts.realm ? `Basic realm=${JSON.stringify(opts.realm)}` : 'Basic';
  const log = opts.logger;
  const events = new ThrottledLog(log);

  const hmacKey = randomBytes(32);
  const cache = new Map<string, true>(); // insertion order = LRU order
  const stats = { bcryptCompares: 0, cacheHits: 0, rejectedBusy: 0 };

  // Decoy hashes for unknown users. Only the cost and salt of a hash decide how
  // long a comparison takes, so a random salt with a random tail is as good as a
  // real hash, costs nothing to make, and matches no password.
  const decoys = new Map<number, string>();
  const decoyFor = (cost: number): string => {
    let d = decoys.get(cost);
    if (!d) {
      d = bcrypt.genSaltSync(cost) + bcrypt.encodeBase64(randomBytes(23), 23).slice(0, 31);
      decoys.set(cost, d);
    }
    return d;
  };
  let costOf: { users: ReadonlyMap<string, string>; max: number } | undefined;
  const maxCost = (users: ReadonlyMap<string, string>): number => {
    if (costOf?.users !== users) {
      let max = 4;
      for (const h of users.values()) {
        const c = Number.parseInt(h.split('$')[2] ?? '', 10);
        if (Number.isInteger(c) && c > max && c <= 31) max = c;
      }
      costOf = { users, max };
    }
    return costOf.max;
  };

  const keyOf = (user: string, password: string, hash: string): string => {
    const h = createHmac('sha256', hmacKey);
    for (const part of [user, hash, password]) {
      const b = Buffer.from(part, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      h.update(len).update(b); // length-prefixed: no ambiguity between fields
    }
    return h.digest('base64');
  };

  const deny = (res: ServerResponse, reason: AuthDenialReason): void => {
    opts.onDenied?.(reason);
    const status = reason === 'busy' ? 429 : 401;
    if (res.headersSent) return;
    res.statusCode = status;
    if (status === 401) res.setHeader('WWW-Authenticate', challenge);
    else res.setHeader('Retry-After', '1');
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(status === 401 ? 'Unauthorized\n' : 'Too Many Requests\n');
  };

  const middleware = ((req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const users = getUsers();
    if (!users || users.size === 0) {
      next();
      return;
    }
    const creds = parseBasicAuthorization(req.headers.authorization);
    if (!creds) {
      // No header at all is how every browser starts; a header that does not parse is worth a line.
      if (req.headers.authorization === undefined) log.debug('basic auth: no credentials sent', { remote: req.socket.remoteAddress });
      else events.warn('basic auth failed', { remote: req.socket.remoteAddress, reason: 'malformed Authorization header' });
      deny(res, req.headers.authorization === undefined ? 'missing' : 'malformed');
      return;
    }
    const { user, password } = creds;
    const hash = users.get(user);
    const key = hash === undefined ? undefined : keyOf(user, password, hash);
    if (key !== undefined && cache.has(key)) {
      cache.delete(key); // refresh LRU position
      cache.set(key, true);
      stats.cacheHits++;
      next();
      return;
    }
    const against = hash ?? decoyFor(maxCost(users));
    const address = req.socket.remoteAddress ?? '';
    const held = perAddress.get(address) ?? 0;
    const started =
      held >= maxPerAddress
        ? undefined
        : limiter.run(async () => {
            // The client may have given up while queued: spend no CPU on it.
            if (req.socket.destroyed || res.writableEnded) return false;
            stats.bcryptCompares++;
            return compare(password, against);
          });
    if (!started) {
      stats.rejectedBusy++;
      events.warn('basic auth: too many password verifications in progress, answering 429', { remote: address, reason: held >= maxPerAddress ? 'per-address limit' : 'queue full' });
      deny(res, 'busy');
      return;
    }
    perAddress.set(address, held + 1);
    const release = (): void => {
      const n = (perAddress.get(address) ?? 1) - 1;
      if (n <= 0) perAddress.delete(address);
      else perAddress.set(address, n);
    };
    void started.then(release, release);
    started.then(
      (ok) => {
        if (ok && hash !== undefined && key !== undefined) {
          cache.set(key, true);
          while (cache.size > cacheSize) {
            const oldest = cache.keys().next().value;
            if (oldest === undefined) break;
            cache.delete(oldest);
          }
          next();
          return;
        }
        events.warn('basic auth failed', { remote: req.socket.remoteAddress, user: user.slice(0, 64), reason: hash === undefined ? 'unknown user' : 'wrong password' });
        deny(res, 'invalid');
      },
      (err: unknown) => {
        log.warn('basic auth: password verification failed', { err: err instanceof Error ? err.message : String(err) });
        deny(res, 'invalid');
      },
    );
  }) as BasicAuthMiddleware;
  middleware.stats = () => ({ ...stats, cacheSize: cache.size });
  middleware.close = async () => {
    await pool?.close();
    pool = undefined;
  };
  return middleware;
}

/** At most `concurrency` tasks at once, at most `maxQueue` waiting; `run` returns undefined when full. */
class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(
    private readonly concurrency: number,
    private readonly maxQueue: number,
  ) {}

  run<T>(task: () => Promise<T>): Promise<T> | undefined {
    if (this.active >= this.concurrency && this.queue.length >= this.maxQueue) return undefined;
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.active++;
        let p: Promise<T>;
        try {
          p = task();
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(resolve, reject).finally(() => {
          this.active--;
          this.queue.shift()?.();
        });
      };
      if (this.active < this.concurrency) start();
      else this.queue.push(start);
    });
  }
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`basicAuthMiddleware: ${name} must be a positive integer`);
  return v;
}
function nonNegativeInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`basicAuthMiddleware: ${name} must be a non-negative integer`);
  return v;
}
