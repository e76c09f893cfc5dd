/**
 * The npm package as a user gets it: `npm pack` of a copy of the checkout
 * (which runs the package's prepack: a clean build), the tarball installed
 * globally in a scratch prefix (`npm install -g --prefix`, production
 * dependencies from the npm cache or the registry), then the installed
 * `aliyun-sas-exporter` run from an unrelated working directory: --version,
 * --help, and the demo without --config.file, stopped by its PID.
 *
 * Where: a private copy of what `npm pack` reads (node_modules linked),
 * because the clean build empties dist/, which other test files run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { cp, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { tempDir } from '../support/exporter.js';
import { freePort } from '../support/net.js';
import { parseExposition, select } from '../support/exposition.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** npm's own settings pass through; what the outer `npm test` says about this project does not. */
const KEEP_NPM = /^npm_config_(cache|userconfig|globalconfig|cafile|registry|noproxy|proxy|https_proxy|strict_ssl)$/i;
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(ALIBABA_CLOUD_|ALICLOUD_)/i.test(k) || k === 'INIT_CWD') continue;
    if (/^npm_/i.test(k) && !KEEP_NPM.test(k)) continue;
    env[k] = v;
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): { stdout: string; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd, env: childEnv(), encoding: 'utf8', timeout: timeoutMs });
  const ms = Date.now() - started;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status} after ${ms} ms:\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr, ms };
}

/** What `npm pack` reads from a clone, in a temp dir; node_modules linked, standing in for `npm ci`. */
async function checkout(): Promise<string> {
  const dir = await tempDir('sas-npm-pack-');
  const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const tops = new Set(tsconfig.include.map((g) => g.split('/')[0]!));
  const fileTops = new Set(pkg.files.filter((f) => !f.startsWith('!')).map((f) => f.split('/')[0]!));
  for (const entry of new Set(['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'tsconfig.json', ...tops, ...fileTops])) {
    if (entry === 'dist') continue; // built by prepack
    if (existsSync(path.join(ROOT, entry))) await cp(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Every .ts under src/, as the dist/src/*.js it compiles to. */
function compiledSources(dir = path.join(ROOT, 'src'), rel = 'dist/src'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? compiledSources(path.join(dir, e.name), `${rel}/${e.name}`) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [`${rel}/${e.name.replace(/\.ts$/, '.js')}`] : [],
  );
}

describe('npm package: pack, global install, run from anywhere', () => {
  const timings: Record<string, number> = {};
  let work: string;
  let copy: string;
  let packed: string[] = [];
  let tarball: string;
  let prefix: string;
  let installed: string;
  let bin: string;
  let demo: ChildProcess | undefined;
  let demoExit: number | null | undefined;

  beforeAll(async () => {
    work = await tempDir('sas-npm-');
    copy = await checkout();
    const pack = run('npm', ['pack', '--json', '--pack-destination', work], copy);
    timings.pack_ms = pack.ms;
    const info = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    packed = info[0]!.files.map((f) => f.path).sort();
    tarball = path.join(work, info[0]!.filename);

    prefix = path.join(work, 'prefix');
    // --prefer-offline: production dependencies from the npm cache that `npm ci` filled, the registry only for what it lacks.
    const install = run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], work);
    timings.install_ms = install.ms;
    installed = realpathSync(path.join(prefix, 'lib', 'node_modules', pkg.name));
    bin = path.join(prefix, 'bin', Object.keys(pkg.bin)[0]!);
  }, 240_000);

  afterAll(async () => {
    // Our own demo process, by its PID.
    if (demo?.pid !== undefined && demoExit === undefined) {
      try {
        process.kill(demo.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    console.log(`[npm-package.test] timings: ${JSON.stringify(timings)}`);
    if (copy) await rm(copy, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('prepack is a clean build, so nothing stale from an old dist/ is packed', () => {
    expect(pkg.scripts.prepack).toBe('npm run clean && npm run build');
    expect(pkg.scripts.clean).toContain("rmSync('dist'");
  });

  it('packs the built exporter, the demo configuration, the example configuration and the systemd files; no tests, bench, sources or maps', () => {
    const allowed = (f: string) =>
      f === 'package.json' ||
      f === 'README.md' ||
      f === 'LICENSE' ||
      ['config/exporter.yaml', 'config/demo-scenario.yaml', 'config/exporter.example.yaml'].includes(f) ||
      f.startsWith('deploy/systemd/') ||
      (f.startsWith('dist/src/') && f.endsWith('.js'));
    expect(packed.filter((f) => !allowed(f))).toEqual([]);
    // Exactly the compiled sources: a clean build, nothing missing, nothing stale.
    expect(packed.filter((f) => f.startsWith('dist/'))).toEqual(compiledSources().sort());
    expect(packed).toEqual(expect.arrayContaining([pkg.bin[pkg.name]!, 'LICENSE', 'deploy/systemd/aliyun-sas-exporter.service', 'deploy/systemd/aliyun-sas-exporter.sysusers', 'deploy/systemd/credentials.env.example']));
    // The demo's scenario file, named relative to the demo configuration, is in.
    const demoConfig = parse(readFileSync(path.join(ROOT, 'config/exporter.yaml'), 'utf8')) as { simulator: { scenario: string } };
    expect(packed).toContain(path.posix.join('config', demoConfig.simulator.scenario));
  });

  it('installs only the production dependencies, and links the bin', () => {
    expect(existsSync(bin)).toBe(true);
    expect(realpathSync(bin)).toBe(path.join(installed, pkg.bin[pkg.name]!));
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(path.join(installed, 'node_modules', dep)), dep).toBe(true);
    // Development-only packages (package-lock.json marks them "dev") stay out; @types/node, say, is also a production dependency's.
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.keys(pkg.devDependencies).filter((d) => lock.packages[`node_modules/${d}`]?.dev === true);
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'vitest', '@grafana/grafana-foundation-sdk']));
    for (const dev of devOnly) expect(existsSync(path.join(installed, 'node_modules', dev)), dev).toBe(false);
  });

  it('--version and --help, from an unrelated working directory; --help names the default configuration inside the package', async () => {
    const elsewhere = await tempDir('sas-npm-cwd-');
    try {
      expect(run(bin, ['--version'], elsewhere).stdout).toBe(`${pkg.name} ${pkg.version} (node ${process.version})\n`);
      const help = run(bin, ['--help'], elsewhere).stdout;
      expect(help).toContain(path.join(installed, 'config', 'exporter.yaml'));
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('runs the packaged demo without --config.file from a directory holding no configuration; SIGTERM by PID stops it with 0', { timeout: 60_000 }, async () => {
    const elsewhere = await tempDir('sas-npm-cwd-');
    await mkdir(path.join(elsewhere, 'empty'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let output = '';
    const started = Date.now();
    demo = spawn(bin, [`--web.listen-address=127.0.0.1:${port}`], { cwd: path.join(elsewhere, 'empty'), env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => demo!.on('exit', (code) => resolve((demoExit = code))));
    try {
      for (;;) {
        if (demoExit !== undefined) throw new Error(`the demo exited with ${demoExit}:\n${output}`);
        if (Date.now() - started > 30_000) throw new Error(`not ready within 30 s:\n${output}`);
        if (await fetch(`${base}/-/ready`).then((r) => r.status === 200, () => false)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      timings.demo_ready_ms = Date.now() - started;
      const samples = parseExposition(await (await fetch(`${base}/metrics`)).text());
      const demo = parse(readFileSync(path.join(installed, 'config/exporter.yaml'), 'utf8')) as { accounts: { tasks: unknown[] }[] };
      expect(select(samples, 'aliyun_sas_scan_task_info')).toHaveLength(demo.accounts.reduce((n, a) => n + a.tasks.length, 0));
      expect(select(samples, 'aliyun_sas_scan_task_status').length).toBeGreaterThan(0);
      expect(output).toContain(`msg="configuration loaded" file=${path.join(installed, 'config', 'exporter.yaml')} `);
      expect(output).toContain(path.join(installed, 'config', 'demo-scenario.yaml'));
      expect(output).toContain('DEMO MODE');
    } finally {
      if (demoExit === undefined) process.kill(demo.pid!, 'SIGTERM');
    }
    expect(await exited, output).toBe(0);
    await rm(elsewhere, { recursive: true, force: true });
  });
});
