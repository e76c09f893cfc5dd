/**
 * The fault matrix and the API budget, end to end: the built exporter
 * against the simulator (or against nothing at all), each case asserting
 * that the exporter keeps serving, keeps the last known state and counts
 * the fault as documented. Every exporter runs with a distinctive STS
 * secret and token at --log.level=debug; withRigs fails the test if
 * either shows up in its output or in any scraped body (test/support/secrets.ts),
 * or if the exporter logged a bug.
 */
import { chmod, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { parseExposition, select, statusOf, value, type Sample } from '../support/exposition.js';
import {
  configuredTaskIds,
  cyclesFinished,
  type Rig,
  sameSet,
  simTask,
  sum,
  TASK_PREFIX,
  taskIdsWithSeries,
  withRigs,
} from '../support/rig.js';
import { EVERY_SECOND, NEVER, exporterYaml } from '../support/yaml.js';
import { sleep } from '../support/net.js';
import { distinctiveCredentials, findLeaks, secretsOf } from '../support/secrets.js';


const ACTION = 'DescribeScanTaskProgress';
const RELOAD_OK = 'aliyun_sas_exporter_config_last_reload_successful';
const RELOAD_TS = 'aliyun_sas_exporter_config_last_reload_success_timestamp_seconds';
const calls = (s: Sample[], code: string) => sum(s, 'aliyun_sas_api_requests_total', { action: ACTION, code });
const pollOk = (s: Sample[], id: string) => value(s, 'aliyun_sas_scan_task_poll_success', { task_id: id });
const failures = (s: Sample[]) => sum(s, 'aliyun_sas_poll_cycles_total', { result: 'failure' });
const FAST = 'request_timeout: 500ms\nretry: { max_attempts: 2, initial_backoff: 20ms, max_backoff: 50ms }\nterminal_recheck_interval: 0s';

async function healthy(h: Rig): Promise<boolean> {
  const r = await fetch(`${h.exporter.base}/-/healthy`);
  return r.status === 200;
}

// Concurrent where timing does not matter; the API budget tests run one after another.
describe.concurrent('fault matrix', () => {
  test('API down for several cycles, then back (simulator closed and restarted; then connections reset): code="network", poll_success 0 then 1, statuses kept', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'apidown',
      scenario: { tasks: [simTask('6101', 'Success', 2), simTask('6102', 'Processing', 1)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['6101', '6102'] }),
    });
    const s0 = await h.until((s) => statusOf(s, '6101') === 'success' && statusOf(s, '6102') === 'processing' && pollOk(s, '6101') === 1, 'healthy polls', 5000);
    const changed = (s: Sample[], id: string) => sum(s, 'aliyun_sas_scan_task_status_change_timestamp_seconds', { task_id: id });
    const targets = (s: Sample[]) => select(s, 'aliyun_sas_scan_task_target_info').length;

    for (const outage of ['simulator down', 'connections reset'] as const) {
      const before = await h.scrape();
      if (outage === 'simulator down') await h.sim!.close();
      else h.sim!.setFaults('*', [{ kind: 'reset' }]);
      const first = await h.until((s) => pollOk(s, '6101') === 0 && pollOk(s, '6102') === 0, `the first failed cycle (${outage})`, 5000);
      const lastOk = sum(first, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: '6101' });
      const down = await h.until((s) => failures(s) >= failures(first) + 2, `two more failed cycles (${outage})`, 10_000);
      expect(await healthy(h)).toBe(true);
      // Each of 3+ cycles polls 2 tasks, each retried once: all counted as network.
      expect(calls(down, 'network') - calls(before, 'network'), outage).toBeGreaterThanOrEqual(3 * 2 * 2);
      expect(pollOk(down, '6101')).toBe(0);
      expect(pollOk(down, '6102')).toBe(0);
      for (const id of ['6101', '6102']) {
        expect(value(down, 'aliyun_sas_scan_task_poll_error_info', { task_id: id, class: 'network', code: 'network' }), outage).toBe(1);
        expect(changed(down, id), outage).toBe(changed(s0, id));
      }
      expect(statusOf(down, '6101')).toBe('success');
      expect(statusOf(down, '6102')).toBe('processing');
      expect(targets(down)).toBe(3);
      expect(sum(down, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: '6101' })).toBe(lastOk);
      expect(calls(down, 'OK')).toBe(calls(first, 'OK')); // no success invented while down

      if (outage === 'simulator down') await h.restartSimulator();
      else h.sim!.setFaults('*', []);
      const back = await h.until((s) => pollOk(s, '6101') === 1 && pollOk(s, '6102') === 1, `recovery (${outage})`, 5000);
      expect(select(back, 'aliyun_sas_scan_task_poll_error_info')).toEqual([]);
      expect(statusOf(back, '6101')).toBe('success');
      expect(statusOf(back, '6102')).toBe('processing');
      for (const id of ['6101', '6102']) expect(changed(back, id)).toBe(changed(s0, id));
      expect(sum(back, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: '6101' })).toBeGreaterThan(lastOk);
      expect(targets(back)).toBe(3);
    }
    // A lasting failure is one warning per task, not one per cycle (two outages: two each).
    const lines = (re: RegExp) => h.output.split('\n').filter((l) => re.test(l)).length;
    expect(lines(/msg="poll failed" .*task_id=6101 /)).toBe(2);
    expect(lines(/msg="poll recovered" .*task_id=6101 /)).toBe(2);
  }));

  test('DNS name that does not resolve: code="network", exporter up and ready', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'dns',
      config: () => exporterYaml({ endpoint: 'sas.invalid:443', protocol: 'https', schedule: EVERY_SECOND, extra: FAST, tasks: ['6201'] }),
    });
    const s = await h.until((x) => calls(x, 'network') >= 6 && cyclesFinished(x) >= 3, 'three failed cycles', 10_000);
    expect(await healthy(h)).toBe(true);
    expect((await fetch(`${h.exporter.base}/-/ready`)).status).toBe(200);
    expect(value(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: '6201', class: 'network', code: 'network' })).toBe(1);
    expect(pollOk(s, '6201')).toBe(0);
    expect(statusOf(s, '6201')).toBeUndefined();
    expect(value(s, 'aliyun_sas_scan_task_info', { task_id: '6201' })).toBe(1);
    expect(failures(s)).toBe(cyclesFinished(s));
    expect(h.output).toMatch(/ENOTFOUND|getaddrinfo/);
  }));

  test('credentials rejected (InvalidAccessKeyId.NotFound): counted under its code, not retried, logged once', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'badkey',
      serviceKeys: 'unknown-key',
      scenario: { tasks: [simTask('6301', 'Success', 1), simTask('6302', 'Success', 1)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['6301', '6302'] }),
    });
    const code = 'InvalidAccessKeyId.NotFound';
    // Between cycles every call the simulator saw has been counted by the exporter.
    const s = await h.until((x) => cyclesFinished(x) >= 3 && calls(x, code) === 2 * cyclesFinished(x) && h.sim!.counts().total === calls(x, code), 'three rejected cycles', 10_000);
    const sim = h.sim!.counts();
    expect(sim.signatureFailures).toBe(sim.total);
    expect(sim.byOutcome).toEqual({ [code]: sim.total });
    for (const id of ['6301', '6302']) {
      expect(value(s, 'aliyun_sas_scan_task_poll_error_info', { task_id: id, class: 'api', code })).toBe(1);
      expect(pollOk(s, id)).toBe(0);
      expect(h.output.split('\n').filter((l) => l.includes('msg="poll failed"') && l.includes(`task_id=${id} `)).length).toBe(1);
    }
    expect(h.output).not.toMatch(/msg=retrying/);
    expect(await healthy(h)).toBe(true);
  }));

  test('a status never seen before: unknown stateset 1, logged once (not per cycle)', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'unknown',
      scenario: { tasks: [simTask('6501', 'Success', 1, { faults: [{ kind: 'undocumented_status', status: 'Paused' }] }), simTask('6502', 'Success', 1)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['6501', '6502'] }),
    });
    const s = await h.until((x) => cyclesFinished(x) >= 4, 'four cycles', 10_000);
    expect(select(s, 'aliyun_sas_scan_task_status', { task_id: '6501' }).map((x) => `${x.labels.status}=${x.value}`).sort()).toEqual([
      'failed=0',
      'init=0',
      'processing=0',
      'success=0',
      'unknown=1',
    ]);
    expect(pollOk(s, '6501')).toBe(1);
    expect(h.sim!.counts().byTask['6501']!.total).toBeGreaterThanOrEqual(4);
    const warned = h.output.split('\n').filter((l) => l.includes('undocumented scan status'));
    expect(warned.length).toBe(1);
    expect(warned[0]).toMatch(/task_id=6501 raw_status=Paused/);
    expect(statusOf(s, '6502')).toBe('success');
  }));
});

describe.concurrent('configuration file broken while running', () => {
  const scenario = { tasks: [simTask('6601', 'Processing', 1), simTask('6602', 'Success', 1)] };
  const good = (endpoint: string) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['6601', '6602'] });

  /** The exporter keeps polling: new calls for the active task within a few seconds. */
  async function keepsPolling(h: Rig): Promise<void> {
    h.sim!.resetCounts();
    const t0 = Date.now();
    while ((h.sim!.counts().byTask['6601']?.total ?? 0) < 2) {
      if (Date.now() - t0 > 5000) throw new Error(`no polls while the file was broken:\n${h.output}`);
      await sleep(50);
    }
  }

  test('deleted, truncated to empty, replaced by a directory: running config stays, reload metric 0, polling goes on', withRigs(async (start) => {
    const h = await start({ secrets: 'distinctive', noWatch: false, tag: 'brokenfile', scenario, config: good });
    const s0 = await h.until((s) => statusOf(s, '6601') === 'processing' && statusOf(s, '6602') === 'success', 'first cycle', 5000);
    let ts = sum(s0, RELOAD_TS);
    const cases: { what: string; breakIt: () => Promise<void>; mendIt: () => Promise<void>; says: string }[] = [
      { what: 'deleted', breakIt: () => rm(h.configFile), mendIt: () => writeFile(h.configFile, good(h.endpoint)), says: 'no such file' },
      { what: 'truncated', breakIt: () => writeFile(h.configFile, ''), mendIt: () => writeFile(h.configFile, good(h.endpoint)), says: 'the file is empty' },
      {
        what: 'directory',
        // Back to back: one debounced check sees the directory.
        breakIt: async () => {
          await rm(h.configFile);
          await mkdir(h.configFile);
        },
        mendIt: async () => {
          await rmdir(h.configFile);
          await writeFile(h.configFile, good(h.endpoint));
        },
        says: 'is a directory',
      },
    ];
    for (const [i, c] of cases.entries()) {
      await c.breakIt();
      await h.untilLogged('configuration reload failed', i + 1);
      const line = h.output.split('\n').filter((l) => l.includes('configuration reload failed'))[i]!;
      expect(line, c.what).toContain(h.configFile);
      expect(line, c.what).toContain(c.says);
      await keepsPolling(h);
      const s = await h.scrape();
      expect(sum(s, RELOAD_OK), c.what).toBe(0);
      expect(sum(s, RELOAD_TS), c.what).toBe(ts);
      expect(configuredTaskIds(s), c.what).toEqual(new Set(['6601', '6602']));
      expect(statusOf(s, '6601'), c.what).toBe('processing');
      expect(await healthy(h)).toBe(true);

      // The same content as before comes back: that is a change from "broken", so it reloads.
      await c.mendIt();
      const back = await h.until((x) => sum(x, RELOAD_OK) === 1, `reload after ${c.what}`, 5000);
      expect(sum(back, RELOAD_TS), c.what).toBeGreaterThan(ts);
      ts = sum(back, RELOAD_TS);
    }
    expect(h.exporter.exitCode).toBeNull();
  }));

  test.skipIf(process.getuid?.() === 0)('made unreadable (chmod 000): running config stays, reload metric 0 (skipped as root: chmod denies root nothing)', withRigs(async (start) => {
    const h = await start({ secrets: 'distinctive', noWatch: false, tag: 'chmod', scenario, config: good });
    await h.until((s) => statusOf(s, '6601') === 'processing', 'first cycle', 5000);
    await chmod(h.configFile, 0o000);
    h.sighup(); // a mode change alone is no content change for the watcher
    await h.untilLogged('configuration reload failed', 1);
    expect(h.output).toContain('permission denied');
    await keepsPolling(h);
    expect(sum(await h.scrape(), RELOAD_OK)).toBe(0);
    await chmod(h.configFile, 0o644);
    h.sighup();
    await h.until((x) => sum(x, RELOAD_OK) === 1, 'reload after chmod back', 5000);
  }));
});

describe.concurrent('reload storms and scrapes during reloads', () => {
  test('50 SIGHUPs in a burst: still up, reload metric 1, series count exact', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'storm',
      scenario: { tasks: [simTask('6701', 'Success', 2), simTask('6702', 'Failed', 1), simTask('6703', 'Processing', 1), simTask('6704', 'Success', 3)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['6701', '6702', '6703'] }),
      args: ['--no-config.watch'],
    });
    await h.until((s) => statusOf(s, '6703') === 'processing', 'first cycle', 5000);
    await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['6701', '6702', '6704'] }));
    for (let i = 0; i < 50; i++) h.sighup();
    // Signals may coalesce; each one received is one serialised reload.
    let received = 0;
    for (let stable = 0; stable < 5; ) {
      await sleep(100);
      const now = h.count('SIGHUP received');
      stable = now === received && now > 0 && h.count('msg="configuration reloaded"') === now ? stable + 1 : 0;
      received = now;
    }
    expect(received).toBeGreaterThanOrEqual(1);
    expect(received).toBeLessThanOrEqual(50);
    expect(h.count('configuration reload failed')).toBe(0);
    expect(h.count('added=1 removed=1')).toBe(1); // the first applies the change, the rest find nothing to do
    expect(await healthy(h)).toBe(true);
    const s = await h.until((x) => statusOf(x, '6704') === 'success', 'the added task', 5000);
    expect(sum(s, RELOAD_OK)).toBe(1);
    expect(sum(s, 'aliyun_sas_tasks')).toBe(3);
    // Per task: info 1 + status 5 + targets-by-type 2 + poll_success 1 + last_success 1 + status_change 1 = 11, plus one per target.
    const perTask = select(s, 'aliyun_sas_scan_task_info').length;
    expect(perTask).toBe(3);
    expect(s.filter((x) => x.name.startsWith(TASK_PREFIX)).length).toBe(3 * 11 + (2 + 1 + 3));
    const keys = s.map((x) => `${x.name}${JSON.stringify(x.labels)}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(taskIdsWithSeries(s)).toEqual(new Set(['6701', '6702', '6704']));
  }));

  test('parallel scrapes while two configurations alternate: every scrape complete and valid, its task set exactly one of the two', withRigs(async (start) => {
    const A = ['6801', '6802', '6803', '6804'];
    const B = ['6805', '6806', '6807'];
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'alternate',
      scenario: { tasks: [...A, ...B].map((id, i) => simTask(id, i % 2 ? 'Success' : 'Processing', 1 + (i % 3))) },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: A }),
      args: ['--no-config.watch', '--web.enable-lifecycle'],
    });
    const seen = { A: 0, B: 0, openMetrics: 0, gzip: 0 };
    const problems: string[] = [];
    const check = (body: string, openMetrics: boolean): void => {
      let s: Sample[];
      try {
        s = parseExposition(body);
      } catch (err) {
        problems.push(`unparseable: ${(err as Error).message}`);
        return;
      }
      if (openMetrics ? !body.endsWith('# EOF\n') : !body.endsWith('\n')) problems.push('truncated body');
      const helps = body.split('\n').filter((l) => l.startsWith('# HELP '));
      if (new Set(helps).size !== helps.length) problems.push('a family twice');
      const ids = configuredTaskIds(s);
      const which = sameSet(ids, A) ? 'A' : sameSet(ids, B) ? 'B' : undefined;
      if (!which) return void problems.push(`task set ${[...ids].join(',')} is neither A nor B`);
      seen[which]++;
      for (const id of taskIdsWithSeries(s)) if (!ids.has(id)) problems.push(`series of ${id} without its info (${which})`);
      const gauge = value(s, 'aliyun_sas_tasks');
      if (gauge !== ids.size) problems.push(`aliyun_sas_tasks ${gauge} beside ${ids.size} configured tasks in the same scrape`);
      if (value(s, RELOAD_OK) !== 1) problems.push('reload metric not 1');
    };
    let stop = false;
    const scraper = async (n: number) => {
      const variants = [
        { accept: 'text/plain', encoding: 'identity', om: false },
        { accept: 'application/openmetrics-text; version=1.0.0', encoding: 'identity', om: true },
        { accept: 'text/plain', encoding: 'gzip', om: false },
        { accept: 'application/openmetrics-text; version=1.0.0', encoding: 'gzip', om: true },
      ];
      for (let i = n; !stop; i++) {
        const v = variants[i % variants.length]!;
        const r = await fetch(`${h.exporter.base}/metrics`, { headers: { accept: v.accept, 'accept-encoding': v.encoding } });
        const body = await r.text();
        h.scrapes.push(body);
        if (r.status !== 200) problems.push(`status ${r.status}`);
        if (v.om) seen.openMetrics++;
        if (r.headers.get('content-encoding') === 'gzip') seen.gzip++;
        check(body, v.om);
      }
    };
    const scrapers = [0, 1, 2, 3].map(scraper);
    for (let i = 0; i < 24; i++) {
      await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: i % 2 ? A : B }));
      const r = await fetch(`${h.exporter.base}/-/reload`, { method: 'POST' });
      expect(r.status).toBe(200);
      await sleep(40 + (i % 4) * 30);
    }
    stop = true;
    await Promise.all(scrapers);
    console.info(`scrapes during reloads: ${JSON.stringify(seen)}`);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(seen.A).toBeGreaterThan(10);
    expect(seen.B).toBeGreaterThan(10);
    expect(seen.gzip).toBeGreaterThan(10);
    expect(seen.openMetrics).toBeGreaterThan(10);
    expect(h.count('msg="configuration reloaded"')).toBe(24);
  }));
});

describe.sequential('timed: big answers and the API budget', () => {
  // Timed: runs alone, not beside the concurrent tests above.
  test('TargetInfo of 10,000 targets: 10,000 target_info series, and the scrape stays fast', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'bigtarget',
      scenario: { tasks: [simTask('6401', 'Processing', 10_000), simTask('6402', 'Success', 1)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['6401', '6402'] }),
    });
    const s = await h.until((x) => statusOf(x, '6401') === 'processing' && cyclesFinished(x) >= 2, 'two cycles', 10_000);
    const rows = select(s, 'aliyun_sas_scan_task_target_info', { task_id: '6401' });
    expect(rows.length).toBe(10_000);
    expect(new Set(rows.map((r) => r.labels.target)).size).toBe(10_000);
    expect(value(s, 'aliyun_sas_scan_task_targets', { task_id: '6401', target_type: 'uuid' })).toBe(10_000);
    expect(value(s, 'aliyun_sas_scan_task_targets', { task_id: '6401', target_type: 'groupId' })).toBe(0);
    expect(select(s, 'aliyun_sas_target_info_errors_total').filter((x) => x.value !== 0)).toEqual([]);

    // Scrapes while the exporter keeps re-polling and re-rendering the big task every second.
    const ms: number[] = [];
    for (let i = 0; i < 15; i++) {
      for (const encoding of ['identity', 'gzip']) {
        const t0 = performance.now();
        const r = await fetch(`${h.exporter.base}/metrics`, { headers: { 'accept-encoding': encoding } });
        const body = await r.text();
        ms.push(performance.now() - t0);
        h.scrapes.push(body);
        expect(r.status).toBe(200);
        expect(select(parseExposition(body), 'aliyun_sas_scan_task_target_info', { task_id: '6401' }).length).toBe(10_000);
      }
      await sleep(50);
    }
    ms.sort((a, b) => a - b);
    const median = ms[Math.floor(ms.length / 2)]!;
    console.info(`10k targets: scrape ms median ${median.toFixed(1)}, max ${ms[ms.length - 1]!.toFixed(1)}`);
    expect(median).toBeLessThan(150);
    expect(ms[ms.length - 1]).toBeLessThan(1000);
    expect(statusOf(await h.scrape(), '6402')).toBe('success');
  }));

  test('calls per second never exceed qps + burst', withRigs(async (start) => {
    const tasks = Array.from({ length: 24 }, (_, i) => String(6901 + i));
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'qps',
      scenario: { tasks: tasks.map((id) => simTask(id, 'Success', 1)) },
      config: (endpoint) =>
        exporterYaml({ endpoint, schedule: EVERY_SECOND, tasks, extra: `${FAST}\nconcurrency: 16\nrate_limit: { qps: 4, burst: 3 }` }),
      waitFor: 'healthy',
    });
    await sleep(4500);
    const c = h.sim!.counts();
    const perSecond = c.arrivalsPerSecond.map((x) => x.count);
    // Sliding windows over the arrival times, stricter than whole seconds. The limiter bounds
    // departures; arrivals lag them by a varying delay on a loaded machine, so the bound is
    // checked over a window 100 ms shorter than a second (delays differing by up to 100 ms).
    const maxIn = (windowMs: number): number => {
      let max = 0;
      const times = c.recentArrivalsMs;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (times[i]! - times[j]! >= windowMs) j++;
        max = Math.max(max, i - j + 1);
      }
      return max;
    };
    console.info(`qps 4 + burst 3: per second ${perSecond.join(',')}; max in any 1 s window ${maxIn(1000)}, in any 900 ms window ${maxIn(900)}`);
    expect(maxIn(900)).toBeLessThanOrEqual(4 + 3);
    // The limiter, not concurrency or the schedule, set the pace: the budget was used.
    expect(c.total).toBeGreaterThanOrEqual(3 + 4 * 3);
    expect(c.throttledByQpsLimit).toBe(0);
    const s = await h.scrape();
    expect(sum(s, 'aliyun_sas_api_rate_limit_qps')).toBe(4);
    expect(sum(s, 'aliyun_sas_poll_cycles_total', { result: 'skipped' })).toBeGreaterThanOrEqual(1);
  }));

  test('service qps_limit below the budget: aliyun_sas_api_rate_limit_qps drops, throttled calls are counted, the rate recovers', withRigs(async (start) => {
    const tasks = Array.from({ length: 12 }, (_, i) => String(7001 + i));
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'aimd',
      scenario: { tasks: tasks.map((id) => simTask(id, 'Success', 1)), qps_limit: 2 },
      config: (endpoint) =>
        exporterYaml({
          endpoint,
          schedule: EVERY_SECOND,
          tasks,
          extra: 'request_timeout: 500ms\nretry: { max_attempts: 1 }\nterminal_recheck_interval: 0s\nconcurrency: 4\nrate_limit: { qps: 6, burst: 2 }',
        }),
      waitFor: 'healthy',
    });
    const rates: number[] = [];
    const low = await h.until(
      (s) => {
        rates.push(sum(s, 'aliyun_sas_api_rate_limit_qps'));
        return sum(s, 'aliyun_sas_api_rate_limit_qps') < 6 && calls(s, 'Throttling.User') > 0;
      },
      'the rate to drop',
      10_000,
    );
    expect(sum(low, 'aliyun_sas_api_rate_limit_qps')).toBeLessThanOrEqual(3);
    // Every call the service throttled is counted under its code, and nothing else is.
    const counted = await h.until((s) => calls(s, 'Throttling.User') === h.sim!.counts().throttledByQpsLimit, 'counts to agree', 5000);
    expect(h.sim!.counts().byOutcome['Throttling.User']).toBe(calls(counted, 'Throttling.User'));
    expect(select(counted, 'aliyun_sas_scan_task_poll_error_info').every((x) => x.labels.class === 'throttled' && x.labels.code === 'Throttling.User')).toBe(true);

    h.sim!.setQpsLimit(undefined);
    const t0 = Date.now();
    const back = await h.until((s) => sum(s, 'aliyun_sas_api_rate_limit_qps') === 6, 'the rate to recover', 20_000);
    console.info(`AIMD: rates seen while throttled ${[...new Set(rates)].join(' -> ')}; recovered to 6 in ${Date.now() - t0} ms`);
    const throttled = calls(back, 'Throttling.User');
    await sleep(1000);
    expect(calls(await h.scrape(), 'Throttling.User')).toBe(throttled);
  }));

  test('retry.max_retries_per_cycle bounds the calls of a cycle with many failing tasks', withRigs(async (start) => {
    const tasks = Array.from({ length: 20 }, (_, i) => String(7101 + i));
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'retrybudget',
      scenario: { tasks: tasks.map((id) => simTask(id, 'Success', 1)), faults: [{ kind: 'server_error' }] },
      config: (endpoint) =>
        exporterYaml({
          endpoint,
          schedule: EVERY_SECOND,
          tasks,
          extra:
            'request_timeout: 500ms\nretry: { max_attempts: 3, initial_backoff: 10ms, max_backoff: 20ms, max_retries_per_cycle: 5 }\nterminal_recheck_interval: 0s\nconcurrency: 8\nrate_limit: { qps: 500, burst: 100 }',
        }),
    });
    // Without the budget a cycle would make 20 x 3 = 60 calls; with it 20 + 5.
    const s = await h.until((x) => failures(x) >= 3 && calls(x, 'ServerError') === 25 * failures(x) && h.sim!.counts().total === calls(x, 'ServerError'), 'three whole cycles', 25_000);
    expect(sum(s, 'aliyun_sas_poll_cycle_api_calls')).toBe(25);
    expect(sum(s, 'aliyun_sas_poll_cycle_tasks_polled')).toBe(20);
    expect(cyclesFinished(s)).toBe(failures(s));
    expect(h.count('cycle retry budget spent')).toBeGreaterThan(0);
  }));

  test('terminal tasks are not re-polled before terminal_recheck_interval: tasks_polled falls to the active count', withRigs(async (start) => {
    const terminal = ['7201', '7202', '7203'];
    const active = ['7204', '7205'];
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'terminal',
      scenario: { tasks: [simTask('7201', 'Success', 1), simTask('7202', 'Failed', 1), simTask('7203', 'Success', 1), simTask('7204', 'Processing', 1), simTask('7205', 'init', 1)] },
      config: (endpoint) =>
        exporterYaml({ endpoint, schedule: EVERY_SECOND, tasks: [...terminal, ...active], extra: 'request_timeout: 500ms\nterminal_recheck_interval: 2500ms' }),
    });
    // Track when each task was last polled successfully, as the exporter reports it.
    const polls = new Map<string, number[]>();
    const polled: number[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 6500) {
      const s = await h.scrape();
      polled.push(sum(s, 'aliyun_sas_poll_cycle_tasks_polled'));
      for (const id of [...terminal, ...active]) {
        const at = sum(s, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: id });
        const list = polls.get(id) ?? [];
        if (at > 0 && list[list.length - 1] !== at) list.push(at);
        polls.set(id, list);
      }
      await sleep(50);
    }
    const gaps = (id: string) => polls.get(id)!.slice(1).map((t, i) => t - polls.get(id)![i]!);
    for (const id of terminal) {
      expect(gaps(id).length, id).toBeGreaterThanOrEqual(1); // re-checked once the interval passed...
      for (const g of gaps(id)) expect(g, `${id}: gaps ${gaps(id).join(',')}`).toBeGreaterThanOrEqual(2.5); // ...never before
      expect(h.sim!.counts().byTask[id]!.total).toBeLessThanOrEqual(3);
      expect(statusOf(await h.scrape(), id)).toBe(id === '7202' ? 'failed' : 'success'); // state kept in between
    }
    for (const id of active) expect(polls.get(id)!.length, id).toBeGreaterThanOrEqual(5);
    expect(polled).toContain(active.length);
    expect(Math.max(...polled)).toBe(5);
  }));
});

describe.concurrent('secrets', () => {
  // The shared grep (test/support/secrets.ts) runs as every harness closes:
  // the output at --log.level=debug and every body scraped, for the secret
  // and the token in raw, URL-encoded, JSON, base64 and hex form. Every test
  // in this file gets it; these cases add the paths where an error message
  // could carry them: the service refusing the signature (its message holds
  // the server's string to sign) or the STS token.
  test('the grep finds a secret in any of its forms', () => {
    const c = distinctiveCredentials('selftest');
    for (const secret of secretsOf(c)) {
      for (const text of [`x ${secret} y`, `url?t=${encodeURIComponent(secret)}`, JSON.stringify({ v: secret }), Buffer.from(secret).toString('base64'), `masked ${secret.slice(5, -5)}`]) {
        expect(findLeaks(text, secretsOf(c)), text).not.toEqual([]);
      }
    }
    expect(findLeaks('access_key_id=STS.****abcd nothing here', secretsOf(c))).toEqual([]);
  });

  test.each([
    { serviceKeys: 'same', sts: true, code: 'OK' },
    { serviceKeys: 'same', sts: false, code: 'OK' },
    { serviceKeys: 'wrong-secret', sts: true, code: 'SignatureDoesNotMatch' },
    { serviceKeys: 'wrong-token', sts: true, code: 'InvalidSecurityToken.MismatchWithAccessKey' },
  ] as const)('neither secret nor STS token in the output or /metrics: $serviceKeys key (sts=$sts)', ({ serviceKeys, sts, code }) =>
    withRigs(async (start) => {
      const h = await start({
        secrets: 'distinctive',
        noWatch: false,
        tag: `secret-${serviceKeys}`,
        sts,
        serviceKeys,
        scenario: { tasks: [simTask('7301', 'Success', 1)], faults: [{ kind: 'server_error', times: 2 }] },
        config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, extra: FAST, tasks: ['7301', '7302'] }),
      });
      await h.until((s) => cyclesFinished(s) >= 2 && calls(s, code) > 0, `two cycles with ${code}`, 5000);
      await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: NEVER, extra: FAST, tasks: ['7301'] }));
      h.sighup();
      await h.untilLogged('configuration reloaded', 1);
      await h.scrape();
      expect(h.output).toMatch(/level=debug/);
      expect(h.output).toMatch(/msg="credentials found" provider=/);
      if (code !== 'OK') expect(h.output).toContain(`code=${code}`);
    })(),
  );
});
