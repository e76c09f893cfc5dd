/**
 * The exporter's own metrics (API calls, cycles, config, HTTP, process),
 * kept in a prom-client registry and rendered per scrape: they are few.
 * Implements the poller's observer, so the poller needs no metrics library.
 *
 * prom-client's default process metrics cost ~1 ms to collect (they read
 * /proc, walk handles and heap spaces), ten times the exporter's own
 * families, so they live in a registry of their own whose text is reused for
 * up to PROCESS_METRICS_MAX_AGE_MS: a scrape burst collects them once, while
 * the exporter's counters are always rendered fresh.
 */
import client from 'prom-client';
import type { CycleStats, PollObserver } from '../poller/observer.js';

/** How long the default process metrics' text is reused; well under any scrape interval. */
export const PROCESS_METRICS_MAX_AGE_MS = 1000;

const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Self-metrics text split by how often it changes; the whole text is the parts joined by blank lines. */
export interface SelfParts {
  /** Changes from one scrape to the next (counters of scrapes, API calls...). */
  readonly volatile: string;
  /** Change rarely, each the same string object while unchanged: sent after `volatile`, in order. */
  readonly stable?: readonly string[];
}

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
  private processText: { at: number; text: Promise<string> } | undefined;
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
  readonly tasks;
  private readonly reloadOk;
  private readonly reloadTime;
  private readonly scrapes;

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
    this.tasks = new client.Gauge({ name: 'aliyun_sas_tasks', help: 'Scan tasks in the configuration.', registers });
    this.reloadOk = new client.Gauge({ name: 'aliyun_sas_exporter_config_last_reload_successful', help: 'Whether the last configuration load succeeded.', registers });
    this.reloadTime = new client.Gauge({ name: 'aliyun_sas_exporter_config_last_reload_success_timestamp_seconds', help: 'Unix time of the last successful configuration load.', registers });
    this.scrapes = new client.Counter({ name: 'aliyun_sas_exporter_scrapes_total', help: 'Responses of the telemetry path by HTTP status code.', labelNames: ['code'] as const, registers });
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
  }

  targetInfoError(reason: string): void {
    this.targetInfoErrors.inc({ reason });
  }

  cycleFinished(stats: CycleStats): void {
    this.cycles.inc({ result: stats.result });
    this.cycleDuration.set(stats.durationMs / 1000);
    this.lastCycle.set((stats.startedAt + stats.durationMs) / 1000);
    this.cycleCalls.set(stats.apiCalls);
    this.cycleTasks.set(stats.tasksPolled);
  }

  tickSkipped(): void {
    this.cycles.inc({ result: 'skipped' });
  }

  rateLimitChanged(qps: number): void {
    this.rateLimit.set(qps);
  }

  configLoaded(ok: boolean, at: number, taskCount?: number): void {
    this.reloadOk.set(ok ? 1 : 0);
    if (ok) this.reloadTime.set(at / 1000);
    if (ok && taskCount !== undefined) this.tasks.set(taskCount);
  }

  scraped(code: number): void {
    this.scrapes.inc({ code: String(code) });
  }

  /** Text exposition of the self-metrics: the exporter's own families, then the process metrics. */
  async render(): Promise<string> {
    const { volatile, stable = [] } = await this.renderParts();
    return [volatile, ...stable].join('\n');
  }

  /**
   * The same text in two parts, for the exposition cache: the exporter's own
   * families, which change with every scrape, and the process metrics, the
   * very same string for up to PROCESS_METRICS_MAX_AGE_MS (so their
   * compressed form can be reused). render() is volatile + "\n" + stable.
   */
  async renderParts(): Promise<SelfParts> {
    const volatile = await this.registry.metrics();
    if (!this.processRegistry) return { volatile };
    return { volatile, stable: [await this.processMetricsText(this.processRegistry)] };
  }

  private processMetricsText(registry: client.Registry): Promise<string> {
    const now = this.clock();
    if (!this.processText || now - this.processText.at >= PROCESS_METRICS_MAX_AGE_MS) {
      const text = registry.metrics();
      this.processText = { at: now, text };
      // A failed collection is not kept: the next scrape tries again.
      text.catch(() => {
        if (this.processText?.text === text) this.processText = undefined;
      });
    }
    return this.processText.text;
  }
}
