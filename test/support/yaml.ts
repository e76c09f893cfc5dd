/**
 * The one builder of exporter configurations for tests: a small, fast
 * configuration aimed at the simulator over plain HTTP, with task IDs
 * written bare, as users write them.
 */
import { parse, stringify } from 'yaml';

/** 6-field cron: every second. */
export const EVERY_SECOND = '*/1 * * * * *';
/** Midnight of January 1st: in practice only the first cycle (run at start) and reload-triggered polls ever happen. */
export const NEVER = '0 0 1 1 *';

export type TaskEntry = string | { id: string; name: string };

export interface ExporterYamlOptions {
  endpoint: string;
  tasks: readonly TaskEntry[];
  protocol?: 'http' | 'https';
  schedule?: string;
  requestTimeout?: string;
  concurrency?: number;
  retry?: { maxAttempts?: number; initialBackoff?: string; maxBackoff?: string; maxRetriesPerCycle?: number };
  /** Default 0s: terminal tasks are polled every cycle (faults injected later reach them). */
  terminalRecheck?: string;
  /** Default a ceiling high enough never to pace a test. */
  qps?: number;
  /** Further top-level YAML; its keys replace the ones above. */
  extra?: string;
}

export function exporterYaml(o: ExporterYamlOptions): string {
  const retry = { maxAttempts: 3, initialBackoff: '50ms', maxBackoff: '100ms', ...o.retry };
  const settings: Record<string, string> = {
    endpoint: JSON.stringify(o.endpoint),
    protocol: o.protocol ?? 'http',
    schedule: JSON.stringify(o.schedule ?? EVERY_SECOND),
    request_timeout: o.requestTimeout ?? '500ms',
    concurrency: String(o.concurrency ?? 4),
    retry: `{ max_attempts: ${retry.maxAttempts}, initial_backoff: ${retry.initialBackoff}, max_backoff: ${retry.maxBackoff}${retry.maxRetriesPerCycle === undefined ? '' : `, max_retries_per_cycle: ${retry.maxRetriesPerCycle}`} }`,
    rate_limit: `{ qps: ${o.qps ?? 200}, burst: ${o.qps ?? 200} }`,
    terminal_recheck_interval: o.terminalRecheck ?? '0s',
  };
  const extra = o.extra ? (parse(o.extra) as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries(extra)) settings[k] = stringify(v, { collectionStyle: 'flow' }).trim();
  const tasks = o.tasks.map((t) => (typeof t === 'string' ? `  - ${t}` : `  - { id: ${t.id}, name: ${JSON.stringify(t.name)} }`));
  return [...Object.entries(settings).map(([k, v]) => `${k}: ${v}`), 'tasks:', ...tasks, ''].join('\n');
}
