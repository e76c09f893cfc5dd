/**
 * The Grafana dashboard for aliyun-sas-exporter, as typed TypeScript.
 *
 *   npm run build && node dist/deploy/grafana/dashboard.js           # rewrites aliyun-sas-exporter.json
 *   node dist/deploy/grafana/dashboard.js --check                    # exit 1 when the JSON is out of date
 *
 * Panels use the recording rules of deploy/prometheus/rules.yml
 * (aliyun_sas:...): load those rules in the Prometheus the dashboard reads.
 * test/deploy/dashboard.test.ts checks that the committed JSON is what this
 * renders and runs every panel query against a real Prometheus.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMain, repoRoot } from '../lib/repo.js';

export const DASHBOARD_FILE = 'deploy/grafana/aliyun-sas-exporter.json';
export const DASHBOARD_UID = 'aliyun-sas-exporter';
export const SCHEMA_VERSION = 39;

// ---------------------------------------------------------------------------
// The subset of Grafana's dashboard model used here.
// ---------------------------------------------------------------------------

export interface DataSourceRef {
  type: 'prometheus';
  uid: string;
}

export interface PrometheusTarget {
  refId: string;
  datasource: DataSourceRef;
  expr: string;
  legendFormat?: string;
  instant: boolean;
  range: boolean;
  format: 'time_series' | 'table';
  editorMode: 'code';
}

export interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

type Threshold = { color: string; value: number | null };

export interface ValueMapping {
  type: 'value';
  options: Record<string, { text: string; color?: string; index: number }>;
}

export interface FieldConfig {
  defaults: {
    unit?: string;
    decimals?: number;
    min?: number;
    noValue?: string;
    displayName?: string;
    color?: { mode: string; fixedColor?: string };
    thresholds?: { mode: 'absolute'; steps: Threshold[] };
    mappings?: ValueMapping[];
    custom?: Record<string, unknown>;
  };
  overrides: { matcher: { id: 'byName'; options: string }; properties: { id: string; value: unknown }[] }[];
}

export interface Transformation {
  id: string;
  options: Record<string, unknown>;
}

export interface RowPanel {
  type: 'row';
  id: number;
  title: string;
  collapsed: false;
  gridPos: GridPos;
  panels: [];
}

export interface DataPanel {
  type: 'stat' | 'table' | 'timeseries' | 'state-timeline';
  id: number;
  title: string;
  description: string;
  datasource: DataSourceRef;
  gridPos: GridPos;
  targets: PrometheusTarget[];
  fieldConfig: FieldConfig;
  options: Record<string, unknown>;
  transformations?: Transformation[];
}

export type Panel = RowPanel | DataPanel;

export interface TemplateVariable {
  type: 'datasource' | 'query';
  name: string;
  label: string;
  hide: 0;
  [key: string]: unknown;
}

export interface Dashboard {
  annotations: { list: Record<string, unknown>[] };
  description: string;
  editable: boolean;
  fiscalYearStartMonth: 0;
  graphTooltip: 1;
  id: null;
  links: Record<string, unknown>[];
  panels: Panel[];
  refresh: string;
  schemaVersion: number;
  tags: string[];
  templating: { list: TemplateVariable[] };
  time: { from: string; to: string };
  timepicker: Record<string, never>;
  timezone: 'browser';
  title: string;
  uid: string;
  version: 1;
  weekStart: '';
}

// ---------------------------------------------------------------------------
// Building blocks.
// ---------------------------------------------------------------------------

const DS: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** `{task_id=~"$task"}` and friends: every task-level query is filtered by the task variable. */
const TASK = 'task_id=~"$task"';

const STATUS_COLORS: Record<string, string> = {
  init: 'purple',
  processing: 'blue',
  success: 'green',
  failed: 'red',
  unknown: 'orange',
};
const STATUSES = ['init', 'processing', 'success', 'failed', 'unknown'] as const;

function target(refId: string, expr: string, opts: { legend?: string; instant?: boolean; table?: boolean } = {}): PrometheusTarget {
  const instant = opts.instant ?? false;
  return {
    refId,
    datasource: DS,
    editorMode: 'code',
    expr,
    ...(opts.legend !== undefined ? { legendFormat: opts.legend } : {}),
    instant,
    range: !instant,
    format: opts.table ? 'table' : 'time_series',
  };
}

function thresholds(...steps: [string, number | null][]): { mode: 'absolute'; steps: Threshold[] } {
  return { mode: 'absolute', steps: steps.map(([color, value]) => ({ color, value })) };
}

function mapping(entries: [string, string, string?][]): ValueMapping {
  const options: ValueMapping['options'] = {};
  entries.forEach(([value, text, color], index) => {
    options[value] = { text, index, ...(color ? { color } : {}) };
  });
  return { type: 'value', options };
}

/** Lays panels out left to right, wrapping at 24 columns; a row starts a new line. */
class Layout {
  private nextId = 1;
  private x = 0;
  private y = 0;
  private lineHeight = 0;
  readonly panels: Panel[] = [];

  row(title: string): void {
    this.newLine();
    this.panels.push({ type: 'row', id: this.nextId++, title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: this.y }, panels: [] });
    this.y += 1;
  }

  add(w: number, h: number, panel: Omit<DataPanel, 'id' | 'gridPos' | 'datasource'>): void {
    if (this.x + w > 24) this.newLine();
    this.panels.push({ ...panel, id: this.nextId++, datasource: DS, gridPos: { h, w, x: this.x, y: this.y } });
    this.x += w;
    this.lineHeight = Math.max(this.lineHeight, h);
  }

  private newLine(): void {
    this.y += this.lineHeight;
    this.x = 0;
    this.lineHeight = 0;
  }
}

function stat(
  title: string,
  description: string,
  expr: string,
  opts: { unit?: string; steps?: [string, number | null][]; mappings?: ValueMapping[]; colorMode?: 'value' | 'background' } = {},
): Omit<DataPanel, 'id' | 'gridPos' | 'datasource'> {
  return {
    type: 'stat',
    title,
    description,
    targets: [target('A', expr, { instant: true })],
    fieldConfig: {
      defaults: {
        unit: opts.unit ?? 'none',
        ...(opts.unit ? {} : { decimals: 0 }),
        color: { mode: 'thresholds' },
        thresholds: thresholds(...(opts.steps ?? [['text', null]])),
        ...(opts.mappings ? { mappings: opts.mappings } : {}),
        noValue: '-',
      },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: opts.colorMode ?? 'value',
      graphMode: 'none',
      justifyMode: 'center',
      textMode: 'value',
      orientation: 'auto',
      wideLayout: true,
      showPercentChange: false,
    },
  };
}

function timeseries(
  title: string,
  description: string,
  targets: PrometheusTarget[],
  unit: string,
): Omit<DataPanel, 'id' | 'gridPos' | 'datasource'> {
  return {
    type: 'timeseries',
    title,
    description,
    targets,
    fieldConfig: {
      defaults: {
        unit,
        min: 0,
        color: { mode: 'palette-classic' },
        custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

// ---------------------------------------------------------------------------
// The dashboard.
// ---------------------------------------------------------------------------

export function buildDashboard(): Dashboard {
  const l = new Layout();

  // --- Task status overview -------------------------------------------------
  l.row('Task status overview');
  l.add(
    4,
    4,
    stat('Configured tasks', 'Scan tasks in the exporter configuration (aliyun_sas_scan_task_info), within the task selection.', `count(max by (task_id) (aliyun_sas_scan_task_info{${TASK}})) or vector(0)`),
  );
  for (const s of STATUSES) {
    const alarming = s === 'failed' || s === 'unknown';
    l.add(
      alarming ? 3 : 2,
      4,
      stat(
        s[0]!.toUpperCase() + s.slice(1),
        `Tasks whose current status is ${s} (aliyun_sas_scan_task_status == 1).`,
        `count(max by (task_id) (aliyun_sas_scan_task_status{${TASK}, status="${s}"}) == 1) or vector(0)`,
        { steps: alarming ? [['green', null], [STATUS_COLORS[s]!, 1]] : [[STATUS_COLORS[s]!, null]], colorMode: alarming ? 'background' : 'value' },
      ),
    );
  }
  l.add(
    4,
    4,
    stat(
      'Not polled yet',
      'Configured tasks without a status: never polled successfully since the exporter started (a wrong task ID, or polls failing).',
      `count(max by (task_id) (aliyun_sas_scan_task_info{${TASK}}) unless on(task_id) max by (task_id) (aliyun_sas_scan_task_status)) or vector(0)`,
      { steps: [['green', null], ['orange', 1]] },
    ),
  );
  l.add(
    4,
    4,
    stat(
      'Polls failing',
      'Tasks whose last poll failed (aliyun_sas_scan_task_poll_success == 0): their status is stale.',
      `count(min by (task_id) (aliyun_sas_scan_task_poll_success{${TASK}}) == 0) or vector(0)`,
      { steps: [['green', null], ['orange', 1]] },
    ),
  );

  // --- Tasks -----------------------------------------------------------------
  l.row('Tasks');
  l.add(24, 9, {
    type: 'table',
    title: 'Scan tasks',
    description:
      'Every configured task: its name, current status, number of targets (servers and server groups), how long it has been in that status (since the exporter first saw it), and how long ago it was last polled successfully.',
    targets: [
      target('A', `max by (task_id, task_name) (aliyun_sas_scan_task_info{${TASK}})`, { instant: true, table: true }),
      target('B', `max by (task_id, status) (aliyun_sas_scan_task_status{${TASK}} == 1)`, { instant: true, table: true }),
      target('C', `sum by (task_id) (max by (task_id, target_type) (aliyun_sas_scan_task_targets{${TASK}}))`, { instant: true, table: true }),
      target('D', `min by (task_id) (aliyun_sas:scan_task_time_in_status_seconds{${TASK}})`, { instant: true, table: true }),
      target('E', `time() - max by (task_id) (aliyun_sas_scan_task_last_success_timestamp_seconds{${TASK}})`, { instant: true, table: true }),
      target('F', `min by (task_id) (aliyun_sas_scan_task_poll_success{${TASK}})`, { instant: true, table: true }),
    ],
    transformations: [
      { id: 'merge', options: {} },
      {
        id: 'organize',
        options: {
          excludeByName: { Time: true, 'Value #A': true, 'Value #B': true },
          indexByName: { task_id: 0, task_name: 1, status: 2, 'Value #C': 3, 'Value #D': 4, 'Value #E': 5, 'Value #F': 6 },
          renameByName: {
            task_id: 'Task ID',
            task_name: 'Name',
            status: 'Status',
            'Value #C': 'Targets',
            'Value #D': 'Time in status',
            'Value #E': 'Last successful poll (ago)',
            'Value #F': 'Last poll',
          },
        },
      },
    ],
    fieldConfig: {
      defaults: { custom: { align: 'auto', cellOptions: { type: 'auto' }, filterable: true } },
      overrides: [
        {
          matcher: { id: 'byName', options: 'Status' },
          properties: [
            { id: 'mappings', value: [mapping(STATUSES.map((s) => [s, s, STATUS_COLORS[s]]))] },
            { id: 'custom.cellOptions', value: { type: 'color-text' } },
          ],
        },
        { matcher: { id: 'byName', options: 'Time in status' }, properties: [{ id: 'unit', value: 's' }] },
        { matcher: { id: 'byName', options: 'Last successful poll (ago)' }, properties: [{ id: 'unit', value: 's' }] },
        {
          matcher: { id: 'byName', options: 'Last poll' },
          properties: [
            { id: 'mappings', value: [mapping([['1', 'ok', 'green'], ['0', 'failing', 'red']])] },
            { id: 'custom.cellOptions', value: { type: 'color-text' } },
          ],
        },
      ],
    },
    options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' }, sortBy: [{ displayName: 'Status', desc: false }] },
  });
  l.add(24, 8, {
    type: 'table',
    title: 'Targets of failed tasks',
    description: 'Servers (uuid) and server groups (groupId) of the tasks whose status is failed: these were not fully scanned. Each raises AliyunSasScanTaskFailed.',
    targets: [
      target(
        'A',
        `max by (task_id, task_name, target_type, target, target_name) (aliyun_sas:scan_task_target_status{${TASK}, status="failed"})`,
        { instant: true, table: true },
      ),
    ],
    transformations: [
      {
        id: 'organize',
        options: {
          excludeByName: { Time: true, Value: true },
          indexByName: { task_id: 0, task_name: 1, target_type: 2, target: 3, target_name: 4 },
          renameByName: { task_id: 'Task ID', task_name: 'Task name', target_type: 'Type', target: 'Target', target_name: 'Target name' },
        },
      },
    ],
    fieldConfig: {
      defaults: { custom: { align: 'auto', cellOptions: { type: 'auto' }, filterable: true } },
      overrides: [
        {
          matcher: { id: 'byName', options: 'Type' },
          properties: [{ id: 'mappings', value: [mapping([['uuid', 'server'], ['groupId', 'server group']])] }],
        },
      ],
    },
    options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
  });

  // --- Status over time --------------------------------------------------------
  l.row('Status over time');
  const code = (s: string, n: number) => `aliyun_sas:scan_task_current_status{${TASK}, status="${s}"} * ${n}`;
  l.add(24, 9, {
    type: 'state-timeline',
    title: 'Task status',
    description: 'Status of each task over time. Gaps: the task was not configured, not polled successfully yet, or the exporter was down.',
    targets: [
      target('A', `max by (task_id, task_name) (\n  ${STATUSES.map((s, i) => code(s, i + 1)).join('\n  or ')}\n)`, { legend: '{{task_id}} {{task_name}}' }),
    ],
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        thresholds: thresholds(['text', null]),
        mappings: [mapping(STATUSES.map((s, i) => [String(i + 1), s, STATUS_COLORS[s]]))],
        custom: { fillOpacity: 80, lineWidth: 0 },
      },
      overrides: [],
    },
    options: {
      mergeValues: true,
      showValue: 'auto',
      alignValue: 'left',
      rowHeight: 0.9,
      legend: { displayMode: 'list', placement: 'bottom', showLegend: false },
      tooltip: { mode: 'single', sort: 'none' },
    },
  });

  // --- Exporter health ---------------------------------------------------------
  l.row('Exporter health');
  l.add(
    6,
    4,
    stat('Exporter up', 'Prometheus targets of job aliyun-sas-exporter that answered the last scrape, out of all of them.', 'sum(up{job="aliyun-sas-exporter"}) or vector(0)', {
      steps: [['red', null], ['green', 1]],
      colorMode: 'background',
    }),
  );
  l.add(
    6,
    4,
    stat('Last poll cycle', 'Time since the last poll cycle finished (aliyun_sas_poll_last_cycle_timestamp_seconds). The default schedule runs one every 30 s.', 'time() - max(aliyun_sas_poll_last_cycle_timestamp_seconds > 0)', {
      unit: 's',
      steps: [['green', null], ['orange', 90], ['red', 900]],
    }),
  );
  l.add(
    6,
    4,
    stat('Configuration', 'Whether the last configuration (re)load succeeded (aliyun_sas_exporter_config_last_reload_successful).', 'min(aliyun_sas_exporter_config_last_reload_successful)', {
      mappings: [mapping([['1', 'loaded', 'green'], ['0', 'reload failed', 'red']])],
      steps: [['red', null], ['green', 1]],
    }),
  );
  l.add(
    6,
    4,
    stat('API rate limit', 'Client-side request rate currently allowed (aliyun_sas_api_rate_limit_qps); lowered while the API throttles.', 'min(aliyun_sas_api_rate_limit_qps)', {
      unit: 'reqps',
    }),
  );
  l.add(
    8,
    8,
    timeseries('Poll cycle duration', 'Duration of the last finished poll cycle per exporter. Close to the schedule interval means cycles start being skipped.', [target('A', 'max by (instance) (aliyun_sas_poll_cycle_duration_seconds)', { legend: '{{instance}}' })], 's'),
  );
  l.add(
    8,
    8,
    timeseries(
      'Poll cycles by result',
      'Finished poll cycles per minute: success (every task answered), partial, failure (no task answered), and skipped ticks.',
      [target('A', 'sum by (result) (rate(aliyun_sas_poll_cycles_total[$__rate_interval])) * 60', { legend: '{{result}}' })],
      'suffix: /min',
    ),
  );
  l.add(
    8,
    8,
    timeseries('Last cycle age', 'Seconds since each exporter finished a poll cycle.', [target('A', 'time() - max by (instance) (aliyun_sas_poll_last_cycle_timestamp_seconds > 0)', { legend: '{{instance}}' })], 's'),
  );
  l.add(
    12,
    8,
    timeseries(
      'API requests by code',
      'Security Center API calls per second by outcome: OK, an API error code (NoPermission, Throttling.*, ...) or a transport class (timeout, network, ...). Retries count.',
      [target('A', 'sum by (code) (rate(aliyun_sas_api_requests_total[$__rate_interval]))', { legend: '{{code}}' })],
      'reqps',
    ),
  );
  l.add(
    12,
    8,
    timeseries(
      'API latency',
      'Latency of Security Center API calls (failures included), from the aliyun_sas_api_request_duration_seconds histogram.',
      ['0.5', '0.9', '0.99'].map((q, i) =>
        target(String.fromCharCode(65 + i), `histogram_quantile(${q}, sum by (le) (rate(aliyun_sas_api_request_duration_seconds_bucket[$__rate_interval])))`, {
          legend: `p${Math.round(Number(q) * 100)}`,
        }),
      ),
      's',
    ),
  );

  return {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description: 'Alibaba Cloud Security Center virus scan tasks, from aliyun-sas-exporter. Needs the recording rules of deploy/prometheus/rules.yml.',
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [],
    panels: l.panels,
    refresh: '30s',
    schemaVersion: SCHEMA_VERSION,
    tags: ['aliyun', 'security-center', 'aliyun-sas-exporter'],
    templating: {
      list: [
        {
          type: 'datasource',
          name: 'datasource',
          label: 'Data source',
          query: 'prometheus',
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 1,
          regex: '',
          skipUrlSync: false,
        },
        {
          type: 'query',
          name: 'task',
          label: 'Task',
          datasource: DS,
          definition: 'label_values(aliyun_sas_scan_task_info, task_id)',
          query: { qryType: 1, query: 'label_values(aliyun_sas_scan_task_info, task_id)', refId: 'PrometheusVariableQueryEditor-VariableQuery' },
          current: { selected: true, text: ['All'], value: ['$__all'] },
          hide: 0,
          includeAll: true,
          allValue: '.*',
          multi: true,
          options: [],
          refresh: 2,
          regex: '',
          skipUrlSync: false,
          sort: 3,
        },
      ],
    },
    time: { from: 'now-24h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title: 'Alibaba Cloud Security Center scan tasks',
    uid: DASHBOARD_UID,
    version: 1,
    weekStart: '',
  };
}

/** The JSON file's content: two-space indentation and a final newline. */
export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

/** Every query of every panel, in panel order. */
export function panelQueries(dashboard: Dashboard = buildDashboard()): { panel: string; refId: string; expr: string }[] {
  return dashboard.panels.flatMap((p) => (p.type === 'row' ? [] : p.targets.map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr }))));
}

/** Values for Grafana's built-in interval variables when a query runs outside Grafana. */
export const BUILTIN_VARIABLES: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '30s',
  __range: '1h',
};

/**
 * Replaces `$name`, `${name}` and `${name:format}` with `vars[name]` (the
 * built-ins default to BUILTIN_VARIABLES). An unknown variable throws, so a
 * query cannot reach Prometheus with a `$` left in it. `${datasource}` in a
 * datasource reference is not part of a query and never seen here.
 */
export function resolveVariables(expr: string, vars: Record<string, string>): string {
  const all: Record<string, string> = { ...BUILTIN_VARIABLES, ...vars };
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const value = all[name];
    if (value === undefined) throw new Error(`unknown variable ${whole} in ${expr}`);
    return value;
  });
}

/** Writes (or, with check, compares) the JSON file; true when it changed or would change. */
export function generate(root: string, check = false): boolean {
  const file = path.join(root, DASHBOARD_FILE);
  const rendered = renderDashboard();
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === rendered) return false;
  if (!check) writeFileSync(file, rendered);
  return true;
}

if (isMain(import.meta.url)) {
  const check = process.argv.includes('--check');
  const changed = generate(repoRoot(import.meta.url), check);
  if (check && changed) {
    console.error(`out of date: ${DASHBOARD_FILE} (run without --check to regenerate)`);
    process.exit(1);
  }
  if (changed) console.log(`wrote ${DASHBOARD_FILE}`);
}
