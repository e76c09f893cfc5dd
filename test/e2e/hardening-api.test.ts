/**
 * A hostile API, end to end: the built exporter polls, through the real SDK
 * over real HTTP, a server started here that answers as an attacker (or a
 * broken proxy) would: endless bodies, huge announced sizes, headers then
 * silence, a trickle, a new error code on every call, megabytes of target
 * names. The exporter's memory is measured from /proc (the child is ended
 * if it passes 1 GB, so a regression fails the test instead of the machine).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { select, value, type Sample } from '../support/exposition.js';
import { MemoryWatch, percentile } from '../support/proc.js';
import { apiCalls, sum, withRigs, type Rig } from '../support/rig.js';
import { exporterYaml } from '../support/yaml.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, taskId: string) => void;

interface Hostile {
  readonly endpoint: string;
  /** Per answer: how long the exporter kept the connection open, by task ID. */
  readonly held: Map<string, number[]>;
  close(): Promise<void>;
}

async function hostileServer(handler: Handler): Promise<Hostile> {
  const held = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const taskId = new URL(req.url ?? '/', 'http://x').searchParams.get('TaskId') ?? '';
    const t0 = performance.now();
    res.on('close', () => {
      const list = held.get(taskId) ?? [];
      list.push(performance.now() - t0);
      held.set(taskId, list);
    });
    req.resume();
    handler(req, res, taskId);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
};

/** Writes for as long as the peer reads. */
function endless(res: http.ServerResponse): void {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
}

const OK = { RequestId: 'R', ScanTaskProgress: 'Processing', TargetInfo: '[{"type":"uuid","target":"u-1","name":"host-1"}]' };

async function healthMs(r: Rig): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${r.exporter.base}/-/healthy`);
  expect(res.status).toBe(200);
  return performance.now() - t0;
}

const errorInfo = (s: Sample[], id: string) => select(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: id })[0]?.labels;

describe('hostile answers: bounded memory, the right code, a hard deadline', () => {
  test('endless bodies (200 and 500), a 50 GB Content-Length, headers then silence, a trickle: RSS bounded, response_too_large and timeout counted, never network, no call past request_timeout', withRigs(async (start) => {
    const api = await hostileServer((_req, res, id) => {
      switch (id) {
        case '1': // an endless 200
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"RequestId":"');
          endless(res);
          return;
        case '2': // an endless error answer
          res.writeHead(500, { 'content-type': 'application/json' });
          res.write('{"Code":"ServerError","Message":"');
          endless(res);
          return;
        case '3': // announces 50 GB, then streams
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 ** 3) });
          endless(res);
          return;
        case '4': // headers, then nothing (#15 item 9)
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"ScanTaskProgress":');
          return;
        case '5': {
          // a byte every 50 ms: never silent long enough for an idle timeout
          res.writeHead(200, { 'content-type': 'application/json' });
          const t = setInterval(() => res.write(' '), 50);
          res.on('close', () => clearInterval(t));
          return;
        }
        default:
          json(res, 200, OK);
      }
    });
    try {
      const r = await start({
        secrets: 'distinctive',
        tag: 'hostile-body',
        config: () =>
          exporterYaml({ endpoint: api.endpoint, schedule: '*/2 * * * * *', requestTimeout: '1s', concurrency: 6, retry: { maxAttempts: 2, initialBackoff: '50ms', maxBackoff: '100ms' }, tasks: ['1', '2', '3', '4', '5', '6'] }),
        waitFor: 'healthy',
      });
      const mem = new MemoryWatch(r.exporter.child.pid!);
      const health: number[] = [];
      let s: Sample[] = [];
      try {
        const deadline = Date.now() + 30_000;
        do {
          health.push(await healthMs(r));
          s = await r.scrape();
          await new Promise((x) => setTimeout(x, 200));
        } while (Date.now() < deadline && sum(s, 'aliyun_sas_poll_cycles_total', { result: 'partial' }) < 4);
      } finally {
        mem.stop();
      }
      expect(mem.killedAtMb, `the exporter passed 1 GB (${mem.killedAtMb} MB)`).toBeUndefined();
      expect(sum(s, 'aliyun_sas_poll_cycles_total', { result: 'partial' })).toBeGreaterThanOrEqual(4);
      for (const id of ['1', '2', '3']) expect(errorInfo(s, id), id).toEqual({ task_id: id, class: 'response_too_large', code: 'response_too_large' });
      for (const id of ['4', '5']) expect(errorInfo(s, id), id).toEqual({ task_id: id, class: 'timeout', code: 'timeout' });
      expect(value(s, 'aliyun_sas_scan_task_poll_success', { task_id: '6' })).toBe(1);
      expect(apiCalls(s, 'response_too_large')).toBeGreaterThanOrEqual(12);
      expect(apiCalls(s, 'timeout')).toBeGreaterThanOrEqual(8);
      expect(apiCalls(s, 'network')).toBe(0);
      // response_too_large is not retried: one call per task per cycle.
      expect(api.held.get('1')!.length).toBeLessThanOrEqual(api.held.get('6')!.length + 1);
      // The exporter closed every hostile connection itself, the slow ones at request_timeout (1 s)
      // overall, never after the SDK's own timers (2 s); the margin is for a loaded machine's timers.
      const held = (ids: string[]) => ids.flatMap((id) => api.held.get(id)!);
      for (const ms of held(['1', '2', '3', '4', '5'])) expect(ms).toBeLessThan(1000 + 1500);
      const peak = Math.max(mem.maxRssMb, mem.hwmMb);
      const slow = held(['4', '5']);
      console.log(
        `[figures] hostile bodies: peak RSS ${peak.toFixed(0)} MB over ${mem.samples} samples; /-/healthy p99 ${percentile(health, 99).toFixed(1)} ms; ` +
          `calls: ${apiCalls(s, 'response_too_large')} response_too_large (connections held ${Math.max(...held(['1', '2', '3'])).toFixed(0)} ms at most), ` +
          `${apiCalls(s, 'timeout')} timeout (held ${Math.min(...slow).toFixed(0)}-${Math.max(...slow).toFixed(0)} ms)`,
      );
      expect(peak).toBeLessThan(250);
    } finally {
      await api.close();
    }
  }), 90_000);

  test('a new error code on every call: the code label stays bounded (32 others, then "other"), /metrics stops growing, RSS flat', withRigs(async (start) => {
    let n = 0;
    const api = await hostileServer((_req, res) => {
      n++;
      const code = n % 50 === 0 ? `Long.${'x'.repeat(100_000)}.${n}` : `Weird.Code.${n}.${Math.random().toString(36).slice(2)}`;
      json(res, 400, { RequestId: `R${n}`, Code: code, Message: 'invented' });
    });
    try {
      const tasks = Array.from({ length: 100 }, (_, i) => String(1000 + i));
      const r = await start({
        secrets: 'distinctive',
        tag: 'hostile-codes',
        config: () => exporterYaml({ endpoint: api.endpoint, schedule: '*/1 * * * * *', requestTimeout: '5s', concurrency: 16, retry: { maxAttempts: 1 }, tasks }),
        waitFor: 'healthy',
      });
      const mem = new MemoryWatch(r.exporter.child.pid!);
      const sizes: number[] = [];
      const rss: number[] = [];
      let text = '';
      // Calls the server had answered when the last scrape began, and when it ended.
      let answeredBefore = 0;
      let answeredAfter = 0;
      try {
        for (let i = 0; i < 10; i++) {
          await new Promise((x) => setTimeout(x, 1000));
          answeredBefore = n;
          text = await r.exporter.scrapeText();
          answeredAfter = n;
          r.scrapes.push(text);
          sizes.push(text.length);
          rss.push(mem.sample()?.rssMb ?? 0);
        }
      } finally {
        mem.stop();
      }
      expect(n).toBeGreaterThan(500);
      const s = (await import('../support/exposition.js')).parseExposition(text);
      const codes = select(s, 'aliyun_sas_api_requests_total', { action: 'DescribeScanTaskProgress' }).map((x) => x.labels.code!);
      // Under load a call may also time out: the invented codes are what is bounded.
      const invented = codes.filter((c) => c.startsWith('Weird.') || c.startsWith('Long.'));
      expect(invented.length).toBeLessThanOrEqual(32);
      expect(codes).toContain('other');
      expect(codes.length).toBeLessThanOrEqual(1 + 32 + 1 + 2); // OK, 32 kept, other, and timeout or network at worst
      // Every call counted once: polling goes on while the scrape is taken, and
      // up to `concurrency` (16) answers may be on their way back to the exporter.
      const counted = sum(s, 'aliyun_sas_api_requests_total');
      expect(counted).toBeLessThanOrEqual(answeredAfter);
      expect(counted).toBeGreaterThanOrEqual(answeredBefore - 16);
      for (const x of select(s, 'aliyun_sas_scan_task_poll_error_info')) expect(x.labels.code!.length).toBeLessThanOrEqual(128);
      expect(sum(s, 'aliyun_sas_exporter_label_values_limited_total', { label: 'code', reason: 'other' })).toBeGreaterThan(400);
      expect(sum(s, 'aliyun_sas_exporter_label_values_limited_total', { label: 'code', reason: 'truncated' })).toBeGreaterThan(0);
      // Past the first seconds, the exposition no longer grows with the calls (the counter values only change).
      expect(sizes.at(-1)!).toBeLessThan(sizes[2]! * 1.1);
      console.log(`[figures] new code per call: ${n} calls, ${codes.length} code series, /metrics ${sizes[2]} -> ${sizes.at(-1)} bytes, RSS ${rss[2]!.toFixed(0)} -> ${rss.at(-1)!.toFixed(0)} MB, peak ${Math.max(mem.maxRssMb, mem.hwmMb).toFixed(0)} MB`);
      expect(Math.max(mem.maxRssMb, mem.hwmMb)).toBeLessThan(250);
    } finally {
      await api.close();
    }
  }), 90_000);

  test('hostile TargetInfo: 1 KB names, 5 KB IDs, a new type per target, 15,000 targets in one task: labels cut, types folded, series capped, all counted', withRigs(async (start) => {
    const targets = (id: string, count: number, hostile: boolean) =>
      JSON.stringify(
        Array.from({ length: count }, (_, i) =>
          hostile ? { type: `t${i}-${'y'.repeat(50)}`, target: `${id}-${i}-${'z'.repeat(5000)}`, name: `${i}-${'n'.repeat(1000)}` } : { type: 'uuid', target: `u-${id}-${i}`, name: `h${i}` },
        ),
      );
    const bodies: Record<string, string> = {
      '1': JSON.stringify({ RequestId: 'R', ScanTaskProgress: 'Failed', TargetInfo: targets('1', 300, true) }),
      '2': JSON.stringify({ RequestId: 'R', ScanTaskProgress: 'Success', TargetInfo: targets('2', 15_000, false) }),
    };
    const api = await hostileServer((_req, res, id) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bodies[id] ?? JSON.stringify(OK));
    });
    try {
      const r = await start({
        secrets: 'distinctive',
        tag: 'hostile-targets',
        config: () => exporterYaml({ endpoint: api.endpoint, schedule: '0 0 1 1 *', tasks: ['1', '2'] }),
      });
      const text = await r.exporter.scrapeText();
      r.scrapes.push(text);
      const s = (await import('../support/exposition.js')).parseExposition(text);
      for (const line of text.split('\n')) expect(line.length).toBeLessThan(600);
      const types = select(s, 'aliyun_sas_scan_task_targets', { task_id: '1' }).map((x) => x.labels.target_type!);
      expect(types.length).toBe(2 + 8 + 1);
      expect(value(s, 'aliyun_sas_scan_task_targets', { task_id: '1', target_type: 'other' })).toBe(300 - 8);
      expect(select(s, 'aliyun_sas_scan_task_target_info', { task_id: '1' })).toHaveLength(300);
      expect(select(s, 'aliyun_sas_scan_task_target_info', { task_id: '2' })).toHaveLength(10_000);
      expect(value(s, 'aliyun_sas_scan_task_targets', { task_id: '2', target_type: 'uuid' })).toBe(15_000);
      const limited = (label: string, reason: string) => sum(s, 'aliyun_sas_exporter_label_values_limited_total', { label, reason });
      expect(limited('target', 'dropped')).toBeGreaterThanOrEqual(5000);
      expect(limited('target', 'truncated')).toBeGreaterThanOrEqual(300);
      expect(limited('target_name', 'truncated')).toBeGreaterThanOrEqual(300);
      expect(limited('target_type', 'other')).toBeGreaterThanOrEqual(292);
    } finally {
      await api.close();
    }
  }), 90_000);
});
