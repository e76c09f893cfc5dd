/**
 * The README's first command, as a user runs it: `npm start` at the root of
 * a checkout (build, then the exporter on the default configuration, the
 * package's config/exporter.yaml, which embeds the simulator with the demo
 * scenario), with no Alibaba Cloud variables in the environment. Only the listen address is changed, so the
 * test does not need port 9717 free.
 *
 * Where: by default a private copy of what the build and the default
 * configuration read (package.json, tsconfig.json, the directories tsconfig
 * includes, config/; node_modules linked, standing in for `npm ci`), because
 * `npm start` rewrites dist/ and tsc truncates each file before writing it:
 * in the shared repo that would race with every other test file and
 * benchmark that runs dist/ meanwhile. E2E_DEMO_IN_PLACE=1 runs it in the
 * repo root itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ROOT, tempDir } from '../support/exporter.js';
import { freePort } from '../support/net.js';
import { parseExposition, select, statusOf, value, type Sample } from '../support/exposition.js';
import { sleep } from '../support/net.js';

const IN_PLACE = process.env.E2E_DEMO_IN_PLACE === '1';

/** A checkout of what `npm start` needs, in a temp dir. */
async function checkout(): Promise<string> {
  const dir = await tempDir('sas-e2e-demo-');
  const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const tops = new Set(tsconfig.include.map((g) => g.split('/')[0]!));
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'config', ...tops]) {
    if (existsSync(path.join(ROOT, entry))) await cp(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

interface DemoConfig {
  accounts: { name: string; tasks: ({ id: number | string; name: string } | number)[] }[];
}

/** Every process below `ancestor` (Linux /proc): npm runs `sh -c "npm run build && node dist/src/main.js ..."`. */
function descendants(ancestor: number): { pid: number; cmdline: string }[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: { pid: number; cmdline: string }[] = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p !== ancestor) continue;
      try {
        out.push({ pid, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ') });
      } catch {
        /* gone */
      }
      break;
    }
  }
  return out;
}

describe('demo: `npm start` with the shipped default configuration', () => {
  let npm: ChildProcess | undefined;
  let output = '';
  let exitCode: number | null | undefined;
  let copy: string | undefined;

  afterAll(async () => {
    // Our own process group (spawned detached), by its ID: nothing else.
    if (npm?.pid !== undefined && exitCode === undefined) {
      try {
        process.kill(-npm.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (copy) await rm(copy, { recursive: true, force: true });
  });

  test('builds, starts on the embedded simulator, serves the 12 demo tasks, says DEMO MODE and where to look, stops with exit 0', { timeout: 120_000 }, async () => {
    const root = IN_PLACE ? ROOT : (copy = await checkout());
    const demo = parse(readFileSync(path.join(root, 'config/exporter.yaml'), 'utf8')) as DemoConfig;
    expect(demo.accounts.map((a) => a.name)).toEqual(['prod', 'audit']);
    const config = { tasks: demo.accounts[0]!.tasks as { id: number | string; name: string }[] };
    expect(config.tasks).toHaveLength(12);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(ALIBABA_CLOUD_|ALICLOUD_)/i.test(k)) env[k] = v;

    npm = spawn('npm', ['start', '--', `--web.listen-address=127.0.0.1:${port}`], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    npm.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => npm!.on('exit', (code) => resolve((exitCode = code))));

    // tsc first (tens of seconds on a busy 2-core machine), then the first poll cycle.
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`npm start exited with ${exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`not ready within 90 s:\n${output}`);
      const ready = await fetch(`${base}/-/ready`).then((r) => r.status === 200, () => false);
      if (ready) break;
      await sleep(200);
    }

    // The 12 tasks of the prod account of config/exporter.yaml, with their names.
    const expectedInfo = config.tasks.map((t) => `${String(t.id)}|${t.name}`).sort();
    let all: Sample[] = [];
    let samples: Sample[] = [];
    const withStatus = (s: Sample[]) => config.tasks.filter((t) => statusOf(s, String(t.id)) !== undefined).length;
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(200)) {
      all = parseExposition(await (await fetch(`${base}/metrics`)).text());
      samples = all.filter((s) => s.labels.account === undefined || s.labels.account === 'prod');
      if (withStatus(samples) >= 11 && select(all, 'aliyun_sas_virus_scan_machine_info').length === 40) break;
    }
    expect(select(samples, 'aliyun_sas_scan_task_info').map((s) => `${s.labels.task_id}|${s.labels.task_name}`).sort()).toEqual(expectedInfo);
    // Statuses appear: every task but the one the demo denies (NoPermission) has one; the demo starts in init.
    expect(withStatus(samples), output).toBeGreaterThanOrEqual(11);
    expect(config.tasks.map((t) => statusOf(samples, String(t.id)))).toContain('init');
    expect(value(samples, 'aliyun_sas_scan_task_poll_error_info', { task_id: '282843', class: 'api', code: 'NoPermission' })).toBe(1);
    expect(select(samples, 'aliyun_sas_scan_task_info', { task_id: '9007199254740993' })).toHaveLength(1);
    expect(select(samples, 'aliyun_sas_scan_task_target_info').length).toBeGreaterThan(20);
    // The second account: denied everything, its series say so.
    expect(select(all, 'aliyun_sas_scan_task_poll_error_info', { account: 'audit', code: 'NoPermission' })).toHaveLength(2);
    expect(value(all, 'aliyun_sas_virus_scan_latest_poll_success', { account: 'audit' })).toBe(0);
    // The latest virus scan of prod and its 40 machines.
    expect(value(all, 'aliyun_sas_virus_scan_latest_poll_success', { account: 'prod' })).toBe(1);
    expect(select(all, 'aliyun_sas_virus_scan_machine_info', { account: 'prod' })).toHaveLength(40);
    expect(select(all, 'aliyun_sas_account_info').map((s) => s.labels.account)).toEqual(['prod', 'audit']);

    // The log says loudly that this is the simulator, and where to look.
    // No --config.file: the package's own demo, by its absolute path.
    expect(output).toContain(`msg="configuration loaded" file=${path.join(root, 'config/exporter.yaml')} `);
    expect(output).toContain('DEMO MODE');
    expect(output).toContain(`${base}/metrics`);
    expect(output).toMatch(new RegExp(`DEMO MODE: open ${base.replace(/\./g, '\\.')}/metrics`));

    // SIGTERM to the exporter itself (what a supervisor signals); npm then exits with its code.
    const below = descendants(npm.pid!);
    const daemon = below.find((p) => path.basename(p.cmdline.split(' ')[0]!) === 'node' && p.cmdline.includes('dist/src/main.js'));
    expect(daemon, JSON.stringify(below)).toBeDefined();
    const started = Date.now();
    process.kill(daemon!.pid, 'SIGTERM');
    const code = await exited;
    expect(code, output).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(output).toContain('msg="shutting down" signal=SIGTERM');
    expect(output).toContain('msg=stopped');
  });
});
