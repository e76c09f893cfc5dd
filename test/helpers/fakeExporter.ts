/**
 * A stand-in for aliyun-sas-exporter's /metrics, following the README metrics reference:
 * an HTTP server on a free loopback port whose counters grow with every
 * scrape. For testing rules and dashboard queries against a real Prometheus
 * without the exporter (or the Alibaba Cloud API).
 *
 * Tasks served:
 *   1001 "nightly full scan": failed, a server and a server group
 *   1002 "weekly":            processing, one server group
 *   1003 (no name):           configured, never polled successfully (polls fail: NoPermission)
 */
import { createServer, type Server } from 'node:http';

export interface FakeExporter {
  /** host:port to scrape. */
  readonly address: string;
  readonly scrapes: number;
  close(): Promise<void>;
}

export function fakeExporterMetrics(scrape: number, nowSeconds: number): string {
  const n = scrape;
  const lines: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter' | 'histogram', samples: string[]) => {
    lines.push(`# HELP ${name} ${name}`, `# TYPE ${name} ${type}`, ...samples);
  };
  family('aliyun_sas_scan_task_info', 'gauge', [
    'aliyun_sas_scan_task_info{task_id="1001",task_name="nightly full scan"} 1',
    'aliyun_sas_scan_task_info{task_id="1002",task_name="weekly"} 1',
    'aliyun_sas_scan_task_info{task_id="1003",task_name=""} 1',
  ]);
  const statuses = ['init', 'processing', 'success', 'failed', 'unknown'];
  family('aliyun_sas_scan_task_status', 'gauge', [
    ...statuses.map((s) => `aliyun_sas_scan_task_status{task_id="1001",status="${s}"} ${s === 'failed' ? 1 : 0}`),
    ...statuses.map((s) => `aliyun_sas_scan_task_status{task_id="1002",status="${s}"} ${s === 'processing' ? 1 : 0}`),
  ]);
  family('aliyun_sas_scan_task_target_info', 'gauge', [
    'aliyun_sas_scan_task_target_info{task_id="1001",target_type="uuid",target="srv-a",target_name="web-1"} 1',
    'aliyun_sas_scan_task_target_info{task_id="1001",target_type="groupId",target="42",target_name="production"} 1',
    'aliyun_sas_scan_task_target_info{task_id="1002",target_type="groupId",target="7",target_name="staging"} 1',
  ]);
  family('aliyun_sas_scan_task_targets', 'gauge', [
    'aliyun_sas_scan_task_targets{task_id="1001",target_type="uuid"} 1',
    'aliyun_sas_scan_task_targets{task_id="1001",target_type="groupId"} 1',
    'aliyun_sas_scan_task_targets{task_id="1002",target_type="uuid"} 0',
    'aliyun_sas_scan_task_targets{task_id="1002",target_type="groupId"} 1',
  ]);
  family('aliyun_sas_scan_task_poll_success', 'gauge', [
    'aliyun_sas_scan_task_poll_success{task_id="1001"} 1',
    'aliyun_sas_scan_task_poll_success{task_id="1002"} 1',
    'aliyun_sas_scan_task_poll_success{task_id="1003"} 0',
  ]);
  family('aliyun_sas_scan_task_poll_error_info', 'gauge', ['aliyun_sas_scan_task_poll_error_info{task_id="1003",class="api",code="NoPermission"} 1']);
  family('aliyun_sas_scan_task_last_success_timestamp_seconds', 'gauge', [
    `aliyun_sas_scan_task_last_success_timestamp_seconds{task_id="1001"} ${nowSeconds - 20}`,
    `aliyun_sas_scan_task_last_success_timestamp_seconds{task_id="1002"} ${nowSeconds - 20}`,
  ]);
  family('aliyun_sas_scan_task_status_change_timestamp_seconds', 'gauge', [
    `aliyun_sas_scan_task_status_change_timestamp_seconds{task_id="1001"} ${nowSeconds - 3600}`,
    `aliyun_sas_scan_task_status_change_timestamp_seconds{task_id="1002"} ${nowSeconds - 600}`,
  ]);
  family('aliyun_sas_api_requests_total', 'counter', [
    `aliyun_sas_api_requests_total{action="DescribeScanTaskProgress",code="OK"} ${2 * n}`,
    `aliyun_sas_api_requests_total{action="DescribeScanTaskProgress",code="NoPermission"} ${n}`,
    `aliyun_sas_api_requests_total{action="DescribeScanTaskProgress",code="Throttling.User"} ${Math.floor(n / 3)}`,
  ]);
  const buckets: [string, number][] = [
    ['0.05', 0],
    ['0.1', 1],
    ['0.25', 2],
    ['0.5', 3],
    ['1', 3],
    ['+Inf', 3],
  ];
  family('aliyun_sas_api_request_duration_seconds', 'histogram', [
    ...buckets.map(([le, per]) => `aliyun_sas_api_request_duration_seconds_bucket{action="DescribeScanTaskProgress",le="${le}"} ${per * n}`),
    `aliyun_sas_api_request_duration_seconds_sum{action="DescribeScanTaskProgress"} ${0.6 * n}`,
    `aliyun_sas_api_request_duration_seconds_count{action="DescribeScanTaskProgress"} ${3 * n}`,
  ]);
  family('aliyun_sas_api_rate_limit_qps', 'gauge', ['aliyun_sas_api_rate_limit_qps 5']);
  family('aliyun_sas_target_info_errors_total', 'counter', ['aliyun_sas_target_info_errors_total{reason="missing"} 0']);
  family('aliyun_sas_poll_cycles_total', 'counter', [
    'aliyun_sas_poll_cycles_total{result="success"} 0',
    `aliyun_sas_poll_cycles_total{result="partial"} ${n}`,
    'aliyun_sas_poll_cycles_total{result="failure"} 0',
    'aliyun_sas_poll_cycles_total{result="skipped"} 0',
  ]);
  family('aliyun_sas_poll_cycle_duration_seconds', 'gauge', ['aliyun_sas_poll_cycle_duration_seconds 0.42']);
  family('aliyun_sas_poll_last_cycle_timestamp_seconds', 'gauge', [`aliyun_sas_poll_last_cycle_timestamp_seconds ${nowSeconds - 1}`]);
  family('aliyun_sas_poll_cycle_api_calls', 'gauge', ['aliyun_sas_poll_cycle_api_calls 3']);
  family('aliyun_sas_poll_cycle_tasks_polled', 'gauge', ['aliyun_sas_poll_cycle_tasks_polled 3']);
  family('aliyun_sas_tasks', 'gauge', ['aliyun_sas_tasks 3']);
  family('aliyun_sas_exporter_build_info', 'gauge', ['aliyun_sas_exporter_build_info{version="0.0.0-test",revision="test",nodejs_version="v20"} 1']);
  family('aliyun_sas_exporter_config_last_reload_successful', 'gauge', ['aliyun_sas_exporter_config_last_reload_successful 1']);
  family('aliyun_sas_exporter_config_last_reload_success_timestamp_seconds', 'gauge', [`aliyun_sas_exporter_config_last_reload_success_timestamp_seconds ${nowSeconds - 60}`]);
  return `${lines.join('\n')}\n`;
}

export async function startFakeExporter(): Promise<FakeExporter> {
  let scrapes = 0;
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    scrapes += 1;
    res.setHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    res.end(fakeExporterMetrics(scrapes, Math.floor(Date.now() / 1000)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    get scrapes() {
      return scrapes;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
