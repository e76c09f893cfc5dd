/**
 * The simulated endpoint: node:http, loopback by default. Order of checks
 * follows the service: the API must exist, the caller must authenticate,
 * flow control, parameters, then the task itself. Faults are injected after
 * authentication, so a fault scenario never hides a signing bug.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Counters, type SimulatorCounts } from './counters.js';
import { ERRORS, errorBody, type ApiError } from './errors.js';
import { checkFaultSpec, chooseFault, faultOutcome, makeRules, type FaultRule } from './faults.js';
import type { FaultSpec, Scenario, TaskSpec } from './model.js';
import { SlidingWindowLimiter } from './qps.js';
import { EMPTY_500, GARBAGE_200, HTML_502, JSON_TYPE, NON_OBJECT_200, successBody, type RawAnswer } from './responses.js';
import { MAX_DATE_SKEW_MS, NonceCache, parseQuery, verifySignature, type KeyPair } from './signature.js';
import { canonicalTaskId } from '../config/taskId.js';
import { statusAt } from './timeline.js';

export const ACTION = 'DescribeScanTaskProgress';
export const API_VERSION = '2018-12-03';
export const CONTROL_PREFIX = '/-/simulator/';
const MAX_BODY_BYTES = 1024 * 1024;

export interface SimulatorOptions {
  readonly scenario: Scenario;
  /** Default 127.0.0.1: the control endpoints are unauthenticated. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
  /** Timeline clock in ms; the timeline, fault windows, flow control and arrival log use it. Default Date.now. */
  readonly now?: () => number;
  /** Wall clock compared with x-acs-date, which the SDK always fills from the real time. Default Date.now. */
  readonly wallNow?: () => number;
  readonly maxDateSkewMs?: number;
  /** One line per API call, and lifecycle lines. */
  readonly log?: (line: string) => void;
}

export interface SimulatorHandle {
  /** `http://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `host:port`, what the SDK's Config.endpoint wants. */
  readonly endpoint: string;
  readonly scenario: Scenario;
  counts(): SimulatorCounts;
  resetCounts(): void;
  /** Replaces the faults of one task (canonical or not, known or not) or, with '*', the global ones; `[]` clears. Fire counts restart. */
  setFaults(taskId: string | '*', faults: readonly FaultSpec[]): void;
  /** A delay added to every API answer on top of latency faults; 0 removes it. */
  setLatencyMs(ms: number): void;
  /** Changes the flow-control ceiling; undefined removes it. */
  setQpsLimit(qps: number | undefined): void;
  /** Ms on the timeline clock since start: what statusAt is evaluated at. */
  elapsedMs(): number;
  /** Stops listening and cuts every connection, hung ones included. Idempotent. */
  close(): Promise<void>;
}

interface Outcome {
  readonly code: string;
  readonly status?: number;
}

export async function startSimulator(opts: SimulatorOptions): Promise<SimulatorHandle> {
  const scenario = opts.scenario;
  const now = opts.now ?? Date.now;
  const wallNow = opts.wallNow ?? Date.now;
  const log = opts.log;
  const startedAt = now();
  const elapsed = (): number => now() - startedAt;

  const keys = new Map<string, KeyPair>(scenario.credentials.map((k) => [k.accessKeyId, k]));
  const tasks = new Map<string, TaskSpec>(scenario.tasks.map((t) => [t.id, t]));
  const taskRules = new Map<string, FaultRule[]>();
  for (const t of scenario.tasks) if (t.faults.length) taskRules.set(t.id, makeRules(t.faults, scenario.seed, `task:${t.id}`));
  let globalRules = makeRules(scenario.faults, scenario.seed, 'global');
  let extraLatencyMs = 0;
  let limiter = scenario.qpsLimit !== undefined ? new SlidingWindowLimiter(scenario.qpsLimit) : undefined;

  const counters = new Counters(startedAt, now);
  const nonces = new NonceCache(2 * (opts.maxDateSkewMs ?? MAX_DATE_SKEW_MS));
  let closing = false;
  // Woken with false when the server closes, so delayed answers stop waiting.
  const sleepers = new Set<(go: boolean) => void>();

  const sleep = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const wake = (go: boolean): void => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve(go);
      };
      const timer = setTimeout(() => wake(true), ms);
      sleepers.add(wake);
    });

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, rawQuery: string): Promise<void> {
    const t0 = Date.now();
    const requestId = randomUUID().toUpperCase();
    counters.arrival();
    let taskId: string | undefined;

    const finish = (o: Outcome): void => {
      counters.outcome(o.code, taskId);
      log?.(`${req.method} ${path} task=${taskId ?? '-'} -> ${o.status ?? '-'} ${o.code} ${Date.now() - t0}ms`);
    };
    const sendError = (err: ApiError): void => {
      send(res, requestId, { status: err.status, contentType: JSON_TYPE, body: errorBody(requestId, err) });
      finish({ code: err.code, status: err.status });
    };

    const body = await readBody(req);
    if (body === 'aborted') return finish({ code: 'client_gone' });
    if (body === 'too_large') return sendError(ERRORS.payloadTooLarge());
    // Read early so that even a refused call is counted against its task.
    const rawId = readTaskId(rawQuery, req.headers['content-type'], body);
    taskId = rawId === undefined ? undefined : canonicalTaskId(rawId);

    if (path !== '/') return sendError(ERRORS.actionNotFound());
    const action = single(req.headersDistinct['x-acs-action']);
    if (action !== undefined && action !== ACTION) return sendError(ERRORS.actionNotFound());
    const version = single(req.headersDistinct['x-acs-version']);
    if (version !== undefined && version !== API_VERSION) return sendError(ERRORS.invalidVersion());

    const auth = verifySignature(
      { method: req.method ?? 'GET', path, rawQuery, headers: req.headersDistinct, body },
      {
        findKey: (id) => keys.get(id),
        nowMs: wallNow(),
        nonces,
        ...(opts.maxDateSkewMs !== undefined ? { maxSkewMs: opts.maxDateSkewMs } : {}),
      },
    );
    if (!auth.ok) {
      counters.signatureFailure();
      return sendError(auth.error);
    }

    if (limiter && !limiter.tryAcquire(now())) {
      counters.throttled();
      return sendError(ERRORS.throttling());
    }

    if (rawId === undefined || rawId.trim() === '') return sendError(ERRORS.missingTaskId());
    if (taskId === undefined) return sendError(ERRORS.invalidTaskId());

    const at = elapsed();
    const decision = chooseFault([taskRules.get(taskId) ?? [], globalRules], at);
    for (const f of decision.fired) counters.faultFired(f.kind);
    const delay = extraLatencyMs + decision.latencyMs;
    if (delay > 0 && !(await sleep(delay))) return;
    if (res.destroyed || closing) return finish({ code: 'client_gone' });

    const fault = decision.fault;
    const task = tasks.get(taskId);
    if (fault) {
      const outcome = faultOutcome(fault.kind, fault);
      switch (fault.kind) {
        case 'no_permission':
          return sendError(ERRORS.noPermission());
        case 'server_error':
          return sendError(ERRORS.serverError());
        case 'throttling':
          return sendError(ERRORS.throttling());
        case 'api_error':
          return sendError({ status: fault.httpStatus ?? 400, code: fault.code ?? 'Error', message: fault.message ?? fault.code ?? '' });
        case 'hang':
          // Nothing is written; the socket stays open until the client gives up or close() cuts it.
          return finish({ code: outcome });
        case 'reset':
          // An RST rather than a FIN: the client sees ECONNRESET, like a dropped connection in the wild.
          req.socket.resetAndDestroy();
          return finish({ code: outcome });
        case 'html_502':
          send(res, requestId, HTML_502);
          return finish({ code: outcome, status: HTML_502.status });
        case 'empty_500':
          send(res, requestId, EMPTY_500);
          return finish({ code: outcome, status: EMPTY_500.status });
        case 'garbage_200':
          send(res, requestId, GARBAGE_200);
          return finish({ code: outcome, status: GARBAGE_200.status });
        case 'non_object_200':
          send(res, requestId, NON_OBJECT_200);
          return finish({ code: outcome, status: NON_OBJECT_200.status });
        case 'malformed_target_info':
        case 'missing_target_info':
        case 'undocumented_status': {
          // These bend a real answer, so they need a real task.
          if (!task) return sendError(ERRORS.taskNotExist());
          const status = fault.kind === 'undocumented_status' ? (fault.status ?? 'Paused') : statusAt(task, at);
          const ti = fault.kind === 'malformed_target_info' ? 'malformed' : fault.kind === 'missing_target_info' ? 'missing' : 'normal';
          const answer = successBody(requestId, status, task.targets, task.targetInfoFormat ?? scenario.targetInfoFormat, ti);
          send(res, requestId, { status: 200, contentType: JSON_TYPE, body: answer });
          return finish({ code: outcome, status: 200 });
        }
        case 'latency':
          break; // never chosen as the deciding fault
      }
    }

    if (!task) return sendError(ERRORS.taskNotExist());
    const answer = successBody(requestId, statusAt(task, at), task.targets, task.targetInfoFormat ?? scenario.targetInfoFormat);
    send(res, requestId, { status: 200, contentType: JSON_TYPE, body: answer });
    finish({ code: 'OK', status: 200 });
  }

  function handleControl(req: IncomingMessage, res: ServerResponse, path: string): void {
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': JSON_TYPE, 'cache-control': 'no-store' });
      res.end(JSON.stringify(value));
    };
    if (path === `${CONTROL_PREFIX}counts`) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'use GET' });
      return json(200, counters.snapshot());
    }
    if (path === `${CONTROL_PREFIX}counts/reset`) {
      if (req.method !== 'POST') return json(405, { error: 'use POST' });
      counters.reset();
      return json(200, counters.snapshot());
    }
    if (path === `${CONTROL_PREFIX}healthz`) return json(200, { status: 'ok', elapsedMs: elapsed() });
    return json(404, { error: 'not found', endpoints: ['GET /-/simulator/counts', 'POST /-/simulator/counts/reset', 'GET /-/simulator/healthz'] });
  }

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    if (path.startsWith(CONTROL_PREFIX)) {
      req.resume();
      return handleControl(req, res, path);
    }
    handleApi(req, res, path, rawQuery).catch((err: unknown) => {
      log?.(`simulator: internal error: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent && !res.destroyed) {
        const requestId = randomUUID().toUpperCase();
        send(res, requestId, { status: 500, contentType: JSON_TYPE, body: errorBody(requestId, ERRORS.serverError()) });
      }
    });
  });
  // Client errors (a malformed request line, a reset mid-headers) must not crash a test run.
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const endpoint = `${hostForUrl}:${port}`;
  log?.(`simulator listening on http://${endpoint} (${scenario.tasks.length} tasks from ${scenario.source})`);

  let closed: Promise<void> | undefined;
  return {
    url: `http://${endpoint}`,
    host,
    port,
    endpoint,
    scenario,
    counts: () => counters.snapshot(),
    resetCounts: () => counters.reset(),
    setFaults(taskId, faults) {
      for (const f of faults) {
        const problem = checkFaultSpec(f);
        if (problem) throw new Error(`setFaults: ${problem}`);
      }
      const normalised = faults.map((f) => ({ ...f }));
      if (taskId === '*') {
        globalRules = makeRules(normalised, scenario.seed, 'global');
        return;
      }
      const id = canonicalTaskId(taskId);
      if (id === undefined) throw new Error(`setFaults: ${JSON.stringify(taskId)} is not a task ID`);
      if (normalised.length) taskRules.set(id, makeRules(normalised, scenario.seed, `task:${id}`));
      else taskRules.delete(id);
    },
    setLatencyMs(ms) {
      if (!(Number.isFinite(ms) && ms >= 0)) throw new Error('setLatencyMs: ms must be a non-negative number');
      extraLatencyMs = ms;
    },
    setQpsLimit(qps) {
      if (qps === undefined) limiter = undefined;
      else if (!(qps > 0)) throw new Error('setQpsLimit: qps must be positive');
      else if (limiter) limiter.setLimit(qps);
      else limiter = new SlidingWindowLimiter(qps);
    },
    elapsedMs: elapsed,
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        for (const wake of [...sleepers]) wake(false);
        server.close(() => resolve());
        // Idle keep-alive sockets and hung requests would otherwise keep close() waiting forever.
        server.closeAllConnections();
        log?.('simulator closed');
      });
      return closed;
    },
  };
}

function send(res: ServerResponse, requestId: string, answer: RawAnswer): void {
  if (res.destroyed) return;
  const headers: Record<string, string | number> = {
    'x-acs-request-id': requestId,
    'content-length': Buffer.byteLength(answer.body),
  };
  if (answer.contentType) headers['content-type'] = answer.contentType;
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

function single(v: readonly string[] | undefined): string | undefined {
  return v === undefined ? undefined : v[0];
}

/** The raw body, needed whole for x-acs-content-sha256; bounded, since no real call sends more than a few bytes. */
function readBody(req: IncomingMessage): Promise<Buffer | 'too_large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? 'too_large' : Buffer.concat(chunks)));
    // A client that goes away mid-body: 'end' never comes, and nobody is left to answer.
    req.on('close', () => {
      if (!req.complete) resolve('aborted');
    });
    req.on('error', () => resolve('aborted'));
  });
}

/** The SDK puts TaskId in the query; older ones put it in a form body. The query wins when both are present. */
function readTaskId(rawQuery: string, contentType: string | undefined, body: Buffer): string | undefined {
  let pairs: Array<[string, string]>;
  try {
    pairs = parseQuery(rawQuery);
  } catch {
    return undefined; // a malformed escape; the signature check refuses the call anyway
  }
  for (const [k, v] of pairs) if (k === 'TaskId') return v;
  if (body.length > 0 && contentType !== undefined && /^application\/x-www-form-urlencoded\b/i.test(contentType)) {
    const v = new URLSearchParams(body.toString('utf8')).get('TaskId');
    if (v !== null) return v;
  }
  return undefined;
}
