/**
 * Reloads end to end: the built exporter against the simulator, reloaded by
 * SIGHUP, by POST /-/reload and by changes of the file (in place, by rename,
 * by a Kubernetes ConfigMap symlink swap). Every exporter runs with a
 * distinctive STS secret and token at --log.level=debug; withRigs
 * fails the test if either shows up in its output or in a scraped body
 * (test/support/secrets.ts), or if the exporter logged a bug.
 */
import { mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { describe, expect, test } from 'vitest';
import { tempDir } from '../support/exporter.js';
import { parseExposition, statusOf, value } from '../support/exposition.js';
import type { TestCredentials } from '../support/secrets.js';
import {
  configuredTaskIds,
  cyclesFinished,
  sameSet,
  seriesOf,
  simTask,
  sum,
  taskIdsWithSeries,
  taskSeries,
  withRigs,
} from '../support/rig.js';
import { EVERY_SECOND, NEVER, exporterYaml } from '../support/yaml.js';
import { sleep } from '../support/net.js';

const RELOAD_OK = 'aliyun_sas_exporter_config_last_reload_successful';
const RELOAD_TS = 'aliyun_sas_exporter_config_last_reload_success_timestamp_seconds';

/** Every per-task family of docs (README "Task state"). */
const TASK_FAMILIES = [
  'aliyun_sas_scan_task_info',
  'aliyun_sas_scan_task_status',
  'aliyun_sas_scan_task_target_info',
  'aliyun_sas_scan_task_targets',
  'aliyun_sas_scan_task_poll_success',
  'aliyun_sas_scan_task_poll_error_info',
  'aliyun_sas_scan_task_last_success_timestamp_seconds',
  'aliyun_sas_scan_task_status_change_timestamp_seconds',
];

/** Short timeouts, and terminal tasks polled every cycle like the others. */
const RECHECK_ALWAYS = 'request_timeout: 1s\nretry: { max_attempts: 2, initial_backoff: 20ms, max_backoff: 100ms }\nterminal_recheck_interval: 0s';

/** Polls `f` every 20 ms until it returns true; returns how long that took. */
async function waitFor(f: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

describe('reload by SIGHUP', () => {
  test('added tasks are polled at once, removed ones lose every series, unchanged ones keep their state; a new schedule applies', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'sighup',
      scenario: {
        tasks: [
          simTask('5101', 'Success', 2),
          simTask('5102', 'Failed', 1),
          { ...simTask('5103', 'Success', 1), targets: [{ type: 'groupId', target: '8812', name: 'web' }] },
          simTask('5104', 'Success', 1, { faults: [{ kind: 'no_permission' }] }),
          simTask('5105', 'Processing', 3),
        ],
      },
      config: (endpoint) => exporterYaml({ endpoint, extra: RECHECK_ALWAYS, schedule: NEVER, tasks: ['5101', { id: '5102', name: 'second' }, '5103', '5104'] }),
      args: ['--no-config.watch'],
    });
    const s0 = await h.until((s) => statusOf(s, '5101') === 'success' && statusOf(s, '5102') === 'failed' && statusOf(s, '5103') === 'success', 'first cycle', 15_000);
    // The tasks about to be removed carry every per-task family between them.
    const removedFamilies = new Set(s0.filter((s) => s.labels.task_id === '5103' || s.labels.task_id === '5104').map((s) => s.name));
    expect([...removedFamilies].sort()).toEqual([...TASK_FAMILIES].sort());

    h.sim!.resetCounts();
    await h.writeConfig(exporterYaml({ endpoint: h.endpoint, extra: RECHECK_ALWAYS, schedule: NEVER, tasks: ['5101', { id: '5102', name: 'renamed' }, '5105'] }));
    h.sighup();
    // The schedule is yearly: only "poll added tasks at once" can make this call.
    const tookMs = await waitFor(() => (h.sim!.counts().byTask['5105']?.total ?? 0) >= 1, 3000, 'the added task to be polled');
    expect(tookMs).toBeLessThan(1200);

    const s1 = await h.until((s) => statusOf(s, '5105') === 'processing', 'the added task status', 15_000);
    expect(taskIdsWithSeries(s1)).toEqual(new Set(['5101', '5102', '5105']));
    for (const gone of ['5103', '5104']) expect(s1.filter((s) => s.labels.task_id === gone)).toEqual([]);
    // Unchanged tasks: state carried over, not re-polled (only the added task was).
    expect(seriesOf(s1, '5101')).toEqual(seriesOf(s0, '5101'));
    expect(seriesOf(s1, '5102').filter((l) => !l.startsWith('aliyun_sas_scan_task_info'))).toEqual(seriesOf(s0, '5102').filter((l) => !l.startsWith('aliyun_sas_scan_task_info')));
    expect(value(s1, 'aliyun_sas_scan_task_info', { task_id: '5102' })).toBe(1);
    expect(s1.find((s) => s.name === 'aliyun_sas_scan_task_info' && s.labels.task_id === '5102')?.labels.task_name).toBe('renamed');
    expect(Object.keys(h.sim!.counts().byTask)).toEqual(['5105']);
    expect(sum(s1, 'aliyun_sas_tasks')).toBe(3);
    expect(sum(s1, RELOAD_OK)).toBe(1);
    expect(h.output).toMatch(/msg="configuration reloaded" trigger=SIGHUP tasks=3 added=1 removed=2/);

    // Schedule: yearly -> every second -> yearly, measured at the simulator.
    const changedAt = sum(s1, 'aliyun_sas_scan_task_status_change_timestamp_seconds', { task_id: '5101' });
    const lastOk = sum(s1, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: '5101' });
    h.sim!.resetCounts();
    await sleep(1500);
    expect(h.sim!.counts().total).toBe(0); // before: nothing polls

    await h.writeConfig(exporterYaml({ endpoint: h.endpoint, extra: RECHECK_ALWAYS, schedule: EVERY_SECOND, tasks: ['5101', { id: '5102', name: 'renamed' }, '5105'] }));
    const before = cyclesFinished(await h.scrape());
    h.sighup();
    await h.untilLogged('msg="configuration reloaded"', 2);
    h.sim!.resetCounts();
    await sleep(3000);
    const fast = h.sim!.counts();
    const s2 = await h.scrape();
    expect(cyclesFinished(s2) - before).toBeGreaterThanOrEqual(2);
    expect(fast.total).toBeGreaterThanOrEqual(2 * 3);
    for (const id of ['5101', '5102', '5105']) expect(fast.byTask[id]?.total ?? 0).toBeGreaterThanOrEqual(2);
    // Polled again, same status: the status-change time is the original one.
    expect(sum(s2, 'aliyun_sas_scan_task_status_change_timestamp_seconds', { task_id: '5101' })).toBe(changedAt);
    expect(sum(s2, 'aliyun_sas_scan_task_last_success_timestamp_seconds', { task_id: '5101' })).toBeGreaterThan(lastOk);

    await h.writeConfig(exporterYaml({ endpoint: h.endpoint, extra: RECHECK_ALWAYS, schedule: NEVER, tasks: ['5101', { id: '5102', name: 'renamed' }, '5105'] }));
    h.sighup();
    await h.untilLogged('msg="configuration reloaded"', 3);
    await sleep(1100); // a cycle started by the old ticker just before may still finish
    h.sim!.resetCounts();
    const c3 = cyclesFinished(await h.scrape());
    await sleep(2500);
    expect(h.sim!.counts().total).toBe(0); // after: the every-second ticker is gone
    expect(cyclesFinished(await h.scrape())).toBe(c3);
  }));

  test('bad files are rejected whole: running config and series stay, reload metric 0, file and line logged; a good one restores 1', withRigs(async (start) => {
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'badfile',
      scenario: { tasks: [simTask('5501', 'Success', 2), simTask('5502', 'Failed', 1), simTask('5503', 'Processing', 1), simTask('5599', 'Success', 1)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['5501', '5502'] }),
      args: ['--no-config.watch'],
    });
    const s0 = await h.until((s) => statusOf(s, '5501') === 'success' && statusOf(s, '5502') === 'failed', 'first cycle', 15_000);
    const ts0 = sum(s0, RELOAD_TS);
    expect(sum(s0, RELOAD_OK)).toBe(1);
    expect(ts0).toBeGreaterThan(0);
    const base = exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5501', '5599'] });
    // Each bad file would also add 5599 and drop 5502 if it were half applied.
    const bad: { kind: string; yaml: string; line: number; says: RegExp }[] = [
      { kind: 'YAML syntax', yaml: base + 'concurrency: 2: 3\n', line: base.split('\n').length, says: /YAML syntax/ },
      { kind: 'unknown key', yaml: base + 'bogus_key: 1\n', line: base.split('\n').length, says: /bogus_key: unknown key/ },
      { kind: 'duplicate ID', yaml: base + '  - 5501\n', line: base.split('\n').length, says: /duplicate task ID 5501/ },
      // Valid to node-cron's validate(), refused by its scheduler: once it wedged every later reload.
      { kind: 'a schedule that never fires', yaml: base.replace(`schedule: "${NEVER}"`, 'schedule: "0 0 31W 2 *"'), line: 3, says: /schedule: \\"0 0 31W 2 \*\\" cannot be scheduled/ },
    ];
    for (const [i, b] of bad.entries()) {
      await h.writeConfig(b.yaml);
      h.sighup();
      await h.untilLogged('configuration reload failed', i + 1);
      const s = await h.scrape();
      expect(sum(s, RELOAD_OK), b.kind).toBe(0);
      expect(sum(s, RELOAD_TS), b.kind).toBe(ts0);
      expect(sum(s, 'aliyun_sas_tasks'), b.kind).toBe(2);
      expect(taskSeries(s), b.kind).toEqual(taskSeries(s0));
      const line = h.output.split('\n').filter((l) => l.includes('configuration reload failed'))[i]!;
      expect(line, b.kind).toContain(`${h.configFile}:${b.line}:`);
      expect(line, b.kind).toMatch(b.says);
      expect(line, b.kind).toMatch(/level=error/);
    }
    expect(h.sim!.counts().byTask['5599']).toBeUndefined();

    await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5501', '5503'] }));
    h.sighup();
    const s1 = await h.until((s) => sum(s, RELOAD_OK) === 1 && statusOf(s, '5503') === 'processing', 'the good file', 15_000);
    expect(sum(s1, RELOAD_TS)).toBeGreaterThan(ts0);
    expect(configuredTaskIds(s1)).toEqual(new Set(['5501', '5503']));
    expect(seriesOf(s1, '5501')).toEqual(seriesOf(s0, '5501'));
    // And the next reload is applied as well: nothing is left stuck in the reload queue.
    await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5503'] }));
    h.sighup();
    await h.until((s) => sameSet(configuredTaskIds(s), ['5503']), 'the next good file', 15_000);
    expect(h.output).not.toMatch(/unhandled promise rejection/);
  }));

  test('--web.config.file is reloaded with the rest: basic_auth_users added by SIGHUP guards /metrics', withRigs(async (start) => {
    const webDir = await tempDir('sas-webcfg-');
    const webFile = path.join(webDir, 'web.yaml');
    try {
      await writeFile(webFile, 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n');
      const h = await start({
        secrets: 'distinctive',
        noWatch: false,
        tag: 'webcfg',
        scenario: { tasks: [simTask('5601', 'Success', 1), simTask('5602', 'Failed', 1)] },
        config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['5601'] }),
        args: ['--no-config.watch', `--web.config.file=${webFile}`],
      });
      const get = async (auth?: string) => {
        const r = await fetch(`${h.exporter.base}/metrics`, { headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} });
        const body = await r.text();
        h.scrapes.push(body);
        return { status: r.status, body, frame: r.headers.get('x-frame-options') };
      };
      expect((await get()).status).toBe(200);

      const hash = bcrypt.hashSync('prom-password', 4);
      await writeFile(webFile, `basic_auth_users:\n  prometheus: ${hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n`);
      await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5601', '5602'] }));
      h.sighup();
      await h.untilLogged('msg="configuration reloaded"', 1);
      const denied = await get();
      expect(denied.status).toBe(401);
      expect(denied.frame).toBe('sameorigin');
      expect((await get('prometheus:wrong')).status).toBe(401);
      let ok = await get('prometheus:prom-password');
      for (let i = 0; i < 50 && !/task_id="5602"/.test(ok.body); i++) {
        await sleep(100);
        ok = await get('prometheus:prom-password');
      }
      expect(ok.status).toBe(200);
      expect(ok.body).toMatch(/aliyun_sas_scan_task_status\{task_id="5602",status="failed"\} 1/);

      // A bad web config rejects the whole reload: the task list stays too.
      await writeFile(webFile, `basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n`);
      await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5601'] }));
      h.sighup();
      await h.untilLogged('configuration reload failed', 1);
      expect(h.output).toContain(`${webFile}:2:`);
      const still = await get('prometheus:prom-password');
      expect(still.status).toBe(200);
      const s = parseExposition(still.body);
      expect(sum(s, RELOAD_OK)).toBe(0);
      expect(configuredTaskIds(s)).toEqual(new Set(['5601', '5602']));

      // And back: auth removed, good again.
      await writeFile(webFile, '');
      h.sighup();
      await h.untilLogged('msg="configuration reloaded"', 2);
      const open = await get();
      expect(open.status).toBe(200);
      expect(sum(parseExposition(open.body), RELOAD_OK)).toBe(1);
    } finally {
      await rm(webDir, { recursive: true, force: true });
    }
  }));
});

describe('SIGHUP during start-up', () => {
  test('a SIGHUP while credentials are still being fetched does not kill the exporter; the reload runs once it is up', withRigs(async (start) => {
    // The credential chain's last link, ALIBABA_CLOUD_CREDENTIALS_URI, held open by the test: start-up waits on it.
    let creds: TestCredentials | undefined;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let asked!: () => void;
    const requested = new Promise<void>((r) => (asked = r));
    const uri = createServer((_req, res) => {
      asked();
      void released.then(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ Code: 'Success', AccessKeyId: creds!.accessKeyId, AccessKeySecret: creds!.accessKeySecret, SecurityToken: creds!.securityToken, Expiration: new Date(Date.now() + 3_600_000).toISOString() }));
      });
    });
    await new Promise<void>((r) => uri.listen(0, '127.0.0.1', r));
    const home = await tempDir('sas-home-');
    try {
      const h = await start({
        secrets: 'distinctive',
        noWatch: false,
        tag: 'earlyhup',
        scenario: { tasks: [simTask('5701', 'Success', 1), simTask('5702', 'Failed', 1)] },
        config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['5701'] }),
        args: ['--no-config.watch'],
        waitFor: 'none',
        env: {
          ALIBABA_CLOUD_ACCESS_KEY_ID: undefined,
          ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined,
          ALIBABA_CLOUD_SECURITY_TOKEN: undefined,
          ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
          ALIBABA_CLOUD_CREDENTIALS_URI: `http://127.0.0.1:${(uri.address() as { port: number }).port}/credentials`,
          HOME: home,
        },
      });
      creds = h.creds;
      await Promise.race([requested, sleep(10_000).then(() => Promise.reject(new Error(`no credentials request:\n${h.output}`)))]);
      // The file changes after start-up read it, and the operator asks for a reload.
      await h.writeConfig(exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5701', '5702'] }));
      h.sighup();
      await sleep(300);
      expect(h.exporter.child.signalCode, h.output).toBeNull();
      expect(h.exporter.child.exitCode, h.output).toBeNull();
      release();
      await h.exporter.waitUntil('/-/ready', 10_000);
      const s = await h.until((x) => statusOf(x, '5702') === 'failed', 'the task added by the early reload', 15_000);
      expect(configuredTaskIds(s)).toEqual(new Set(['5701', '5702']));
      expect(h.output).toMatch(/msg="credentials found" /);
      expect(h.output).toMatch(/msg="configuration reloaded" trigger=SIGHUP tasks=2 added=1/);
      expect(h.count('SIGHUP received during start-up')).toBe(1);
    } finally {
      release();
      uri.closeAllConnections();
      await new Promise((r) => uri.close(r));
      await rm(home, { recursive: true, force: true });
    }
  }));
});

describe('reload by POST /-/reload', () => {
  test('works with --web.enable-lifecycle (200, 500 for a bad file) and answers 403 without it', withRigs(async (start) => {
    const scenario = { tasks: [simTask('5201', 'Success', 1), simTask('5202', 'Failed', 2)] };
    const [on, off] = await Promise.all([
      start({ secrets: 'distinctive', noWatch: false, tag: 'lifecycle-on', scenario, config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['5201'] }), args: ['--no-config.watch', '--web.enable-lifecycle'] }),
      start({ secrets: 'distinctive', noWatch: false, tag: 'lifecycle-off', scenario, config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['5201'] }), args: ['--no-config.watch'] }),
    ]);
    const post = async (h: typeof on) => {
      const r = await fetch(`${h.exporter.base}/-/reload`, { method: 'POST' });
      return { status: r.status, body: await r.text() };
    };

    await on.writeConfig(exporterYaml({ endpoint: on.endpoint, schedule: NEVER, tasks: ['5201', '5202'] }));
    const r1 = await post(on);
    expect(r1).toEqual({ status: 200, body: 'Configuration reloaded\n' });
    const s1 = await on.until((s) => statusOf(s, '5202') === 'failed', 'the added task', 15_000);
    expect(sum(s1, RELOAD_OK)).toBe(1);
    expect(on.output).toMatch(/msg="configuration reloaded" trigger=http tasks=2 added=1/);
    expect((await fetch(`${on.exporter.base}/-/reload`)).status).toBe(405);

    await on.writeConfig(exporterYaml({ endpoint: on.endpoint, schedule: NEVER, tasks: ['5201', 'not-a-number'] }));
    const r2 = await post(on);
    expect(r2.status).toBe(500);
    // The answer says where to look, never what the file holds; the log has file and line.
    expect(r2.body).toBe('Failed to reload the configuration; the reason is in the exporter log\n');
    expect(on.output).toContain(`${on.configFile}:`);
    expect(sum(await on.scrape(), RELOAD_OK)).toBe(0);

    await off.writeConfig(exporterYaml({ endpoint: off.endpoint, schedule: NEVER, tasks: ['5201', '5202'] }));
    const r3 = await post(off);
    expect(r3.status).toBe(403);
    expect(r3.body).toMatch(/--web.enable-lifecycle/);
    await sleep(500);
    const s3 = await off.scrape();
    expect(configuredTaskIds(s3)).toEqual(new Set(['5201']));
    expect(off.sim!.counts().byTask['5202']).toBeUndefined();
    expect(off.count('configuration reload')).toBe(0);
  }));
});

describe('reload on file change', () => {
  const reloadsByWatch = (h: { count(n: string): number }) => h.count('msg="configuration reloaded" trigger="file change"');

  test('rewritten in place, replaced by rename; an identical rewrite reloads nothing', withRigs(async (start) => {
    const scenario = { tasks: ['5301', '5302', '5303', '5304'].map((id) => simTask(id, 'Success', 1)) };
    const h = await start({ secrets: 'distinctive', noWatch: false, tag: 'watch', scenario, config: (endpoint) => exporterYaml({ endpoint, schedule: NEVER, tasks: ['5301'] }) });
    await h.until((s) => statusOf(s, '5301') === 'success', 'first cycle', 15_000);
    const inode = (await stat(h.configFile)).ino;

    // In place: same inode, truncated and written.
    await writeFile(h.configFile, exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5301', '5302'] }));
    expect((await stat(h.configFile)).ino).toBe(inode);
    await h.until((s) => sameSet(configuredTaskIds(s), ['5301', '5302']) && statusOf(s, '5302') === 'success', 'in-place rewrite', 15_000);
    expect(reloadsByWatch(h)).toBe(1);

    // Editor style: a new file renamed over the old one.
    const tmp = path.join(h.dir, '.exporter.yaml.swp');
    await writeFile(tmp, exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5301', '5303'] }));
    await rename(tmp, h.configFile);
    expect((await stat(h.configFile)).ino).not.toBe(inode);
    await h.until((s) => sameSet(configuredTaskIds(s), ['5301', '5303']) && statusOf(s, '5303') === 'success', 'rename replace', 15_000);
    expect(reloadsByWatch(h)).toBe(1 + 1);

    // Editor style again, with a backup: old file moved away, new one written, backup deleted.
    await rename(h.configFile, `${h.configFile}~`);
    await writeFile(h.configFile, exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5304'] }));
    await rm(`${h.configFile}~`);
    await h.until((s) => sameSet(configuredTaskIds(s), ['5304']) && statusOf(s, '5304') === 'success', 'backup-and-write', 15_000);

    // The same bytes again (and a stray file in the directory): no reload.
    const reloads = h.count('msg="configuration reloaded"');
    await writeFile(h.configFile, exporterYaml({ endpoint: h.endpoint, schedule: NEVER, tasks: ['5304'] }));
    await writeFile(path.join(h.dir, 'unrelated.txt'), 'x');
    await sleep(800);
    expect(h.count('msg="configuration reloaded"')).toBe(reloads);
    expect(h.count('configuration reload failed')).toBe(0);
    expect(sum(await h.scrape(), RELOAD_OK)).toBe(1);
  }));

  test('Kubernetes ConfigMap: the ..data symlink swapped atomically', withRigs(async (start) => {
    const scenario = { tasks: ['5401', '5402', '5403'].map((id) => simTask(id, 'Success', 1)) };
    let generation = 0;
    let mount = '';
    let endpoint = '';
    /** What the kubelet does: a new timestamped dir, a new symlink renamed over ..data, the old dir removed. */
    const publish = async (tasks: string[]) => {
      const previous = generation > 0 ? `..2026_01_01_00_00_00.${String(generation).padStart(9, '0')}` : undefined;
      generation++;
      const dataDir = `..2026_01_01_00_00_00.${String(generation).padStart(9, '0')}`;
      await mkdir(path.join(mount, dataDir));
      await writeFile(path.join(mount, dataDir, 'exporter.yaml'), exporterYaml({ endpoint, schedule: NEVER, tasks }));
      await symlink(dataDir, path.join(mount, '..data_tmp'));
      await rename(path.join(mount, '..data_tmp'), path.join(mount, '..data'));
      if (previous) await rm(path.join(mount, previous), { recursive: true });
    };
    const h = await start({
      secrets: 'distinctive',
      noWatch: false,
      tag: 'configmap',
      scenario,
      // The harness writes a plain file first; it is turned into the ConfigMap layout below, before any reload.
      config: (ep) => exporterYaml({ endpoint: ep, schedule: NEVER, tasks: ['5401'] }),
      waitFor: 'ready',
    });
    await h.until((s) => statusOf(s, '5401') === 'success', 'first cycle', 15_000);
    mount = h.dir;
    endpoint = h.endpoint;
    // Same content as the running file, as a ConfigMap: exporter.yaml -> ..data/exporter.yaml.
    await publish(['5401']);
    await rm(h.configFile);
    await symlink('..data/exporter.yaml', h.configFile);
    await sleep(800);
    expect(h.count('configuration reload')).toBe(0); // same content: nothing to do

    await publish(['5401', '5402']);
    await h.until((s) => sameSet(configuredTaskIds(s), ['5401', '5402']) && statusOf(s, '5402') === 'success', 'first swap', 15_000);
    await publish(['5403']);
    const s = await h.until((x) => sameSet(configuredTaskIds(x), ['5403']) && statusOf(x, '5403') === 'success', 'second swap', 15_000);
    expect(sum(s, RELOAD_OK)).toBe(1);
    expect(taskIdsWithSeries(s)).toEqual(new Set(['5403']));
    expect(h.count('msg="configuration reloaded" trigger="file change"')).toBe(2);
  }));
});
