/**
 * The exporter's own metrics (API calls, cycles, config, HTTP, process),
 * kept in a prom-client registry. Implements the poller's observer, so the
 * poller needs no metrics library.
 *
 * Nothing is rendered per scrape that did not change since the last one:
 * - the scrape counter, the one figure that moves at every scrape, is kept
 *   out of prom-client and rendered by hand (a few lines);
 * - the exporter's own families are rendered by prom-client only after an
 *   event changed one of them (every change goes through this class and
 *   bumps `version`), so a scrape right after an event sees it, and a
 *   scrape burst between two events reuses the same text;
 * - prom-client's default process metrics cost ~1 ms to collect (they read
 *   /proc, walk handles and heap spaces), so their text is reused for up to
 *   PROCESS_METRICS_MAX_AGE_MS.
 */
import client from 'prom-client';
import { ACTIONS, TARGET_INFO_PROBLEMS } from '../model/vocabulary.js';
import type { Snapshot } from '../model/snapshot.js';
import { ERROR_CODES_MAX, type AccountActivity } from '../model/status.js';
import type { AccountIdentity, AccountObserver, PollObserver } from '../poller/observer.js';
import { AUTH_DENIAL_REASONS, type AuthDenialReason } from '../web/basicAuth.js';
import type { ShedReason } from '../web/server.js';
import { LabelLimits, LIMIT_SERIES } from './labels.js';

/** How long the default process metrics' text is reused; well under any scrape interval. */
export const PROCESS_METRICS_MAX_AGE_MS = 1000;

/** Answers of the telemetry path: served, unauthenticated, too many password checks, failed, too many scrapes. */
const SCRAPE_CODES = ['200', '401', '429', '500', '503'];
const CYCLE_RESULTS = ['success', 'partial', 'failure', 'skipped'];

const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Self-metrics text split by how often it changes; the whole text is the parts joined by blank lines. */
export interface SelfParts {
  /** Changes from one scrape to the next (the scrape counter): a few lines. */
  readonly volatile: string;
  /** Change rarely, each the same string object while unchanged (and the array too while none changed): sent after `volatile`, in order. */
  readonly stable?: readonly string[];
}

const SCRAPES = 'aliyun_sas_exporter_scrapes_total';
const SCRAPES_HEADER = `# HELP ${SCRAPES} Responses of the telemetry path by HTTP status code.\n# TYPE ${SCRAPES} counter\n`;

export interface SelfMetricsOptions {
  version: string;
  revision: string;
  /** Default process metrics (off in unit tests, where they vary). */
  processMetrics?: boolean;
  /** The multi-account form: the account families carry an `account` label. */
  accountLabel?: boolean;
  /** Monotonic ms, for the process metrics' reuse window (tests). */
  now?: () => number;
}

/** One account's figures for activity(), updated by its observer. */
interface MutableActivity {
  lastCycle?: AccountActivity['lastCycle'];
  skippedTicks: number;
  apiCalls: number;
  apiErrors: number;
  /** Calls by error code, as aliyun_sas_api_requests_total counts them (bounded: see labels.ts). */
  codes: Map<string, number>;
  rateLimitQps?: number;
}

export class SelfMetrics implements PollObserver {
  /** The exporter's own families, rendered at every scrape. */
  readonly registry = new client.Registry();
  /** prom-client's default process metrics, when enabled; rendered at most once per PROCESS_METRICS_MAX_AGE_MS. */
  private readonly processRegistry: client.Registry | undefined;
  private processText: (Rendering & { at: number }) | undefined;
  private readonly clock: () => number;
  /** Families of one account carry `account` in the multi-account form, nothing in the single-account form. */
  private readonly accountLabel: boolean;
  private readonly apiRequests;
  private readonly apiDuration;
  private readonly rateLimit;
  private readonly targetInfoErrors;
  private readonly cycles;
  private readonly cycleDuration;
  private readonly lastCycle;
  private readonly cycleCalls;
  private readonly cycleTasks;
  private readonly tasks;
  private readonly tasksAnswered;
  private readonly accountInfo;
  private readonly reloadOk;
  private readonly reloadTime;
  /** Responses by status code, in first-seen order (as prom-client lists label sets). */
  private readonly scrapes = new Map<string, number>();
  private readonly limited;
  private readonly authDenials;
  private readonly connectionsShed;
  /** Bounds on API-provided label values: the code here, the rest in the families (layout.ts). */
  readonly labelLimits: LabelLimits;
  /** Bumped by every change to the registry's values; the rendered text is kept while it stays. */
  private version = 0;
  private ownText: (Rendering & { version: number }) | undefined;
  private stableParts: readonly string[] = [];
  private readonly accountObservers = new Map<string, AccountObserver>();
  /** The same facts as plain figures, per account, for the landing page (prom-client's own are async to read). */
  private readonly activities = new Map<string, MutableActivity>();
  private config: { ok: boolean; lastSuccessAt?: number } = { ok: true };
  private known: readonly AccountIdentity[] = [];

  constructor(opts: SelfMetricsOptions) {
    const registers = [this.registry];
    this.accountLabel = opts.accountLabel ?? false;
    const acct = <L extends string>(...names: L[]) => (this.accountLabel ? (['account', ...names] as const) : names) as readonly ('account' | L)[];
    this.apiRequests = new client.Counter({ name: 'aliyun_sas_api_requests_total', help: 'Security Center API calls by action and outcome: OK, the API error code, or timeout/network/bad_response/credentials.', labelNames: acct('action', 'code'), registers });
    this.apiDuration = new client.Histogram({ name: 'aliyun_sas_api_request_duration_seconds', help: 'Duration of Security Center API calls, failures included.', labelNames: acct('action'), buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.rateLimit = new client.Gauge({ name: 'aliyun_sas_api_rate_limit_qps', help: 'Client-side API request rate currently allowed; lowered while the API throttles.', labelNames: acct(), registers });
    this.targetInfoErrors = new client.Counter({ name: 'aliyun_sas_target_info_errors_total', help: 'Answers whose TargetInfo was missing, empty or malformed (the status was kept).', labelNames: acct('reason'), registers });
    this.cycles = new client.Counter({ name: 'aliyun_sas_poll_cycles_total', help: 'Poll cycles by result: success, partial, failure; skipped counts ticks dropped because a cycle still ran.', labelNames: acct('result'), registers });
    this.cycleDuration = new client.Gauge({ name: 'aliyun_sas_poll_cycle_duration_seconds', help: 'Duration of the last finished poll cycle.', labelNames: acct(), registers });
    this.lastCycle = new client.Gauge({ name: 'aliyun_sas_poll_last_cycle_timestamp_seconds', help: 'Unix time the last poll cycle finished.', labelNames: acct(), registers });
    this.cycleCalls = new client.Gauge({ name: 'aliyun_sas_poll_cycle_api_calls', help: 'API calls made by the last poll cycle, retries included.', labelNames: acct(), registers });
    this.cycleTasks = new client.Gauge({ name: 'aliyun_sas_poll_cycle_tasks_polled', help: 'Tasks polled by the last cycle (terminal tasks not due for a re-check are left out).', labelNames: acct(), registers });
    this.tasks = new client.Gauge({ name: 'aliyun_sas_tasks', help: 'Scan tasks in the configuration whose series are served.', labelNames: acct(), registers });
    this.tasksAnswered = new client.Gauge({ name: 'aliyun_sas_tasks_answered', help: 'Scan tasks answered at least once (successfully or not) since they were configured: below aliyun_sas_tasks while a first cycle is under way.', labelNames: acct(), registers });
    this.accountInfo = this.accountLabel
      ? new client.Gauge({ name: 'aliyun_sas_account_info', help: 'A configured Alibaba Cloud account, with its API endpoint and region. Always 1.', labelNames: ['account', 'endpoint', 'region'] as const, registers })
      : undefined;
    this.reloadOk = new client.Gauge({ name: 'aliyun_sas_exporter_config_last_reload_successful', help: 'Whether the last configuration load succeeded.', registers });
    this.reloadTime = new client.Gauge({ name: 'aliyun_sas_exporter_config_last_reload_success_timestamp_seconds', help: 'Unix time of the last successful configuration load.', registers });
    this.limited = new client.Counter({ name: 'aliyun_sas_exporter_label_values_limited_total', help: 'Label values from the API replaced by "other" (past the bound on distinct values), cut to the maximum length (truncated), or left out (dropped: targets past the per-task limit), counted as they happen.', labelNames: ['label', 'reason'] as const, registers });
    for (const [label, reason] of LIMIT_SERIES) this.limited.inc({ label, reason }, 0);
    this.labelLimits = new LabelLimits((label, reason, n = 1) => {
      this.version++;
      this.limited.inc({ label, reason }, n);
    });
    this.authDenials = new client.Counter({ name: 'aliyun_sas_exporter_http_auth_denied_total', help: 'Requests denied by basic auth: missing, malformed or invalid credentials (401), or busy: too many password verifications waiting (429).', labelNames: ['reason'] as const, registers });
    for (const reason of AUTH_DENIAL_REASONS) this.authDenials.inc({ reason }, 0);
    this.connectionsShed = new client.Counter({ name: 'aliyun_sas_exporter_http_connections_shed_total', help: 'Connections closed by the connection limit: idle_evicted (an idle connection closed to admit a new one), refused (a new connection closed, every one being busy).', labelNames: ['reason'] as const, registers });
    for (const reason of ['idle_evicted', 'refused']) this.connectionsShed.inc({ reason }, 0);
    const build = new client.Gauge({ name: 'aliyun_sas_exporter_build_info', help: 'Build information of the exporter. Always 1.', labelNames: ['version', 'revision', 'nodejs_version'] as const, registers });
    build.set({ version: opts.version, revision: opts.revision, nodejs_version: process.version }, 1);
    // Label values known in advance start at 0, so the first increment is visible to rate().
    for (const code of SCRAPE_CODES) this.scrapes.set(code, 0);
    if (!this.accountLabel) this.zeroAccount('');
    this.clock = opts.now ?? (() => performance.now());
    if (opts.processMetrics !== false) {
      this.processRegistry = new client.Registry();
      client.collectDefaultMetrics({ register: this.processRegistry, eventLoopMonitoringPrecision: 10 });
      // Gauges named *_total break the naming rules (promtool flags them); the
      // same figures stay available without the suffix (nodejs_active_handles, ...).
      for (const name of GAUGES_NAMED_TOTAL) this.processRegistry.removeSingleMetric(name);
    }
  }

  /** The labels of one account's series: `{account}` or nothing. */
  private labels(account: string): Record<string, string> {
    return this.accountLabel ? { account } : {};
  }

  private zeroAccount(account: string): void {
    this.version++;
    const l = this.labels(account);
    for (const result of CYCLE_RESULTS) this.cycles.inc({ ...l, result }, 0);
    for (const reason of TARGET_INFO_PROBLEMS) this.targetInfoErrors.inc({ ...l, reason }, 0);
    this.apiRequests.inc({ ...l, action: ACTIONS.describeScanTaskProgress, code: 'OK' }, 0);
  }

  account(name: string): AccountObserver {
    let o = this.accountObservers.get(name);
    if (o) return o;
    const l = this.labels(name);
    // An account removed by a reload may still finish a call: what it reports then is dropped.
    const live = () => this.accountObservers.get(name) === o;
    const act: MutableActivity = { skippedTicks: 0, apiCalls: 0, apiErrors: 0, codes: new Map() };
    const observer: AccountObserver = {
      apiCall: (action, code, seconds) => {
        if (!live()) return;
        this.version++;
        // A code from the API is bounded before it becomes a label (or a key of the landing page's counts).
        code = this.labelLimits.code.apply(code);
        this.apiRequests.inc({ ...l, action, code });
        this.apiDuration.observe({ ...l, action }, seconds);
        act.apiCalls++;
        if (code !== 'OK') {
          act.apiErrors++;
          act.codes.set(code, (act.codes.get(code) ?? 0) + 1);
        }
      },
      targetInfoError: (reason) => {
        if (!live()) return;
        this.version++;
        this.targetInfoErrors.inc({ ...l, reason });
      },
      rateLimitChanged: (qps) => {
        if (!live()) return;
        this.version++;
        this.rateLimit.set(l, qps);
        act.rateLimitQps = qps;
      },
      cycleFinished: (stats) => {
        // Polls of tasks a reload added are counted in the API families only.
        if (stats.kind !== 'schedule' || !live()) return;
        this.version++;
        this.cycles.inc({ ...l, result: stats.result });
        this.cycleDuration.set(l, stats.durationMs / 1000);
        this.lastCycle.set(l, (stats.startedAt + stats.durationMs) / 1000);
        this.cycleCalls.set(l, stats.apiCalls);
        this.cycleTasks.set(l, stats.tasksPolled);
        act.lastCycle = { result: stats.result, finishedAt: stats.startedAt + stats.durationMs, durationMs: stats.durationMs, apiCalls: stats.apiCalls };
      },
      tickSkipped: () => {
        if (!live()) return;
        this.version++;
        this.cycles.inc({ ...l, result: 'skipped' });
        act.skippedTicks++;
      },
    };
    o = observer;
    this.accountObservers.set(name, o);
    this.activities.set(name, act);
    if (this.accountLabel) this.zeroAccount(name);
    return o;
  }

  /** The accounts polled from now on: their info series; every series of an account gone is dropped. */
  accountsChanged(accounts: readonly AccountIdentity[]): void {
    const now = new Set(accounts.map((a) => a.name));
    const gone = this.known.filter((a) => !now.has(a.name));
    this.known = accounts;
    this.version++;
    for (const a of accounts) {
      if (!a.latestScan?.enabled) continue;
      const l = this.labels(a.name);
      for (const action of [ACTIONS.getVirusScanLatestTaskStatistic, ACTIONS.listVirusScanTask]) this.apiRequests.inc({ ...l, action, code: 'OK' }, 0);
    }
    if (!this.accountLabel) return;
    this.accountInfo?.reset();
    for (const a of accounts) this.accountInfo?.set({ account: a.name, endpoint: a.endpoint ?? '', region: a.region ?? '' }, 1);
    for (const a of gone) {
      this.accountObservers.delete(a.name);
      this.activities.delete(a.name);
      void this.forget(a.name);
    }
  }

  /** Drops every series labelled `account="name"` from the account families. */
  private async forget(name: string): Promise<void> {
    const families = [this.apiRequests, this.apiDuration, this.rateLimit, this.targetInfoErrors, this.cycles, this.cycleDuration, this.lastCycle, this.cycleCalls, this.cycleTasks] as const;
    for (const f of families) {
      const seen = new Set<string>();
      for (const v of (await f.get()).values) {
        if (v.labels.account !== name) continue;
        const { le: _le, ...labels } = v.labels as Record<string, string | number>;
        const key = JSON.stringify(labels);
        if (seen.has(key)) continue;
        seen.add(key);
        (f as unknown as { remove(l: Record<string, string | number>): void }).remove(labels);
      }
    }
    this.version++;
  }

  /** Task counts of the snapshot now served (so a scrape never shows one configuration's count beside another's series). */
  tasksServed(snapshot: Snapshot): void {
    this.version++;
    const answered = (a: Snapshot['accounts'][number]) => a.tasks.reduce((n, t) => n + (t.lastPollOk === undefined ? 0 : 1), 0);
    if (!this.accountLabel) {
      this.tasks.set(snapshot.accounts.reduce((n, a) => n + a.tasks.length, 0));
      this.tasksAnswered.set(snapshot.accounts.reduce((n, a) => n + answered(a), 0));
      return;
    }
    this.tasks.reset();
    this.tasksAnswered.reset();
    for (const a of snapshot.accounts) {
      this.tasks.set({ account: a.name }, a.tasks.length);
      this.tasksAnswered.set({ account: a.name }, answered(a));
    }
  }

  configLoaded(ok: boolean, at: number): void {
    this.version++;
    this.reloadOk.set(ok ? 1 : 0);
    if (ok) this.reloadTime.set(at / 1000);
    this.config = ok ? { ok, lastSuccessAt: at } : { ...this.config, ok };
  }

  /** What the reload metrics say: whether the last load succeeded, and when one last did (Unix ms). */
  configState(): { readonly ok: boolean; readonly lastSuccessAt?: number } {
    return this.config;
  }

  /**
   * What the account's polling did, as plain figures (what the account
   * families hold, read without prom-client): the last cycle, API calls and
   * errors since the account was configured, the most frequent error codes.
   */
  activity(account: string): AccountActivity {
    const a = this.activities.get(account);
    if (!a) return { skippedTicks: 0, apiCalls: 0, apiErrors: 0, errorCodes: [] };
    const errorCodes = [...a.codes]
      .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
      .slice(0, ERROR_CODES_MAX)
      .map(([code, count]) => ({ code, count }));
    return {
      ...(a.lastCycle ? { lastCycle: a.lastCycle } : {}),
      skippedTicks: a.skippedTicks,
      apiCalls: a.apiCalls,
      apiErrors: a.apiErrors,
      errorCodes,
      ...(a.rateLimitQps !== undefined ? { rateLimitQps: a.rateLimitQps } : {}),
    };
  }

  authDenied(reason: AuthDenialReason): void {
    this.version++;
    this.authDenials.inc({ reason });
  }

  connectionShed(reason: ShedReason): void {
    this.version++;
    this.connectionsShed.inc({ reason });
  }

  scraped(code: number): void {
    const k = String(code);
    this.scrapes.set(k, (this.scrapes.get(k) ?? 0) + 1);
  }

  /** Every family name this class exposes (the process metrics aside). */
  familyNames(): string[] {
    return [...this.registry.getMetricsAsArray().map((m) => m.name), SCRAPES];
  }

  /** Text exposition of the self-metrics: the scrape counter, the exporter's own families, then the process metrics. */
  async render(): Promise<string> {
    const { volatile, stable = [] } = await this.renderParts();
    return [volatile, ...stable].join('\n');
  }

  /**
   * The same text in parts, for the exposition cache: the scrape counter,
   * which changes with every scrape; the exporter's own families, the very
   * same string until an event changes one of them; and the process
   * metrics, the very same string for up to PROCESS_METRICS_MAX_AGE_MS (so
   * the compressed forms of both can be reused).
   */
  renderParts(): SelfParts | Promise<SelfParts> {
    const volatile = this.scrapesText();
    const own = this.ownFamiliesText();
    const proc = this.processRegistry ? this.processMetricsText(this.processRegistry) : undefined;
    // Both texts at hand (between two events, within the process metrics' second): no promise at all.
    if (own.value !== undefined && (proc === undefined || proc.value !== undefined)) {
      return this.parts(volatile, proc === undefined ? [own.value] : [own.value, proc.value!]);
    }
    return Promise.all([own.text, proc?.text]).then(([o, p]) => this.parts(volatile, p === undefined ? [o] : [o, p]));
  }

  private parts(volatile: string, texts: readonly string[]): SelfParts {
    // The very same array while no text changed: the cache then reuses their encoded forms whole.
    const last = this.stableParts;
    if (last.length !== texts.length || texts.some((t, i) => t !== last[i])) this.stableParts = Object.freeze([...texts]);
    return { volatile, stable: this.stableParts };
  }

  /** The scrape counter as prom-client renders a counter: HELP, TYPE, one line per code. */
  private scrapesText(): string {
    let s = SCRAPES_HEADER;
    for (const [code, n] of this.scrapes) s += `${SCRAPES}{code="${code}"} ${n}\n`;
    return s;
  }

  /**
   * prom-client reads every value synchronously when metrics() is called:
   * an event after that bumps the version, and the next scrape renders again.
   */
  private ownFamiliesText(): Rendering {
    if (!this.ownText || this.ownText.version !== this.version) {
      const entry = rendering(this.registry.metrics(), () => {
        if (this.ownText === entry) this.ownText = undefined;
      });
      this.ownText = Object.assign(entry, { version: this.version });
    }
    return this.ownText;
  }

  private processMetricsText(registry: client.Registry): Rendering {
    const now = this.clock();
    if (!this.processText || now - this.processText.at >= PROCESS_METRICS_MAX_AGE_MS) {
      // A failed collection is not kept: the next scrape tries again.
      const entry = rendering(registry.metrics(), () => {
        if (this.processText === entry) this.processText = undefined;
      });
      this.processText = Object.assign(entry, { at: now });
    }
    return this.processText;
  }
}

/** A text being rendered: the promise, and the text itself once it is there. */
interface Rendering {
  readonly text: Promise<string>;
  value?: string;
}

function rendering(text: Promise<string>, onError: () => void): Rendering {
  const r: Rendering = { text };
  text.then(
    (v) => {
      r.value = v;
    },
    onError,
  );
  return r;
}
