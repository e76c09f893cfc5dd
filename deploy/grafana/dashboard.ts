/**
 * The Grafana dashboard for aliyun-sas-exporter, built with Grafana's own
 * typed builders (@grafana/grafana-foundation-sdk, classic dashboard model:
 * the JSON that Dashboards > New > Import takes).
 *
 *   npm run build && node dist/deploy/grafana/dashboard.js           # rewrites aliyun-sas-exporter.json
 *   node dist/deploy/grafana/dashboard.js --check                    # exit 1 when the JSON is out of date
 *
 * Panels use the recording rules of deploy/prometheus/rules.yml
 * (aliyun_sas:...): load those rules in the Prometheus the dashboard reads.
 * test/deploy/dashboard.test.ts checks that the committed JSON is what this
 * renders and runs every panel query against a real Prometheus.
 *
 * Extending it is declarative:
 * - a selector variable (one more label to filter by): one entry in
 *   FILTER_VARIABLES. It becomes a multi-select variable (its values narrowed
 *   by the variables before it) and a matcher in every query written with
 *   `{${FILTER}}`;
 * - a row: one entry in ROWS, a title and its panels, each a width, a height
 *   and a builder from the helpers below (stat, table, timeseries, ...).
 *   Rows are laid out top to bottom, panels left to right, wrapping at 24
 *   columns; ids are numbered in order.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { isMain, repoRoot } from '../lib/repo.js';

export const DASHBOARD_FILE = 'deploy/grafana/aliyun-sas-exporter.json';
export const DASHBOARD_UID = 'aliyun-sas-exporter';
/** The Prometheus job the exporter is scraped as (the alerts use the same). */
export const JOB = 'aliyun-sas-exporter';

export type Dashboard = dashboard.Dashboard;
export type DataPanel = dashboard.Panel;

// ---------------------------------------------------------------------------
// Variables.
// ---------------------------------------------------------------------------

/** Every panel and query variable reads the Prometheus picked in the `datasource` variable. */
export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

export interface FilterVariable {
  /** Variable name: `$name` in queries. */
  name: string;
  /** Shown in Grafana's variable bar. */
  label: string;
  /** The series label it matches (`label=~"$name"`). */
  matcher: string;
  /** The family whose `matcher` label values are offered. */
  valuesFrom: string;
  /** How the values are sorted; default numerical (task IDs). */
  sort?: 'numerical' | 'alphabetical';
}

/**
 * Multi-select variables that filter every task-level query, in the order
 * Grafana shows them. A task is (account, task_id): the account comes first
 * and narrows the task IDs offered.
 *
 * The account variable works in the single-account form too, where no series
 * has an `account` label (and aliyun_sas_account_info does not exist): it
 * offers no value but All, whose value `.*` matches the empty string, which
 * is what PromQL compares a missing label as; so `account=~".*"` keeps every
 * series, with the label or without.
 */
export const FILTER_VARIABLES: readonly FilterVariable[] = [
  { name: 'account', label: 'Account', matcher: 'account', valuesFrom: 'aliyun_sas_account_info', sort: 'alphabetical' },
  { name: 'task', label: 'Task', matcher: 'task_id', valuesFrom: 'aliyun_sas_scan_task_info' },
];

/** The matchers of the variables, e.g. `account=~"$account", task_id=~"$task"`: write task-level selectors as `{${FILTER}}`. */
export const FILTER = matchers(FILTER_VARIABLES);

/** The account variable's matcher alone, for the per-account self-metrics (API calls, rate limit, ...): `{${ACCOUNT_FILTER}}`. */
export const ACCOUNT_FILTER = matchers(FILTER_VARIABLES.filter((v) => v.matcher === 'account'));

function matchers(vars: readonly FilterVariable[]): string {
  return vars.map((v) => `${v.matcher}=~"$${v.name}"`).join(', ');
}

/** The variable bar: the datasource, then one multi-select per filter variable. */
export function variables(filters: readonly FilterVariable[] = FILTER_VARIABLES): cog.Builder<dashboard.VariableModel>[] {
  const out: cog.Builder<dashboard.VariableModel>[] = [new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus')];
  filters.forEach((v, i) => {
    // Each variable's values are narrowed by the variables declared before it.
    const before = matchers(filters.slice(0, i));
    const query = `label_values(${v.valuesFrom}${before ? `{${before}}` : ''}, ${v.matcher})`;
    out.push(
      new dashboard.QueryVariableBuilder(v.name)
        .label(v.label)
        .datasource(DATASOURCE)
        .definition(query)
        .query({ qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' })
        .current({ selected: true, text: ['All'], value: ['$__all'] })
        .multi(true)
        .includeAll(true)
        .allValue('.*')
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .sort(v.sort === 'alphabetical' ? dashboard.VariableSort.AlphabeticalAsc : dashboard.VariableSort.NumericalAsc),
    );
  });
  return out;
}

// ---------------------------------------------------------------------------
// Building blocks.
// ---------------------------------------------------------------------------

const STATUSES = ['init', 'processing', 'success', 'failed', 'unknown'] as const;
const STATUS_COLORS: Record<(typeof STATUSES)[number], string> = {
  init: 'purple',
  processing: 'blue',
  success: 'green',
  failed: 'red',
  unknown: 'orange',
};

interface QueryOptions {
  legend?: string;
  /** One value per series at the dashboard's end time (stat, table) instead of a range. */
  instant?: boolean;
  /** Table format: one row per series, labels as columns. */
  table?: boolean;
}

/** A PromQL query against the datasource variable; refIds are given by the panel helpers. */
function query(refId: string, expr: string, opts: QueryOptions = {}): prometheus.DataqueryBuilder {
  const q = new prometheus.DataqueryBuilder()
    .refId(refId)
    .datasource(DATASOURCE)
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(expr)
    .format(opts.table ? prometheus.PromQueryFormat.Table : prometheus.PromQueryFormat.TimeSeries);
  if (opts.legend !== undefined) q.legendFormat(opts.legend);
  return opts.instant ? q.instant() : q.range();
}

/** Queries lettered A, B, C, ... in order. */
function queries(...items: [expr: string, opts?: QueryOptions][]): prometheus.DataqueryBuilder[] {
  return items.map(([expr, opts], i) => query(String.fromCharCode(65 + i), expr, opts));
}

function thresholds(...steps: [color: string, value: number | null][]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps.map(([color, value]) => ({ color, value })));
}

/** Value -> text (and colour) mapping; entries keep their order as `index`. */
function valueMap(entries: [value: string, text: string, color?: string][]): dashboard.ValueMap {
  const options: Record<string, dashboard.ValueMappingResult> = {};
  entries.forEach(([value, text, color], index) => {
    options[value] = { text, index, ...(color ? { color } : {}) };
  });
  return { type: dashboard.MappingType.ValueToText, options };
}

const STATUS_MAP = valueMap(STATUSES.map((s) => [s, s, STATUS_COLORS[s]]));

/** The latest virus scan's status, a machine's part of it, and the highest risk of its alerts (src/model/vocabulary.ts). */
const SCAN_STATUS_MAP = valueMap([
  ['pending', 'pending', 'purple'],
  ['running', 'running', 'blue'],
  ['complete', 'complete', 'green'],
  ['unknown', 'unknown', 'orange'],
]);
const MACHINE_STATUS_MAP = valueMap([
  ['failed', 'failed', 'red'],
  ['timeout', 'timed out', 'orange'],
]);
const RISK_MAP = valueMap([
  ['high', 'high', 'red'],
  ['medium', 'medium', 'orange'],
  ['low', 'low', 'yellow'],
  ['none', 'none', 'green'],
  ['unknown', 'unknown', 'purple'],
]);
/** AliyunSasVirusScanStale's threshold (deploy/prometheus/rules.yml): 8 days, in seconds. */
const STALE_SCAN_S = 8 * 86_400;
/** AliyunSasVirusScanRunningTooLong's: 24 hours. */
const LONG_SCAN_S = 24 * 3_600;
const COLOR_TEXT: common.TableColorTextCellOptions = { type: common.TableCellDisplayMode.ColorText };

interface StatOptions {
  unit?: string;
  steps?: [string, number | null][];
  mappings?: dashboard.ValueMapping[];
  colorMode?: common.BigValueColorMode;
}

/** A single number from an instant query. */
function statPanel(title: string, description: string, expr: string, opts: StatOptions = {}): stat.PanelBuilder {
  const p = new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .withTarget(query('A', expr, { instant: true }))
    .unit(opts.unit ?? 'none')
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .thresholds(thresholds(...(opts.steps ?? [['text', null]])))
    .noValue('-')
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('').values(false))
    .colorMode(opts.colorMode ?? common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.None)
    .justifyMode(common.BigValueJustifyMode.Center)
    .textMode(common.BigValueTextMode.Value)
    .orientation(common.VizOrientation.Auto)
    .wideLayout(true)
    .showPercentChange(false);
  if (!opts.unit) p.decimals(0);
  if (opts.mappings) p.mappings(opts.mappings);
  return p;
}

/** A count of tasks in one status: in its colour, or, when `alarming`, green at 0 and a coloured background from 1. */
function statusCountPanel(title: string, description: string, expr: string, color: string, alarming: boolean): stat.PanelBuilder {
  return statPanel(title, description, expr, {
    steps: alarming ? [['green', null], [color, 1]] : [[color, null]],
    colorMode: alarming ? common.BigValueColorMode.Background : common.BigValueColorMode.Value,
  });
}

/** A filterable table of instant queries merged on their common labels. */
function tablePanel(title: string, description: string, targets: prometheus.DataqueryBuilder[], transformations: dashboard.DataTransformerConfig[]): table.PanelBuilder {
  return new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .targets(targets)
    .transformations(transformations)
    .align(common.FieldTextAlignment.Auto)
    .cellOptions({ type: common.TableCellDisplayMode.Auto })
    .filterable(true)
    .showHeader(true)
    .cellHeight(common.TableCellHeight.Sm)
    .footer(new common.TableFooterOptionsBuilder().show(false).reducer(['sum']).fields([]));
}

/** Grafana's `organize` transformation: drop, order and rename columns. */
function organize(exclude: string[], order: string[], rename: Record<string, string>): dashboard.DataTransformerConfig {
  return {
    id: 'organize',
    options: {
      excludeByName: Object.fromEntries(exclude.map((c) => [c, true])),
      indexByName: Object.fromEntries(order.map((c, i) => [c, i])),
      renameByName: rename,
    },
  };
}

function timeseriesPanel(title: string, description: string, targets: prometheus.DataqueryBuilder[], unit: string): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .targets(targets)
    .unit(unit)
    .min(0)
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.PaletteClassic))
    .drawStyle(common.GraphDrawStyle.Line)
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).showLegend(true))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
}

// ---------------------------------------------------------------------------
// The rows and their panels.
// ---------------------------------------------------------------------------

/** What every panel builder of the SDK offers (stat, table, timeseries, state timeline, ...). */
export interface PanelBuilder extends cog.Builder<dashboard.Panel> {
  id(id: number): this;
  gridPos(gridPos: dashboard.GridPos): this;
}

export interface PanelSpec {
  /** Width in grid columns (of 24). */
  w: number;
  /** Height in grid rows. */
  h: number;
  panel: PanelBuilder;
}

export interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

const capitalise = (s: string) => s[0]!.toUpperCase() + s.slice(1);

/** The dashboard's rows, top to bottom. */
export function rows(): RowSpec[] {
  const statusCode = (s: string, n: number) => `aliyun_sas:scan_task_current_status{${FILTER}, status="${s}"} * ${n}`;
  const tasksByAccount = `count by (account) (max by (account, task_id) (aliyun_sas_scan_task_info{${FILTER}}))`;
  // The latest virus scan is per account, filtered by the account variable
  // only: its task_id is the scan's, not a configured task. `max by` counts
  // each account (and machine) once however many replicas export it.
  const latest = (family: string, matchers = '') => `max by (account) (${family}{${ACCOUNT_FILTER}${matchers}})`;
  const failedMachines = `aliyun_sas_virus_scan_machine_status{${ACCOUNT_FILTER}, status=~"failed|timeout"} == 1`;
  const ofFailedMachines = (family: string) => `max by (account, uuid) (${family}{${ACCOUNT_FILTER}} and on(job, instance, account, uuid) (${failedMachines}))`;
  const instant = { instant: true, table: true };
  return [
    {
      title: 'Task status overview',
      panels: [
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Configured tasks',
            'Scan tasks in the exporter configuration (aliyun_sas_scan_task_info), within the account and task selection. A task is an account and a task ID.',
            `count(max by (account, task_id) (aliyun_sas_scan_task_info{${FILTER}})) or vector(0)`,
          ),
        },
        ...STATUSES.map((s): PanelSpec => {
          const alarming = s === 'failed' || s === 'unknown';
          return {
            w: alarming ? 3 : 2,
            h: 4,
            panel: statusCountPanel(
              capitalise(s),
              `Tasks whose current status is ${s} (aliyun_sas_scan_task_status == 1).`,
              `count(max by (account, task_id) (aliyun_sas_scan_task_status{${FILTER}, status="${s}"}) == 1) or vector(0)`,
              STATUS_COLORS[s],
              alarming,
            ),
          };
        }),
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Not polled yet',
            'Configured tasks without a status: never polled successfully since the exporter started (a wrong task ID, or polls failing).',
            `count(max by (account, task_id) (aliyun_sas_scan_task_info{${FILTER}}) unless on(account, task_id) max by (account, task_id) (aliyun_sas_scan_task_status)) or vector(0)`,
            { steps: [['green', null], ['orange', 1]] },
          ),
        },
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Polls failing',
            'Tasks whose last poll failed (aliyun_sas_scan_task_poll_success == 0): their status is stale.',
            `count(min by (account, task_id) (aliyun_sas_scan_task_poll_success{${FILTER}}) == 0) or vector(0)`,
            { steps: [['green', null], ['orange', 1]] },
          ),
        },
      ],
    },
    {
      title: 'Accounts',
      panels: [
        {
          w: 24,
          h: 6,
          panel: tablePanel(
            'Accounts',
            'The Alibaba Cloud accounts the exporter polls (aliyun_sas_account_info, accounts form only) with their endpoint and region, the number of tasks (within the task selection), failed tasks, tasks whose last poll failed, API calls per second and the request rate currently allowed (lowered while the API throttles the account). The API quota is per account.',
            queries(
              [`max by (account, endpoint, region) (aliyun_sas_account_info{${ACCOUNT_FILTER}})`, { instant: true, table: true }],
              [tasksByAccount, { instant: true, table: true }],
              [
                `count by (account) (max by (account, task_id) (aliyun_sas_scan_task_status{${FILTER}, status="failed"}) == 1)\nor\n0 * ${tasksByAccount}`,
                { instant: true, table: true },
              ],
              [`count by (account) (min by (account, task_id) (aliyun_sas_scan_task_poll_success{${FILTER}}) == 0)\nor\n0 * ${tasksByAccount}`, { instant: true, table: true }],
              [`sum by (account) (rate(aliyun_sas_api_requests_total{${ACCOUNT_FILTER}}[$__rate_interval]))`, { instant: true, table: true }],
              [`min by (account) (aliyun_sas_api_rate_limit_qps{${ACCOUNT_FILTER}})`, { instant: true, table: true }],
            ),
            [
              { id: 'merge', options: {} },
              organize(['Time', 'Value #A'], ['account', 'endpoint', 'region', 'Value #B', 'Value #C', 'Value #D', 'Value #E', 'Value #F'], {
                account: 'Account',
                endpoint: 'Endpoint',
                region: 'Region',
                'Value #B': 'Tasks',
                'Value #C': 'Failed',
                'Value #D': 'Polls failing',
                'Value #E': 'API calls/s',
                'Value #F': 'Rate limit (qps)',
              }),
            ],
          )
            .overrideByName('Failed', [
              { id: 'thresholds', value: thresholds(['green', null], ['red', 1]).build() },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Polls failing', [
              { id: 'thresholds', value: thresholds(['green', null], ['orange', 1]).build() },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('API calls/s', [{ id: 'unit', value: 'reqps' }])
            .overrideByName('Rate limit (qps)', [{ id: 'unit', value: 'reqps' }])
            .sortBy([new common.TableSortByFieldStateBuilder().displayName('Account').desc(false)]),
        },
      ],
    },
    {
      title: 'Tasks',
      panels: [
        {
          w: 24,
          h: 9,
          panel: tablePanel(
            'Scan tasks',
            'Every configured task (an account and a task ID): its name, current status, number of targets (servers and server groups), how long it has been in that status (since the exporter first saw it), and how long ago it was last polled successfully.',
            queries(
              [`max by (account, task_id, task_name) (aliyun_sas_scan_task_info{${FILTER}})`, { instant: true, table: true }],
              [`max by (account, task_id, status) (aliyun_sas_scan_task_status{${FILTER}} == 1)`, { instant: true, table: true }],
              [`sum by (account, task_id) (max by (account, task_id, target_type) (aliyun_sas_scan_task_targets{${FILTER}}))`, { instant: true, table: true }],
              [`min by (account, task_id) (aliyun_sas:scan_task_time_in_status_seconds{${FILTER}})`, { instant: true, table: true }],
              [`time() - max by (account, task_id) (aliyun_sas_scan_task_last_success_timestamp_seconds{${FILTER}})`, { instant: true, table: true }],
              [`min by (account, task_id) (aliyun_sas_scan_task_poll_success{${FILTER}})`, { instant: true, table: true }],
            ),
            [
              { id: 'merge', options: {} },
              organize(['Time', 'Value #A', 'Value #B'], ['account', 'task_id', 'task_name', 'status', 'Value #C', 'Value #D', 'Value #E', 'Value #F'], {
                account: 'Account',
                task_id: 'Task ID',
                task_name: 'Name',
                status: 'Status',
                'Value #C': 'Targets',
                'Value #D': 'Time in status',
                'Value #E': 'Last successful poll (ago)',
                'Value #F': 'Last poll',
              }),
            ],
          )
            .overrideByName('Status', [
              { id: 'mappings', value: [STATUS_MAP] },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Time in status', [{ id: 'unit', value: 's' }])
            .overrideByName('Last successful poll (ago)', [{ id: 'unit', value: 's' }])
            .overrideByName('Last poll', [
              { id: 'mappings', value: [valueMap([['1', 'ok', 'green'], ['0', 'failing', 'red']])] },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .sortBy([new common.TableSortByFieldStateBuilder().displayName('Status').desc(false)]),
        },
        {
          w: 24,
          h: 8,
          panel: tablePanel(
            'Targets of failed tasks',
            'Servers (uuid) and server groups (groupId) of the tasks whose status is failed: these were not fully scanned. Each raises AliyunSasScanTaskFailed.',
            queries([
              `max by (account, task_id, task_name, target_type, target, target_name) (aliyun_sas:scan_task_target_status{${FILTER}, status="failed"})`,
              { instant: true, table: true },
            ]),
            [
              organize(['Time', 'Value'], ['account', 'task_id', 'task_name', 'target_type', 'target', 'target_name'], {
                account: 'Account',
                task_id: 'Task ID',
                task_name: 'Task name',
                target_type: 'Type',
                target: 'Target',
                target_name: 'Target name',
              }),
            ],
          ).overrideByName('Type', [{ id: 'mappings', value: [valueMap([['uuid', 'server'], ['groupId', 'server group']])] }]),
        },
      ],
    },
    {
      title: 'Status over time',
      panels: [
        {
          w: 24,
          h: 9,
          panel: new statetimeline.PanelBuilder()
            .title('Task status')
            .description('Status of each task (account, task ID, name) over time. Gaps: the task was not configured, not polled successfully yet, or the exporter was down.')
            .datasource(DATASOURCE)
            .withTarget(query('A', `max by (account, task_id, task_name) (\n  ${STATUSES.map((s, i) => statusCode(s, i + 1)).join('\n  or ')}\n)`, { legend: '{{account}} {{task_id}} {{task_name}}' }))
            .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
            .thresholds(thresholds(['text', null]))
            .mappings([valueMap(STATUSES.map((s, i) => [String(i + 1), s, STATUS_COLORS[s]]))])
            .fillOpacity(80)
            .lineWidth(0)
            .mergeValues(true)
            .showValue(common.VisibilityMode.Auto)
            .alignValue(common.TimelineValueAlignment.Left)
            .rowHeight(0.9)
            .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).showLegend(false))
            .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Single).sort(common.SortOrder.None)),
        },
      ],
    },
    {
      title: 'Latest virus scan',
      panels: [
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Suspicious machines',
            'Machines with suspicious files in the latest virus scan of each selected account, added up (aliyun_sas_virus_scan_latest_machines{state="suspicious"}). Each account with any raises AliyunSasVirusScanSuspiciousMachines (critical). No value: latest_scan is not enabled.',
            `sum(${latest('aliyun_sas_virus_scan_latest_machines', ', state="suspicious"')})`,
            { steps: [['green', null], ['red', 1]], colorMode: common.BigValueColorMode.Background },
          ),
        },
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Scan alerts',
            'Alerts raised by the latest virus scans of the selected accounts (aliyun_sas_virus_scan_latest_alerts, the API\'s SuspiciousCount).',
            `sum(${latest('aliyun_sas_virus_scan_latest_alerts')})`,
            { steps: [['green', null], ['red', 1]] },
          ),
        },
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Machines scanned',
            'Machines of the latest virus scans of the selected accounts (aliyun_sas_virus_scan_latest_machines{state="scanned"}).',
            `sum(${latest('aliyun_sas_virus_scan_latest_machines', ', state="scanned"')})`,
          ),
        },
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Safe machines',
            'Machines the latest virus scans finished without finding anything (aliyun_sas_virus_scan_latest_machines{state="safe"}).',
            `sum(${latest('aliyun_sas_virus_scan_latest_machines', ', state="safe"')})`,
            { steps: [['green', null]] },
          ),
        },
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Failed or timed out',
            'Machines whose part of the latest virus scan failed or timed out (aliyun_sas_virus_scan_machine_status), among the machines the exporter lists (latest_scan.machines). Each raises AliyunSasVirusScanMachinesFailed; the table below names them.',
            `count(max by (account, uuid) (${failedMachines})) or vector(0)`,
            { steps: [['green', null], ['orange', 1]], colorMode: common.BigValueColorMode.Background },
          ),
        },
        {
          w: 4,
          h: 4,
          panel: statPanel(
            'Oldest latest scan',
            `Time since the oldest of the selected accounts' latest virus scans started (its ScanTime). Red from ${STALE_SCAN_S / 86_400} days: AliyunSasVirusScanStale.`,
            `time() - min(${latest('aliyun_sas_virus_scan_latest_start_timestamp_seconds')})`,
            { unit: 's', steps: [['green', null], ['orange', STALE_SCAN_S - 86_400], ['red', STALE_SCAN_S]] },
          ),
        },
        {
          w: 24,
          h: 7,
          panel: tablePanel(
            'Latest virus scan by account',
            `The latest virus scan of each selected account (latest_scan): its task ID and type, status, progress, time since it started (its ScanTime; alerts from ${STALE_SCAN_S / 86_400} days, or from ${LONG_SCAN_S / 3_600} hours while it runs), its machines (scanned, safe, suspicious, not complete: still running, failed or timed out; failed or timed out among those listed), alerts and their highest risk level, and whether the last poll of it succeeded. An account that never ran a scan shows its last poll only.`,
            queries(
              [`max by (account, task_id, scan_type) (aliyun_sas_virus_scan_latest_info{${ACCOUNT_FILTER}})`, instant],
              [`max by (account, status) (aliyun_sas_virus_scan_latest_status{${ACCOUNT_FILTER}} == 1)`, instant],
              [latest('aliyun_sas_virus_scan_latest_progress_ratio'), instant],
              [`time() - ${latest('aliyun_sas_virus_scan_latest_start_timestamp_seconds')}`, instant],
              [latest('aliyun_sas_virus_scan_latest_machines', ', state="scanned"'), instant],
              [latest('aliyun_sas_virus_scan_latest_machines', ', state="safe"'), instant],
              [latest('aliyun_sas_virus_scan_latest_machines', ', state="suspicious"'), instant],
              [latest('aliyun_sas_virus_scan_latest_machines', ', state="uncomplete"'), instant],
              [`count by (account) (max by (account, uuid) (${failedMachines}))\nor\n0 * ${latest('aliyun_sas_virus_scan_machines_dropped')}`, instant],
              [latest('aliyun_sas_virus_scan_latest_alerts'), instant],
              [`max by (account, level) (aliyun_sas_virus_scan_latest_risk_level{${ACCOUNT_FILTER}} == 1)`, instant],
              [`min by (account) (aliyun_sas_virus_scan_latest_poll_success{${ACCOUNT_FILTER}})`, instant],
            ),
            [
              { id: 'merge', options: {} },
              organize(
                ['Time', 'Value #A', 'Value #B', 'Value #K'],
                ['account', 'task_id', 'scan_type', 'status', 'Value #C', 'Value #D', 'Value #E', 'Value #F', 'Value #G', 'Value #H', 'Value #I', 'Value #J', 'level', 'Value #L'],
                {
                  account: 'Account',
                  task_id: 'Scan task ID',
                  scan_type: 'Type',
                  status: 'Status',
                  'Value #C': 'Progress',
                  'Value #D': 'Started (ago)',
                  'Value #E': 'Scanned',
                  'Value #F': 'Safe',
                  'Value #G': 'Suspicious',
                  'Value #H': 'Not complete',
                  'Value #I': 'Failed or timed out',
                  'Value #J': 'Alerts',
                  level: 'Risk level',
                  'Value #L': 'Last poll',
                },
              ),
            ],
          )
            .overrideByName('Type', [{ id: 'mappings', value: [valueMap([['system', 'automatic'], ['user', 'custom']])] }])
            .overrideByName('Status', [
              { id: 'mappings', value: [SCAN_STATUS_MAP] },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Progress', [
              { id: 'unit', value: 'percentunit' },
              { id: 'min', value: 0 },
              { id: 'max', value: 1 },
              { id: 'custom.cellOptions', value: { type: common.TableCellDisplayMode.Gauge, mode: common.BarGaugeDisplayMode.Basic } },
            ])
            .overrideByName('Started (ago)', [
              { id: 'unit', value: 's' },
              { id: 'thresholds', value: thresholds(['green', null], ['red', STALE_SCAN_S]).build() },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Suspicious', [
              { id: 'thresholds', value: thresholds(['green', null], ['red', 1]).build() },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Failed or timed out', [
              { id: 'thresholds', value: thresholds(['green', null], ['orange', 1]).build() },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Alerts', [
              { id: 'thresholds', value: thresholds(['green', null], ['red', 1]).build() },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Risk level', [
              { id: 'mappings', value: [RISK_MAP] },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Last poll', [
              { id: 'mappings', value: [valueMap([['1', 'ok', 'green'], ['0', 'failing', 'red']])] },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .sortBy([new common.TableSortByFieldStateBuilder().displayName('Account').desc(false)]),
        },
        {
          w: 24,
          h: 8,
          panel: tablePanel(
            'Machines whose scan failed or timed out',
            'Machines of the latest virus scans whose part failed or timed out (aliyun_sas_virus_scan_machine_status, named by aliyun_sas_virus_scan_machine_info): malware on them may go undetected. Each raises AliyunSasVirusScanMachinesFailed. Only machines the exporter lists (latest_scan.machines, up to latest_scan.max_machines).',
            queries(
              [
                `max by (account, uuid, status, task_id, instance_name, internet_ip, intranet_ip) (\n  (${failedMachines})\n  * on(job, instance, account, uuid) group_left(task_id, instance_name, internet_ip, intranet_ip)\n    aliyun_sas_virus_scan_machine_info{${ACCOUNT_FILTER}}\n)`,
                instant,
              ],
              [ofFailedMachines('aliyun_sas_virus_scan_machine_progress_ratio'), instant],
              [`1000 * ${ofFailedMachines('aliyun_sas_virus_scan_machine_start_timestamp_seconds')}`, instant],
              [`1000 * ${ofFailedMachines('aliyun_sas_virus_scan_machine_end_timestamp_seconds')}`, instant],
            ),
            [
              { id: 'merge', options: {} },
              organize(
                ['Time', 'Value #A'],
                ['account', 'instance_name', 'uuid', 'internet_ip', 'intranet_ip', 'status', 'task_id', 'Value #B', 'Value #C', 'Value #D'],
                {
                  account: 'Account',
                  instance_name: 'Instance name',
                  uuid: 'UUID',
                  internet_ip: 'Internet IP',
                  intranet_ip: 'Intranet IP',
                  status: 'Status',
                  task_id: 'Scan task ID',
                  'Value #B': 'Progress',
                  'Value #C': 'Started',
                  'Value #D': 'Ended',
                },
              ),
            ],
          )
            .overrideByName('Status', [
              { id: 'mappings', value: [MACHINE_STATUS_MAP] },
              { id: 'custom.cellOptions', value: COLOR_TEXT },
            ])
            .overrideByName('Progress', [{ id: 'unit', value: 'percentunit' }])
            .overrideByName('Started', [{ id: 'unit', value: 'dateTimeAsIso' }])
            .overrideByName('Ended', [{ id: 'unit', value: 'dateTimeAsIso' }])
            .sortBy([new common.TableSortByFieldStateBuilder().displayName('Account').desc(false)]),
        },
        {
          w: 12,
          h: 8,
          panel: timeseriesPanel(
            'Latest scan progress',
            'Progress of the latest virus scan of each selected account (aliyun_sas_virus_scan_latest_progress_ratio). A new scan starts again from 0.',
            queries([latest('aliyun_sas_virus_scan_latest_progress_ratio'), { legend: '{{account}} progress' }]),
            'percentunit',
          ),
        },
        {
          w: 12,
          h: 8,
          panel: timeseriesPanel(
            'Machines of the latest scan',
            'Machines of the latest virus scan of each selected account by state: scanned, complete, not complete (running, failed or timed out), safe, suspicious (aliyun_sas_virus_scan_latest_machines).',
            queries([`max by (account, state) (aliyun_sas_virus_scan_latest_machines{${ACCOUNT_FILTER}})`, { legend: '{{account}} {{state}}' }]),
            'none',
          ),
        },
      ],
    },
    {
      title: 'Exporter health',
      panels: [
        {
          w: 6,
          h: 4,
          panel: statPanel('Exporter up', `Prometheus targets of job ${JOB} that answered the last scrape, out of all of them.`, `sum(up{job="${JOB}"}) or vector(0)`, {
            steps: [['red', null], ['green', 1]],
            colorMode: common.BigValueColorMode.Background,
          }),
        },
        {
          w: 6,
          h: 4,
          panel: statPanel(
            'Last poll cycle',
            'Time since the last poll cycle finished (aliyun_sas_poll_last_cycle_timestamp_seconds). The default schedule runs one every 30 s.',
            'time() - max(aliyun_sas_poll_last_cycle_timestamp_seconds > 0)',
            { unit: 's', steps: [['green', null], ['orange', 90], ['red', 900]] },
          ),
        },
        {
          w: 6,
          h: 4,
          panel: statPanel('Configuration', 'Whether the last configuration (re)load succeeded (aliyun_sas_exporter_config_last_reload_successful).', 'min(aliyun_sas_exporter_config_last_reload_successful)', {
            mappings: [valueMap([['1', 'loaded', 'green'], ['0', 'reload failed', 'red']])],
            steps: [['red', null], ['green', 1]],
          }),
        },
        {
          w: 6,
          h: 4,
          panel: statPanel(
            'API rate limit',
            'Client-side request rate currently allowed (aliyun_sas_api_rate_limit_qps), the lowest over the selected accounts; lowered while the API throttles an account. Per account: the Accounts table.',
            `min(aliyun_sas_api_rate_limit_qps{${ACCOUNT_FILTER}})`,
            { unit: 'reqps' },
          ),
        },
        {
          w: 8,
          h: 8,
          panel: timeseriesPanel(
            'Poll cycle duration',
            'Duration of the last finished poll cycle per exporter. Close to the schedule interval means cycles start being skipped.',
            queries(['max by (instance) (aliyun_sas_poll_cycle_duration_seconds)', { legend: '{{instance}}' }]),
            's',
          ),
        },
        {
          w: 8,
          h: 8,
          panel: timeseriesPanel(
            'Poll cycles by result',
            'Finished poll cycles per minute: success (every task answered), partial, failure (no task answered), and skipped ticks.',
            queries(['sum by (result) (rate(aliyun_sas_poll_cycles_total[$__rate_interval])) * 60', { legend: '{{result}}' }]),
            'suffix: /min',
          ),
        },
        {
          w: 8,
          h: 8,
          panel: timeseriesPanel(
            'Last cycle age',
            'Seconds since each exporter finished a poll cycle.',
            queries(['time() - max by (instance) (aliyun_sas_poll_last_cycle_timestamp_seconds > 0)', { legend: '{{instance}}' }]),
            's',
          ),
        },
        {
          w: 8,
          h: 8,
          panel: timeseriesPanel(
            'API requests by account and code',
            'Security Center API calls per second by account and outcome: OK, an API error code (NoPermission, Throttling.*, ...) or a transport class (timeout, network, ...). Retries count; two replicas make twice the calls.',
            queries([`sum by (account, code) (rate(aliyun_sas_api_requests_total{${ACCOUNT_FILTER}}[$__rate_interval]))`, { legend: '{{account}} {{code}}' }]),
            'reqps',
          ),
        },
        {
          w: 8,
          h: 8,
          panel: timeseriesPanel(
            'API latency',
            'Latency of Security Center API calls of the selected accounts (failures included), from the aliyun_sas_api_request_duration_seconds histogram.',
            queries(
              ...['0.5', '0.9', '0.99'].map((q): [string, QueryOptions] => [
                `histogram_quantile(${q}, sum by (le) (rate(aliyun_sas_api_request_duration_seconds_bucket{${ACCOUNT_FILTER}}[$__rate_interval])))`,
                { legend: `p${Math.round(Number(q) * 100)}` },
              ]),
            ),
            's',
          ),
        },
        {
          w: 8,
          h: 8,
          panel: timeseriesPanel(
            'API calls per poll cycle',
            'API calls (retries included) made by the last poll cycle, per account (aliyun_sas_poll_cycle_api_calls), and tasks it polled (finished tasks are re-checked only every terminal_recheck_interval).',
            queries(
              [`max by (account) (aliyun_sas_poll_cycle_api_calls{${ACCOUNT_FILTER}})`, { legend: '{{account}} calls' }],
              [`max by (account) (aliyun_sas_poll_cycle_tasks_polled{${ACCOUNT_FILTER}})`, { legend: '{{account}} tasks polled' }],
            ),
            'none',
          ),
        },
      ],
    },
  ];
}

// ---------------------------------------------------------------------------
// The dashboard.
// ---------------------------------------------------------------------------

/** Places panels left to right, wrapping at 24 columns; a row starts a new line. Sets every gridPos. */
class Grid {
  private x = 0;
  private y = 0;
  private lineHeight = 0;

  row(): dashboard.GridPos {
    this.newLine();
    const pos = { x: 0, y: this.y, w: 24, h: 1 };
    this.y += 1;
    return pos;
  }

  panel(w: number, h: number): dashboard.GridPos {
    if (w < 1 || w > 24 || h < 1) throw new Error(`panel size ${w}x${h} out of the 24-column grid`);
    if (this.x + w > 24) this.newLine();
    const pos = { x: this.x, y: this.y, w, h };
    this.x += w;
    this.lineHeight = Math.max(this.lineHeight, h);
    return pos;
  }

  private newLine(): void {
    this.y += this.lineHeight;
    this.x = 0;
    this.lineHeight = 0;
  }
}

export function buildDashboard(): Dashboard {
  const builder = new dashboard.DashboardBuilder('Alibaba Cloud Security Center scan tasks')
    .uid(DASHBOARD_UID)
    .description('Alibaba Cloud Security Center virus scan tasks and the latest virus scan of each account (latest_scan), from aliyun-sas-exporter. Needs the recording rules of deploy/prometheus/rules.yml.')
    .tags(['aliyun', 'security-center', 'aliyun-sas-exporter'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .refresh('30s')
    .time({ from: 'now-24h', to: 'now' })
    .timezone('browser')
    .fiscalYearStartMonth(0)
    .weekStart('')
    .annotation(
      new dashboard.AnnotationQueryBuilder()
        .name('Annotations & Alerts')
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)')
        .builtIn(1)
        .type('dashboard'),
    )
    .variables(variables());

  // Positions are set here: the builder's own placement (for panels left
  // at x=0, y=0) does not wrap a panel that overflows the line.
  const grid = new Grid();
  let id = 1;
  for (const row of rows()) {
    builder.withRow(new dashboard.RowBuilder(row.title).id(id++).gridPos(grid.row()));
    for (const p of row.panels) builder.withPanel(p.panel.id(id++).gridPos(grid.panel(p.w, p.h)));
  }
  return builder.build();
}

/** The JSON file's content: two-space indentation and a final newline. */
export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

/** The data panels (not the rows) of a dashboard. */
export function dataPanels(d: Dashboard = buildDashboard()): DataPanel[] {
  return (d.panels ?? []).filter((p): p is DataPanel => p.type !== 'row');
}

/** Every query of every panel, in panel order. */
export function panelQueries(d: Dashboard = buildDashboard()): { panel: string; refId: string; expr: string }[] {
  return dataPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => {
      const q = t as prometheus.Dataquery;
      return { panel: p.title ?? '', refId: q.refId ?? '', expr: q.expr };
    }),
  );
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
