/**
 * The exporter's own metrics (API calls, cycles, config, HTTP, process),
 * kept in a prom-client registry. Implements the poller's observer, so the
 * poller needs no metrics library.
 *
 * Nothing is rendered per scrape that did not change since the last one:
 * - the scrape counter, the one figure that moves at every scrape, is kept
 *   out of prom-client and rendered by hand (a few lines);
 * - the exporter's own families are rendered by prom-client only after an
 *   event changed one of them (every change goes through this class), so
 *   a scrape right after an event sees it, and a scrape burst between two
 *   events reuses the same text (~60 us of registry.metrics() per scrape
 *   before, a third of a small gzip scrape's CPU);
 * - prom-client's default process metrics cost ~1 ms to collect (they read
 *   /proc, walk handles and heap spaces), so their text is reused for up to
 *   PROCESS_METRICS_MAX_AGE_MS.
 */
import client from 'prom-client';
import type { CycleStats, PollObserver } from '../poller/observer.js';

/** How long the default process metrics' text is reused; well under any scrape interval. */
export const PROCESS_METRICS_MAX_AGE_MS = 1000;

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
  /** Monotonic ms, for the process metrics' reuse window (tests). */
  now?: () => number;
}

export class SelfMetrics implements PollObserver {
  /** The exporter's own families, rendered at every scrape. */
  readonly registry = new client.Registry();
  /** prom-client's default process metrics, when enabled; rendered at most once per PROCESS_METRICS_MAX_AGE_MS. */
  private readonly processRegistry: client.Registry | undefined;
  private processText: (Rendering & { at: number }) | undefined;
  private readonly clock: () => number;
  private readonly apiRequests;
  private readonly apiDuration;
  private readonly rateLimit;
  private readonly targetInfoErrors;
  private readonly cycles;
  private readonly cycleDuration;
  private readonly lastCycle;
  private readonly cycleCalls;
  private readonly cycleTasks;
  /** Scan tasks in the configuration, as served (set when a snapshot is published). */
  readonly tasks: { set(value: number): void };
  private readonly reloadOk;
  private readonly reloadTime;
  /** Responses by status code, in first-seen order (as prom-client lists label sets). */
  private readonly scrapes = new Map<string, number>();
  /** Bumped by every change to the registry's values; the rendered text is kept while it stays. */
  private version = 0;
  private ownText: (Rendering & { version: number }) | undefined;
  private stableParts: readonly string[] = [];

  constructor(opts: SelfMetricsOptions) {
    const registers = [this.registry];
    this.apiRequests = new client.Counter({ name: 'aliyun_sas_api_requests_total', help: 'Security Center API calls by action and outcome: OK, the API error code, or timeout/network/bad_response/credentials.', labelNames: ['action', 'code'] as const, registers });
    this.apiDuration = new client.Histogram({ name: 'aliyun_sas_api_request_duration_seconds', help: 'Duration of Security Center API calls, failures included.', labelNames: ['action'] as const, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.rateLimit = new client.Gauge({ name: 'aliyun_sas_api_rate_limit_qps', help: 'Client-side API request rate currently allowed; lowered while the API throttles.', registers });
    this.targetInfoErrors = new client.Counter({ name: 'aliyun_sas_target_info_errors_total', help: 'Answers whose TargetInfo was missing, empty or malformed (the status was kept).', labelNames: ['reason'] as const, registers });
    this.cycles = new client.Counter({ name: 'aliyun_sas_poll_cycles_total', help: 'Poll cycles by result: success, partial, failure; skipped counts ticks dropped because a cycle still ran.', labelNames: ['result'] as const, registers });
    this.cycleDuration = new client.Gauge({ name: 'aliyun_sas_poll_cycle_duration_seconds', help: 'Duration of the last finished poll cycle.', registers });
    this.lastCycle = new client.Gauge({ name: 'aliyun_sas_poll_last_cycle_timestamp_seconds', help: 'Unix time the last poll cycle finished.', registers });
    this.cycleCalls = new client.Gauge({ name: 'aliyun_sas_poll_cycle_api_calls', help: 'API calls made by the last poll cycle, retries included.', registers });
    this.cycleTasks = new client.Gauge({ name: 'aliyun_sas_poll_cycle_tasks_polled', help: 'Tasks polled by the last cycle (terminal tasks not due for a re-check are left out).', registers });
    const tasks = new client.Gauge({ name: 'aliyun_sas_tasks', help: 'Scan tasks in the configuration.', registers });
    this.tasks = {
      set: (value) => {
        tasks.set(value);
        this.version++;
      },
    };
    this.reloadOk = new client.Gauge({ name: 'aliyun_sas_exporter_config_last_reload_successful', help: 'Whether the last configuration load succeeded.', registers });
    this.reloadTime = new client.Gauge({ name: 'aliyun_sas_exporter_config_last_reload_success_timestamp_seconds', help: 'Unix time of the last successful configuration load.', registers });
    const build = new client.Gauge({ name: 'aliyun_sas_exporter_build_info', help: 'Build information of the exporter. Always 1.', labelNames: ['version', 'revision', 'nodejs_version'] as const, registers });
    build.set({ version: opts.version, revision: opts.revision, nodejs_version: process.version }, 1);
    for (const result of ['success', 'partial', 'failure', 'skipped']) this.cycles.inc({ result }, 0);
    this.clock = opts.now ?? (() => performance.now());
    if (opts.processMetrics !== false) {
      this.processRegistry = new client.Registry();
      client.collectDefaultMetrics({ register: this.processRegistry, eventLoopMonitoringPrecision: 10 });
      // Gauges named *_total break the naming rules (promtool flags them); the
      // same figures stay available without the suffix (nodejs_active_handles, ...).
      for (const name of GAUGES_NAMED_TOTAL) this.processRegistry.removeSingleMetric(name);
    }
  }

  apiCall(action: string, code: string, durationSeconds: number): void {
    this.apiRequests.inc({ action, code });
    this.apiDuration.observe({ action }, durationSeconds);
    this.version++;
  }

  targetInfoError(reason: string): void {
    this.targetInfoErrors.inc({ reason });
    this.version++;
  }

  cycleFinished(stats: CycleStats): void {
    this.cycles.inc({ result: stats.result });
    this.cycleDuration.set(stats.durationMs / 1000);
    this.lastCycle.set((stats.startedAt + stats.durationMs) / 1000);
    this.cycleCalls.set(stats.apiCalls);
    this.cycleTasks.set(stats.tasksPolled);
    this.version++;
  }

  tickSkipped(): void {
    this.cycles.inc({ result: 'skipped' });
    this.version++;
  }

  rateLimitChanged(qps: number): void {
    this.rateLimit.set(qps);
    this.version++;
  }

  configLoaded(ok: boolean, at: number, taskCount?: number): void {
    this.reloadOk.set(ok ? 1 : 0);
    if (ok) this.reloadTime.set(at / 1000);
    if (ok && taskCount !== undefined) this.tasks.set(taskCount);
    this.version++;
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
