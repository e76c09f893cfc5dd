/**
 * Bounds on one API call made through the SDK: a hard deadline for the whole
 * call (connection, credentials, headers and every byte of the answer) and a
 * cap on the size of the answer.
 *
 * The SDK (@alicloud/openapi-client -> @alicloud/tea-typescript -> httpx)
 * reads the whole body itself, into memory, with no limit, and its timers
 * only cut silence: a server that trickles bytes, or streams without end,
 * holds a call (and its memory) for as long as it likes. Neither the SDK's
 * Config nor its RuntimeOptions let a caller pass an agent, a signal or a
 * size limit. The one seam is httpx's `request(url, options)`, which the SDK
 * calls for every request and which honours an `options.beforeRequest` hook
 * over the options given to Node's http.request. This module wraps it once:
 * a request made inside boundedCall() gets an AbortSignal (aborting destroys
 * the request, its socket and the half-read answer), and its answer is
 * measured on its socket as it arrives. Requests made outside boundedCall()
 * (none in this exporter) pass through untouched. Only stable Node APIs are
 * used (AsyncLocalStorage, AbortSignal on http.request, socket events).
 *
 * If an SDK upgrade ever stops calling httpx.request, the deadline still
 * holds (the race below does not depend on the seam) and the end-to-end
 * test of an endless answer fails, which is the signal to revisit this.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/**
 * Largest answer read from the API. A DescribeScanTaskProgress answer is a
 * few hundred bytes plus about 100 bytes per target: 4 MiB holds a
 * TargetInfo of some 40,000 servers, more than any scan names.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** The answer was larger than the cap (announced or counted). */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
}

/** The call did not complete within its deadline. Named as the SDK names its own timeouts. */
export class CallDeadlineError extends Error {
  override readonly name = 'RequestTimeoutError';
}

export interface CallLimits {
  /**
   * The whole exchange with the server: from the moment the call's first
   * request is sent (connection included) to the last byte of the answer.
   * The local work before it (the SDK signing the request, loading its
   * modules on a first call) is not charged to it, but is bounded too:
   * the whole call fails past `timeoutMs + LOCAL_WORK_ALLOWANCE_MS`.
   */
  readonly timeoutMs: number;
  /** Bytes of one answer's body. Default MAX_RESPONSE_BYTES. */
  readonly maxBytes?: number;
}

/** Local work allowed before the first request of a call is sent (see CallLimits.timeoutMs). */
export const LOCAL_WORK_ALLOWANCE_MS = 2000;

interface Guard {
  readonly signal: AbortSignal;
  readonly maxBytes: number;
  /** The call's first request is being sent: its deadline starts now. */
  sending(): void;
  /** Ends the call with `err`: aborts its requests; the first failure wins. */
  fail(err: Error): void;
}

type HttpxOptions = Record<string, unknown> & { beforeRequest?: (o: Record<string, unknown>) => Record<string, unknown> };
type HttpxRequest = (this: unknown, url: unknown, opts?: HttpxOptions) => Promise<IncomingMessage>;
interface HttpxModule {
  request: HttpxRequest;
}

const current = new AsyncLocalStorage<Guard>();
const INSTALLED = Symbol.for('aliyun-sas-exporter.transport-guard');

/** httpx as the SDK resolves it (from @alicloud/openapi-client's @alicloud/tea-typescript). */
function sdkHttpx(): HttpxModule {
  const fromHere = createRequire(import.meta.url);
  const fromClient = createRequire(fromHere.resolve('@alicloud/openapi-client'));
  const fromTea = createRequire(fromClient.resolve('@alicloud/tea-typescript'));
  return fromTea('httpx') as HttpxModule;
}

let installed = false;

/** Wraps httpx.request once per process (idempotent, also across copies of this module). */
export function installTransportGuard(): void {
  if (installed) return;
  installed = true;
  const httpx = sdkHttpx() as HttpxModule & { [INSTALLED]?: true };
  if (httpx[INSTALLED]) return;
  const original = httpx.request;
  httpx.request = function guardedRequest(this: unknown, url: unknown, opts: HttpxOptions = {}): Promise<IncomingMessage> {
    const guard = current.getStore();
    if (!guard) return original.call(this, url, opts);
    guard.sending();
    const before = opts.beforeRequest;
    const guarded: HttpxOptions = {
      ...opts,
      beforeRequest(options) {
        const o = typeof before === 'function' ? before(options) : options;
        return { ...o, signal: guard.signal };
      },
    };
    return original.call(this, url, guarded).then((res) => {
      watchAnswer(res, guard);
      return res;
    });
  };
  httpx[INSTALLED] = true;
}

/** Refuses an announced size over the cap, and counts the body's bytes as they arrive on the socket. */
function watchAnswer(res: IncomingMessage, guard: Guard): void {
  const announced = res.headers['content-length'];
  if (announced !== undefined && /^\d+$/.test(announced) && Number(announced) > guard.maxBytes) {
    guard.fail(new ResponseTooLargeError(`the answer announces ${announced} bytes; the limit is ${guard.maxBytes}`));
    return;
  }
  const socket: Socket | null = res.socket;
  if (!socket) return;
  // What memory holds until the SDK has the whole answer: the body already
  // parsed along with the headers (buffered in `res`, nobody reads it yet),
  // then every byte the socket brings (chunk framing included). The socket
  // already flows (the HTTP parser reads it), so a listener on it changes
  // nothing for the SDK; it is removed as the answer ends, before a
  // keep-alive socket is reused.
  let bytes = res.readableLength;
  const tooLarge = (): void => guard.fail(new ResponseTooLargeError(`the answer is larger than ${guard.maxBytes} bytes`));
  if (bytes > guard.maxBytes) {
    tooLarge();
    return;
  }
  const onData = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > guard.maxBytes) {
      done();
      tooLarge();
    }
  };
  // httpx starts a read timer on the socket for every request and clears it
  // only in its own read(); the SDK reads answers through tea-util instead,
  // so the timer runs its full readTimeout (request_timeout + 1 s) after the
  // answer, holding the request, the answer and their closures live (at 400
  // calls/s, thousands of them: tens of MB promoted to the old generation).
  // The answer is read whole here: the timer has nothing left to guard.
  const readTimer = sdkReadTimer(socket);
  const done = (): void => {
    socket.off('data', onData);
    res.off('end', done);
    res.off('close', done);
    // Only while it is still this request's (a reused socket gets a new one per request).
    if (readTimer !== undefined && sdkReadTimer(socket) === readTimer) clearTimeout(readTimer);
  };
  socket.on('data', onData);
  res.once('end', done);
  res.once('close', done);
}

let readTimerSymbol: symbol | undefined;

/**
 * The read timer httpx keeps on a socket under a module-private symbol
 * (`Symbol('TIMER::READ_TIMER')` in httpx 2.x); undefined if there is none,
 * or if a later httpx names it otherwise (then nothing is cleared, as before).
 */
function sdkReadTimer(socket: Socket): NodeJS.Timeout | undefined {
  // The SDK has one httpx (one symbol): looked up on sockets until found, then kept. A second copy of
  // httpx would go uncleared, as before this existed.
  readTimerSymbol ??= Object.getOwnPropertySymbols(socket).find((s) => s.description === 'TIMER::READ_TIMER');
  const t = readTimerSymbol === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[readTimerSymbol];
  return t !== null && typeof t === 'object' && typeof (t as NodeJS.Timeout).refresh === 'function' ? (t as NodeJS.Timeout) : undefined;
}

/**
 * Runs `call` (one SDK call) under `limits`: it settles with the call's own
 * outcome, or rejects with a CallDeadlineError at the deadline or a
 * ResponseTooLargeError as soon as the answer passes the cap. Either way the
 * request is aborted at once, so nothing of it outlives this promise.
 */
export function boundedCall<T>(call: () => Promise<T>, limits: CallLimits): Promise<T> {
  installTransportGuard();
  const controller = new AbortController();
  let settled = false;
  let reject!: (err: Error) => void;
  const failed = new Promise<never>((_, r) => (reject = r));
  let deadline: NodeJS.Timeout | undefined;
  const guard: Guard = {
    signal: controller.signal,
    maxBytes: limits.maxBytes ?? MAX_RESPONSE_BYTES,
    sending() {
      deadline ??= setTimeout(() => guard.fail(new CallDeadlineError(`no complete answer within ${limits.timeoutMs} ms`)), limits.timeoutMs);
    },
    fail(err) {
      if (settled) return;
      settled = true;
      reject(err);
      controller.abort(err);
    },
  };
  const overall = limits.timeoutMs + LOCAL_WORK_ALLOWANCE_MS;
  const backstop = setTimeout(() => guard.fail(new CallDeadlineError(`the call did not end within ${overall} ms`)), overall);
  const running = current.run(guard, call);
  // When the guard wins, the SDK's own failure (an abort) comes later and means nothing.
  running.catch(() => undefined);
  return Promise.race([running, failed]).finally(() => {
    settled = true;
    clearTimeout(deadline);
    clearTimeout(backstop);
  });
}
