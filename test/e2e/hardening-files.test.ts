/**
 * Hostile files, end to end, against the built exporter: parse bombs and
 * special files at start (exit 1, one line naming the file, never a stack
 * trace), configurations that cannot work (item 8 of the hardening issue),
 * a configuration symlink swapped to /dev/zero, a FIFO, a huge file or a
 * system file while the file is watched (bounded memory, the reload queue
 * and SIGTERM never blocked, nothing of the file echoed), and the cost of
 * the largest configuration accepted.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExporterProcess, runToExit, tempDir } from '../support/exporter.js';
import { sleep } from '../support/net.js';
import { MemoryWatch } from '../support/proc.js';
import { cyclesFinished, demoEnv, simTask, sum, withRigs, type Rig } from '../support/rig.js';
import { EVERY_SECOND, exporterYaml } from '../support/yaml.js';

const MiB = 1024 * 1024;
const HEAD = 'endpoint: "127.0.0.1:9"\nprotocol: http\n';
const RELOAD_OK = 'aliyun_sas_exporter_config_last_reload_successful';

let dir: string;
beforeAll(async () => {
  dir = await tempDir('sas-e2e-files-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BOMB = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
  'region: cn-shanghai',
  'tasks: [1]',
  '',
].join('\n');

/** What start-up failures must look like: exit 1, quickly, one line on stderr naming the file, no stack. */
function expectOneLineRefusal(r: { code: number | null; output: string }, file: string, reason: RegExp): void {
  expect(r.code, r.output).toBe(1);
  const lines = r.output.split('\n').filter((l) => l.startsWith('aliyun-sas-exporter: '));
  expect(lines, r.output).toHaveLength(1);
  expect(lines[0]).toContain(file);
  expect(lines[0]).toMatch(reason);
  expect(r.output).not.toMatch(/^\s+at /m);
  expect(r.output).not.toMatch(/Maximum call stack|RangeError|TypeError|BUG:/);
  expect(r.output).not.toContain('msg=listening');
  expect(r.output.length).toBeLessThan(4096);
}

describe('start-up: parse bombs, special files, oversized files, configurations that cannot work', () => {
  const cases: Array<{ name: string; make: (file: string) => Promise<void> | void; reason: RegExp; web?: boolean }> = [
    { name: 'an alias bomb', make: (f) => writeFile(f, BOMB), reason: /:2:\d+: aliases expand too much/ },
    { name: '5,000 nested flow sequences', make: (f) => writeFile(f, `${HEAD}tasks:\n  - ${'['.repeat(5000)}1${']'.repeat(5000)}\n`), reason: /:4:1: nested more than 64 levels deep/ },
    { name: '1,000 levels of indentation', make: (f) => writeFile(f, `${HEAD}x:\n${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n')}\n`), reason: /nested more than 64 levels deep/ },
    { name: '5,000 dashes on one line', make: (f) => writeFile(f, `${HEAD}tasks:\n${'- '.repeat(5000)}1\n`), reason: /nested more than 64 levels deep/ },
    { name: 'a FIFO', make: (f) => void execFileSync('mkfifo', [f]), reason: /not a regular file/ },
    { name: '/dev/zero behind a symlink', make: (f) => symlink('/dev/zero', f), reason: /not a regular file/ },
    { name: 'a directory', make: async (f) => void (await import('node:fs/promises')).mkdir(f), reason: /is a directory/ },
    { name: 'a 53 MB file', make: (f) => writeFile(f, Buffer.alloc(53 * 1000 * 1000, 0x61)), reason: /too large: 53000000 bytes, the limit is 1048576/ },
    { name: 'an endpoint port above 65535', make: (f) => writeFile(f, 'endpoint: "127.0.0.1:99999"\ntasks: [1]\n'), reason: /:1:11: endpoint: .*port 99999 is out of range/ },
    { name: 'an endpoint port 0', make: (f) => writeFile(f, 'endpoint: "127.0.0.1:0"\ntasks: [1]\n'), reason: /endpoint: .*port 0 is out of range/ },
    { name: 'an endpoint without a host', make: (f) => writeFile(f, 'endpoint: ":443"\ntasks: [1]\n'), reason: /endpoint: .*the host is missing/ },
    { name: 'a host starting with "-"', make: (f) => writeFile(f, 'endpoint: "-tds.aliyuncs.com"\ntasks: [1]\n'), reason: /endpoint: .*cannot start or end with "-"/ },
    { name: 'a bare 0x10 task ID', make: (f) => writeFile(f, `${HEAD}tasks:\n  - 0x10\n`), reason: /:4:5: tasks\[0\]: task ID "0x10" is not a decimal integer/ },
    { name: 'a bare 1e3 task ID', make: (f) => writeFile(f, `${HEAD}tasks:\n  - 1e3\n`), reason: /:4:5: tasks\[0\]: task ID "1e3" is not a decimal integer/ },
    { name: 'a bare 1.0 task ID', make: (f) => writeFile(f, `${HEAD}tasks:\n  - { id: 1.0 }\n`), reason: /tasks\[0\]\.id: task ID "1\.0" is not a decimal integer/ },
    { name: 'an alias bomb as web configuration', web: true, make: (f) => writeFile(f, BOMB.replace('region: cn-shanghai\ntasks: [1]\n', '')), reason: /invalid web configuration: .*aliases expand too much/ },
    { name: 'a FIFO as web configuration', web: true, make: (f) => void execFileSync('mkfifo', [f]), reason: /invalid web configuration: .*not a regular file/ },
  ];

  // One after another: many node start-ups at once only fight over the CPU.
  test.each(cases)('$name: exit 1 within seconds, one line naming the file, memory bounded', async ({ name, make, reason, web }) => {
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    await make(file);
    const good = path.join(dir, 'good.yaml');
    await writeFile(good, `${HEAD}tasks: [1]\n`);
    const args = web ? [`--config.file=${good}`, `--web.config.file=${file}`] : [`--config.file=${file}`];
    const t0 = Date.now();
    const p = await ExporterProcess.start({ args, env: demoEnv(), waitFor: 'none' });
    const mem = new MemoryWatch(p.child.pid!, 1024, 20);
    const kill = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
    const code = await p.exited;
    clearTimeout(kill);
    const peak = mem.stop();
    const ms = Date.now() - t0;
    expectOneLineRefusal({ code, output: p.output }, file, reason);
    expect(ms).toBeLessThan(10_000);
    expect(peak).toBeLessThan(200); // 0 when it exited before the first sample
  });

  test('several problems: the first line names the file and the first problem, the others follow', async () => {
    const file = path.join(dir, 'several.yaml');
    await writeFile(file, `endpoint: "127.0.0.1:99999"\nprotocol: ftp\ntasks: [0x10]\n`);
    const r = await runToExit([`--config.file=${file}`], demoEnv());
    expect(r.code).toBe(1);
    const first = r.output.split('\n').find((l) => l.startsWith('aliyun-sas-exporter: '))!;
    expect(first).toMatch(new RegExp(`^aliyun-sas-exporter: invalid configuration: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:11: endpoint: `));
    expect(r.output).toContain(`${file}:2:11: protocol: invalid value "ftp"`);
    expect(r.output).toContain(`${file}:3:9: tasks[0]: task ID "0x10"`);
  });
});

// ---------------------------------------------------------------------------

/** Swaps the configuration path to a symlink to `target`, atomically (as Kubernetes swaps a ConfigMap). */
async function pointConfigAt(r: Rig, target: string): Promise<void> {
  const tmp = `${r.configFile}.link-${process.hrtime.bigint()}`;
  await symlink(target, tmp);
  await rename(tmp, r.configFile);
}

describe('the watched configuration swapped to hostile files while the exporter runs', () => {
  test('/dev/zero, a FIFO, a 53 MB file, a system file, a file of secrets: each reload refused in bounded memory and time, polling goes on, nothing of the files echoed; then a good file applies; SIGTERM exits with the FIFO in place', withRigs(async (start) => {
    const r = await start({
      secrets: 'distinctive',
      tag: 'files',
      noWatch: false,
      args: ['--web.enable-lifecycle'],
      scenario: { tasks: [simTask('7101', 'Processing', 2)] },
      config: (endpoint) => exporterYaml({ endpoint, schedule: EVERY_SECOND, tasks: ['7101'] }),
    });
    const goodYaml = exporterYaml({ endpoint: r.endpoint, schedule: EVERY_SECOND, tasks: ['7101'] });
    const good = path.join(r.dir, 'good.yaml');
    await writeFile(good, goodYaml);
    const fifo = path.join(r.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const huge = path.join(r.dir, 'huge.yaml');
    await writeFile(huge, Buffer.alloc(53 * 1000 * 1000, 0x61));
    const secrets = Array.from({ length: 2000 }, (_, i) => `SeCrEt-${i}-${Math.random().toString(36).slice(2)}`);
    const secretFile = path.join(r.dir, 'secrets.yaml');
    await writeFile(secretFile, `${secrets.map((s, i) => `token_${i}: "${s}"`).join('\n')}\nschedule: "${secrets[0]!.repeat(100)}"\n`);
    const systemFile = existsSync('/etc/passwd') ? '/etc/passwd' : undefined;

    const mem = new MemoryWatch(r.exporter.child.pid!);
    const failedReloads = () => r.count('configuration reload failed');
    try {
      await pointConfigAt(r, good);
      for (const [what, target] of [
        ['/dev/zero', '/dev/zero'],
        ['a FIFO', fifo],
        ['a 53 MB file', huge],
        ['a file of secrets', secretFile],
        ...(systemFile ? [['a system file', systemFile]] : []),
      ] as const) {
        const before = failedReloads();
        const cyclesBefore = cyclesFinished(await r.scrape());
        await pointConfigAt(r, target);
        await r.untilLogged('configuration reload failed', before + 1, 10_000);
        // The queue is not blocked: an explicit reload is answered at once, generically.
        const t0 = performance.now();
        const http = await fetch(`${r.exporter.base}/-/reload`, { method: 'POST' });
        const body = await http.text();
        expect(http.status, what).toBe(500);
        expect(body).toBe('Failed to reload the configuration; the reason is in the exporter log\n');
        expect(performance.now() - t0, what).toBeLessThan(5000);
        // Polling and serving go on.
        const s = await r.until((x) => cyclesFinished(x) >= cyclesBefore + 2 && x.some((y) => y.name === RELOAD_OK && y.value === 0), `cycles after ${what}`, 10_000);
        expect(sum(s, 'aliyun_sas_scan_task_poll_success', { task_id: '7101' })).toBe(1);
        const line = r.output.split('\n').filter((l) => l.includes('configuration reload failed')).at(-1)!;
        expect(line).toContain(r.configFile);
        expect(line.length, what).toBeLessThan(10_000);
        // Back to a good file: applied by the watch.
        const okBefore = r.count('configuration reloaded');
        await pointConfigAt(r, good);
        await r.untilLogged('configuration reloaded', okBefore + 1, 10_000);
      }
      // Nothing of the files is reproduced: no value of an unknown key, at most 64 characters of a
      // known key's bad value (the schedule here), no line of the system file.
      for (const s of secrets.slice(1)) expect(r.output).not.toContain(s);
      expect(r.output).not.toContain(secrets[0]!.repeat(4));
      // At most 20 problems listed per failure (each names the key twice: field and message).
      for (const l of r.output.split('\n').filter((x) => x.includes('token_'))) expect(l.match(/token_\d+/g)!.length).toBeLessThanOrEqual(2 * 20);
      if (systemFile) {
        for (const l of readFileSync(systemFile, 'utf8').split('\n').filter((x) => x.length >= 12)) expect(r.output, 'a line of the system file in the log').not.toContain(l);
      }
      await r.until((x) => x.some((y) => y.name === RELOAD_OK && y.value === 1), 'the reload gauge back to 1', 5000);
      // With the FIFO in place again, SIGTERM still exits, at once and cleanly.
      const before = failedReloads();
      await pointConfigAt(r, fifo);
      await r.untilLogged('configuration reload failed', before + 1);
    } finally {
      mem.stop();
    }
    const t0 = Date.now();
    // Exit 0 on its own (the rig's stop() would SIGKILL after 12 s: exit code null).
    expect(await r.exporter.stop()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(mem.killedAtMb).toBeUndefined();
    const peak = Math.max(mem.maxRssMb, mem.hwmMb);
    console.log(`[figures] hostile configuration files while watched: peak RSS ${peak.toFixed(0)} MB`);
    expect(peak).toBeLessThan(250);
  }), 90_000);
});

// ---------------------------------------------------------------------------

describe('the largest configuration accepted', () => {
  test('1 MiB of bare task IDs (the costliest shape to parse) loads in seconds and bounded memory; 1 MiB + 1 byte is refused', withRigs(async (start) => {
    const lines = ['endpoint: "127.0.0.1:9"', 'protocol: http', 'schedule: "0 0 1 1 *"', 'rate_limit: { qps: 1, burst: 1 }', 'tasks:'];
    let size = lines.join('\n').length + 1;
    let id = 1_000_000;
    while (size < MiB - 20) {
      const l = `  - ${id++}`;
      lines.push(l);
      size += l.length + 1;
    }
    const text = `${lines.join('\n')}\n`;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MiB);
    const t0 = Date.now();
    const r = await start({ tag: 'bigconf', config: () => text, waitFor: 'healthy' });
    const mem = new MemoryWatch(r.exporter.child.pid!);
    await r.untilLogged('configuration loaded');
    const loadedMs = Date.now() - t0;
    await sleep(500);
    const peak = mem.stop();
    console.log(`[figures] a ${(Buffer.byteLength(text) / MiB).toFixed(2)} MiB configuration (${id - 1_000_000} bare task IDs): serving after ${loadedMs} ms, peak RSS ${peak.toFixed(0)} MB`);
    expect(loadedMs).toBeLessThan(30_000);
    expect(peak).toBeLessThan(600);

    const over = path.join(r.dir, 'over.yaml');
    await writeFile(over, `${text}${'#'.repeat(MiB + 1 - Buffer.byteLength(text))}`);
    const t1 = Date.now();
    const refused = await runToExit([`--config.file=${over}`], demoEnv());
    expectOneLineRefusal(refused, over, /too large: 1048577 bytes, the limit is 1048576/);
    expect(Date.now() - t1).toBeLessThan(10_000);
  }), 90_000);
});
