/**
 * The simulated endpoint: node:http, loopback by default, and node:https
 * beside it when given a certificate. Order of checks follows the service:
 * the API must exist, the caller must authenticate, flow control,
 * parameters, then the task itself. Faults are injected after
 * authentication, so a fault scenario never hides a signing bug.
 *
 * One request handler serves Security Center (ACS3-HMAC-SHA256 signatures,
 * `x-acs-action`) and STS AssumeRole (RPC signature v1, `Action` in the
 * query); it tells them apart by the request's shape and dispatches on the
 * action. Both listeners (plain HTTP, and HTTPS when `tls` is given) serve
 * everything: the RAM role ARN provider can only speak HTTPS, so tests point
 * it at the HTTPS endpoint.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { AccountRuntime, accountsOf, KeyRing, type IssuedCredential, type KeyOwner } from './accounts.js';
import { ALL_ACTIONS, DESCRIBE_ACTION, LIST_ACTION, SAS_VERSION, STATISTIC_ACTION } from './actions.js';
import { Counters, type CallPlace, type SimulatorCounts } from './counters.js';
import { ERRORS, errorBody, type ApiError } from './errors.js';
import { chooseFault, faultOutcome, type FaultDecision } from './faults.js';
import type { AccountFaultSpec, Scenario } from './model.js';
import { hash32 } from './prng.js';
import { EMPTY_500, GARBAGE_200, HTML_502, JSON_TYPE, NON_OBJECT_200, successBody, type RawAnswer } from './responses.js';
import { MAX_DATE_SKEW_MS, NonceCache, parseQuery, verifySignature, type VerifyResult } from './signature.js';
import { assumeRole, isRpcStyle, param, STS_ACTION, STS_HOST_ID, STS_VERSION, TOKEN_EXPIRED, verifyRpcSignature, type RoleEntry } from './sts.js';
import { canonicalTaskId } from '../config/taskId.js';
import { statusAt } from './timeline.js';
import { listBody, listRows, readListQuery, statisticBody } from './virusScan.js';

export const ACTION = DESCRIBE_ACTION;
export const API_VERSION = SAS_VERSION;
export const CONTROL_PREFIX = '/-/simulator/';
const STS_SERVICE = { hostId: STS_HOST_ID, product: 'Sts' } as const;
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
  /**
   * Also listen with TLS (PEM certificate and key), on `port` (default 0:
   * any free one) of `host` (default: the plain listener's host). Same API,
   * same counters.
   */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly host?: string; readonly port?: number };
}

export interface ListenerAddress {
  /** `https://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `host:port`, what withStsEndpoint and Config.endpoint want. */
  readonly endpoint: string;
}

export interface SimulatorHandle {
  /** `http://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `host:port`, what the SDK's Config.endpoint wants. */
  readonly endpoint: string;
  readonly scenario: Scenario;
  /** The TLS listener, when started with `tls`. */
  readonly https?: ListenerAddress;
  /** Account names, in scenario order; the first is the one control methods use when none is named. */
  readonly accounts: readonly string[];
  counts(): SimulatorCounts;
  resetCounts(): void;
  /**
   * Replaces the faults of one task (canonical or not, known or not) or, with
   * '*', the account-level ones; `[]` clears. Fire counts restart. `account`
   * defaults to the first account.
   */
  setFaults(taskId: string | '*', faults: readonly AccountFaultSpec[], account?: string): void;
  /** A delay added to every API answer on top of latency faults; 0 removes it. */
  setLatencyMs(ms: number): void;
  /** Changes an account's flow-control ceiling (default: the first account); undefined removes it. */
  setQpsLimit(qps: number | undefined, account?: string): void;
  /** Every credential AssumeRole issued so far (secrets included: this is a test tool). */
  issuedCredentials(): readonly IssuedCredential[];
  /** Makes issued credentials (all, or the one with this AccessKeyId) expire now; returns how many. */
  expireIssuedCredentials(accessKeyId?: string): number;
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

  const specs = accountsOf(scenario);
  // One account keeps the PRNG stream names of old, so a single-account scenario's rate faults fail the same calls as before accounts existed.
  const singleAccount = specs.length === 1;
  const accounts = new Map<string, AccountRuntime>(specs.map((a) => [a.name, new AccountRuntime(a, scenario.seed, singleAccount ? '' : `${a.name}/`)]));
  const accountNames = [...accounts.keys()];
  const ring = new KeyRing(accounts);
  const roles = new Map<string, RoleEntry>();
  for (const account of accounts.values()) {
    for (const role of account.spec.roles) {
      const roleId = `3${String(hash32(`${scenario.seed}/${role.arn}`)).padStart(10, '0')}${String(hash32(`${role.arn}/${scenario.seed}`)).padStart(10, '0')}`;
      roles.set(role.arn, { role, account, roleId });
    }
  }
  let extraLatencyMs = 0;
  // Wall time at start: the base of ScanTime, StartTime and EndTime (offsets come from the timeline clock).
  const epochMs = wallNow();

  const counters = new Counters(startedAt, now, accountNames, ALL_ACTIONS);
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

  const accountNamed = (name: string | undefined, what: string): AccountRuntime => {
    const a = accounts.get(name ?? accountNames[0]!);
    if (!a) throw new Error(`${what}: no account ${JSON.stringify(name)}; accounts: ${accountNames.join(', ')}`);
    return a;
  };

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, rawQuery: string): Promise<void> {
    const t0 = Date.now();
    const requestId = randomUUID().toUpperCase();
    counters.arrival();
    let taskId: string | undefined;
    let action: string | undefined;
    let account: AccountRuntime | undefined;
    let describeCall = true;
    const place = (): CallPlace => ({ action: action ?? DESCRIBE_ACTION, ...(account ? { account: account.name } : {}) });

    const finish = (o: Outcome): void => {
      counters.outcome(o.code, describeCall ? taskId : undefined, place());
      const who = !singleAccount && account ? ` account=${account.name}` : '';
      const what = describeCall ? `task=${taskId ?? '-'}` : `action=${action}`;
      log?.(`${req.method} ${path}${who} ${what} -> ${o.status ?? '-'} ${o.code} ${Date.now() - t0}ms`);
    };
    const sendError = (err: ApiError): void => {
      const body = errorBody(requestId, err, action === STS_ACTION ? STS_SERVICE : undefined);
      send(res, requestId, { status: err.status, contentType: JSON_TYPE, body });
      finish({ code: err.code, status: err.status });
    };
    const sendJson = (body: string, code = 'OK'): void => {
      send(res, requestId, { status: 200, contentType: JSON_TYPE, body });
      finish({ code, status: 200 });
    };

    /**
     * Counts the faults that fired, waits out the latency, and answers the
     * faults every action shares. 'go': answer normally, or bend the answer
     * with `decision.fault` (a kind only this action knows).
     */
    async function applyFaults(decision: FaultDecision): Promise<'go' | 'done'> {
      for (const f of decision.fired) counters.faultFired(f.kind, place());
      const delay = extraLatencyMs + decision.latencyMs;
      if (delay > 0 && !(await sleep(delay))) return 'done';
      if (res.destroyed || closing) {
        finish({ code: 'client_gone' });
        return 'done';
      }
      const fault = decision.fault;
      if (!fault) return 'go';
      const outcome = faultOutcome(fault.kind, fault);
      switch (fault.kind) {
        case 'no_permission':
          sendError(ERRORS.noPermission());
          return 'done';
        case 'server_error':
          sendError(ERRORS.serverError());
          return 'done';
        case 'throttling':
          sendError(ERRORS.throttling());
          return 'done';
        case 'api_error':
          sendError({ status: fault.httpStatus ?? 400, code: fault.code ?? 'Error', message: fault.message ?? fault.code ?? '' });
          return 'done';
        case 'hang':
          // Nothing is written; the socket stays open until the client gives up or close() cuts it.
          finish({ code: outcome });
          return 'done';
        case 'reset':
          // An RST rather than a FIN: the client sees ECONNRESET, like a dropped connection in the wild.
          req.socket.resetAndDestroy();
          finish({ code: outcome });
          return 'done';
        case 'html_502':
        case 'empty_500':
        case 'garbage_200':
        case 'non_object_200': {
          const raw = { html_502: HTML_502, empty_500: EMPTY_500, garbage_200: GARBAGE_200, non_object_200: NON_OBJECT_200 }[fault.kind];
          send(res, requestId, raw);
          finish({ code: outcome, status: raw.status });
          return 'done';
        }
        default:
          return 'go';
      }
    }

    const body = await readBody(req);
    if (body === 'aborted') return finish({ code: 'client_gone' });
    if (body === 'too_large') return sendError(ERRORS.payloadTooLarge());

    // Parameters from the query and a form body, the query first (the signature check refuses a malformed escape).
    let queryPairs: Array<[string, string]> = [];
    try {
      queryPairs = parseQuery(rawQuery);
    } catch {
      queryPairs = [];
    }
    const params: Array<[string, string]> = [...queryPairs, ...formPairs(req.headers['content-type'], body)];
    const acs3 = req.headers.authorization !== undefined || req.headers['x-acs-action'] !== undefined;
    const rpc = isRpcStyle(acs3, params);
    action = rpc ? param(params, 'Action') : single(req.headersDistinct['x-acs-action']);
    describeCall = action === undefined || action === DESCRIBE_ACTION;
    // Read early so that even a refused call is counted against its task.
    const rawId = describeCall ? readTaskId(rawQuery, req.headers['content-type'], body) : undefined;
    taskId = rawId === undefined ? undefined : canonicalTaskId(rawId);

    if (path !== '/') return sendError(ERRORS.actionNotFound());
    if (rpc && action === undefined) return sendError(ERRORS.missingParameter('Action'));
    if (action !== undefined && !ALL_ACTIONS.includes(action)) return sendError(ERRORS.actionNotFound());
    const sts = action === STS_ACTION;
    const expectedVersion = sts ? STS_VERSION : SAS_VERSION;
    if (rpc) {
      // The provider signs one merged set of parameters: a name given twice (query and body) would be signed with one value and read with another.
      const twice = duplicateName(params);
      if (twice !== undefined) return sendError({ status: 400, code: 'InvalidParameter', message: `The parameter ${twice} is given more than once.` });
    }
    const version = rpc ? param(params, 'Version') : single(req.headersDistinct['x-acs-version']);
    if (rpc && (version === undefined || version === '')) return sendError(ERRORS.missingParameter('Version'));
    if (version !== undefined && version !== expectedVersion) return sendError(ERRORS.invalidVersion());

    const verifyOpts = {
      findKey: (id: string) => ring.find(id)?.pair,
      nowMs: wallNow(),
      nonces,
      ...(opts.maxDateSkewMs !== undefined ? { maxSkewMs: opts.maxDateSkewMs } : {}),
    };
    const auth: VerifyResult = rpc
      ? verifyRpcSignature(req.method ?? 'GET', params, verifyOpts)
      : verifySignature({ method: req.method ?? 'GET', path, rawQuery, headers: req.headersDistinct, body }, verifyOpts);
    const owner: KeyOwner | undefined = auth.accessKeyId === undefined ? undefined : ring.find(auth.accessKeyId);
    account = owner?.account;
    if (!auth.ok) {
      counters.signatureFailure(account?.name);
      return sendError(auth.error);
    }
    if (owner!.issued && owner!.issued.expiresAtMs <= wallNow()) {
      counters.signatureFailure(account!.name);
      return sendError(TOKEN_EXPIRED);
    }
    const caller = owner!;
    const acct = caller.account;

    // STS is another service: no Security Center flow control, and only faults that name AssumeRole.
    if (sts) {
      const ready = await applyFaults(chooseFault(acct.rules(), elapsed(), STS_ACTION));
      if (ready !== 'go') return;
      const r = assumeRole({ params, caller, roles, ring, nowMs: wallNow(), requestId });
      return r.ok ? sendJson(r.body) : sendError(r.error);
    }

    if (!acct.admit(now())) {
      counters.throttled(acct.name);
      return sendError(ERRORS.throttling());
    }

    if (action === STATISTIC_ACTION) {
      const at = elapsed();
      const decision = chooseFault(acct.rules(), at, STATISTIC_ACTION);
      const ready = await applyFaults(decision);
      if (ready !== 'go') return;
      const missing = decision.fault?.kind === 'missing_data';
      return sendJson(statisticBody(requestId, acct.scans, at, epochMs, acct.spec.noScanData, missing), missing ? faultOutcome('missing_data') : 'OK');
    }

    if (action === LIST_ACTION) {
      const q = readListQuery(params);
      if (!q.ok) return sendError(q.error);
      const at = elapsed();
      const decision = chooseFault(acct.rules(), at, LIST_ACTION);
      const ready = await applyFaults(decision);
      if (ready !== 'go') return;
      const fault = decision.fault;
      return sendJson(listBody(requestId, listRows(acct.scans, at, epochMs, q.query), q.query, fault), fault ? faultOutcome(fault.kind, fault) : 'OK');
    }

    if (rawId === undefined || rawId.trim() === '') return sendError(ERRORS.missingTaskId());
    if (taskId === undefined) return sendError(ERRORS.invalidTaskId());

    const at = elapsed();
    const decision = chooseFault(acct.rules(taskId), at, DESCRIBE_ACTION);
    const ready = await applyFaults(decision);
    if (ready !== 'go') return;

    const fault = decision.fault;
    const task = acct.tasks.get(taskId);
    if (fault) {
      const outcome = faultOutcome(fault.kind, fault);
      // These bend a real answer, so they need a real task.
      if (!task) return sendError(ERRORS.taskNotExist());
      const status = fault.kind === 'undocumented_status' ? (fault.status ?? 'Paused') : statusAt(task, at);
      const ti = fault.kind === 'malformed_target_info' ? 'malformed' : fault.kind === 'missing_target_info' ? 'missing' : 'normal';
      const answer = successBody(requestId, status, task.targets, task.targetInfoFormat ?? acct.spec.targetInfoFormat, ti);
      return sendJson(answer, outcome);
    }

    if (!task) return sendError(ERRORS.taskNotExist());
    sendJson(successBody(requestId, statusAt(task, at), task.targets, task.targetInfoFormat ?? acct.spec.targetInfoFormat));
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
    if (path === `${CONTROL_PREFIX}sts/expire`) {
      if (req.method !== 'POST') return json(405, { error: 'use POST' });
      return json(200, { expired: ring.expire(wallNow()) });
    }
    return json(404, {
      error: 'not found',
      endpoints: ['GET /-/simulator/counts', 'POST /-/simulator/counts/reset', 'GET /-/simulator/healthz', 'POST /-/simulator/sts/expire'],
    });
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
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
  };
  const server = createServer(listener);
  const tlsServer = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : undefined;
  for (const srv of [server, tlsServer]) {
    // Client errors (a malformed request line, a reset mid-headers, a failed handshake) must not crash a test run.
    srv?.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  const host = opts.host ?? '127.0.0.1';
  const listen = (srv: Server, port: number, on: string): Promise<ListenerAddress> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, on, () => {
        srv.off('error', reject);
        const p = (srv.address() as AddressInfo).port;
        const e = `${on.includes(':') ? `[${on}]` : on}:${p}`;
        resolve({ url: `${srv === server ? 'http' : 'https'}://${e}`, host: on, port: p, endpoint: e });
      });
    });
  const plain = await listen(server, opts.port ?? 0, host);
  const { port, endpoint } = plain;
  let secure: ListenerAddress | undefined;
  if (tlsServer) {
    try {
      secure = await listen(tlsServer, opts.tls!.port ?? 0, opts.tls!.host ?? host);
    } catch (e) {
      server.close();
      throw e;
    }
  }
  const taskCount = specs.reduce((n, a) => n + a.tasks.length, 0);
  log?.(
    `simulator listening on http://${endpoint}${secure ? ` and ${secure.url}` : ''} (${taskCount} tasks` +
      `${singleAccount ? '' : ` in ${specs.length} accounts`} from ${scenario.source})`,
  );

  let closed: Promise<void> | undefined;
  return {
    url: `http://${endpoint}`,
    host,
    port,
    endpoint,
    scenario,
    ...(secure ? { https: secure } : {}),
    accounts: accountNames,
    counts: () => counters.snapshot(),
    resetCounts: () => counters.reset(),
    setFaults(taskId, faults, account) {
      accountNamed(account, 'setFaults').setFaults(taskId, faults);
    },
    setLatencyMs(ms) {
      if (!(Number.isFinite(ms) && ms >= 0)) throw new Error('setLatencyMs: ms must be a non-negative number');
      extraLatencyMs = ms;
    },
    setQpsLimit(qps, account) {
      accountNamed(account, 'setQpsLimit').setQpsLimit(qps);
    },
    issuedCredentials: () => ring.list(),
    expireIssuedCredentials: (accessKeyId) => ring.expire(wallNow(), accessKeyId),
    elapsedMs: elapsed,
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        for (const wake of [...sleepers]) wake(false);
        let open = tlsServer ? 2 : 1;
        const done = (): void => {
          if (--open === 0) resolve();
        };
        server.close(done);
        tlsServer?.close(done);
        // Idle keep-alive sockets and hung requests would otherwise keep close() waiting forever.
        server.closeAllConnections();
        tlsServer?.closeAllConnections();
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

function duplicateName(params: ReadonlyArray<readonly [string, string]>): string | undefined {
  const seen = new Set<string>();
  for (const [k] of params) {
    if (seen.has(k)) return k;
    seen.add(k);
  }
  return undefined;
}

/** A form body's pairs (`+` is a space there, as in any form); none for other bodies. */
function formPairs(contentType: string | undefined, body: Buffer): Array<[string, string]> {
  if (body.length === 0 || contentType === undefined || !/^application\/x-www-form-urlencoded\b/i.test(contentType)) return [];
  return [...new URLSearchParams(body.toString('utf8'))];
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
