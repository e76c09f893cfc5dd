import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCENARIO, parseListen, runCli } from '../../src/simulator/cli.js';
import { getJson, fixture } from './helpers.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

describe('parseListen', () => {
  it('reads host:port, [v6]:port, :port and port', () => {
    expect(parseListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('localhost:18080')).toEqual({ host: 'localhost', port: 18080 });
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(parseListen(':9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseListen('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseListen('127.0.0.1:99999')).toBeUndefined();
    expect(parseListen('127.0.0.1:x')).toBeUndefined();
  });
});

describe('runCli (in process)', () => {
  it('starts on a free port and prints the URL line', async () => {
    const t = io();
    const r = await runCli(['--scenario', fixture('timeline.yaml'), '--listen', '127.0.0.1:0'], t.io);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    try {
      expect(t.out).toEqual([`simulator listening on ${r.handle.url}`]);
      expect(t.out[0]).toMatch(/^simulator listening on http:\/\/127\.0\.0\.1:\d+$/);
      expect((await getJson(`${r.handle.url}/-/simulator/counts`)).status).toBe(200);
    } finally {
      await r.handle.close();
    }
  });

  it('defaults to the demo scenario', () => {
    expect(existsSync(DEFAULT_SCENARIO)).toBe(true);
    expect(DEFAULT_SCENARIO.endsWith(join('config', 'demo-scenario.yaml'))).toBe(true);
  });

  it('an invalid scenario exits 1 naming file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sim-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, 'tasks:\n  - id: 1\n    status: processing\n');
      const t = io();
      expect(await runCli(['--scenario', file, '--listen', '127.0.0.1:0'], t.io)).toEqual({ ok: false, exitCode: 1 });
      expect(t.err.join('\n')).toContain(`${file}:3:13:`);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('bad arguments exit 2; --help exits 0', async () => {
    expect(await runCli(['--nope'], io().io)).toEqual({ ok: false, exitCode: 2 });
    expect(await runCli(['--listen', 'here'], io().io)).toEqual({ ok: false, exitCode: 2 });
    const t = io();
    expect(await runCli(['--help'], t.io)).toEqual({ ok: false, exitCode: 0 });
    expect(t.out.join('\n')).toMatch(/--scenario/);
  });

  it('a port in use exits 1', async () => {
    const first = await runCli(['--scenario', fixture('timeline.yaml'), '--listen', '127.0.0.1:0'], io().io);
    if (!first.ok) throw new Error('did not start');
    try {
      const t = io();
      expect(await runCli(['--scenario', fixture('timeline.yaml'), '--listen', `127.0.0.1:${first.handle.port}`], t.io)).toEqual({
        ok: false,
        exitCode: 1,
      });
      expect(t.err.join('\n')).toMatch(/cannot listen/);
    } finally {
      await first.handle.close();
    }
  });
});

// The built entry point, when a build at least as new as the sources exists (npm test builds first;
// SIMULATOR_MAIN points elsewhere).
const MAIN = process.env.SIMULATOR_MAIN ?? fileURLToPath(new URL('../../dist/src/simulator/main.js', import.meta.url));
const SOURCES = ['main.ts', 'cli.ts', 'server.ts'].map((f) => fileURLToPath(new URL(`../../src/simulator/${f}`, import.meta.url)));
const built = existsSync(MAIN) && SOURCES.every((s) => statSync(s).mtimeMs <= statSync(MAIN).mtimeMs + 1);

describe.skipIf(!built)('dist/src/simulator/main.js (spawned)', () => {
  it('prints its URL, answers, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [MAIN, '--scenario', fixture('timeline.yaml'), '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const m = /simulator listening on (http:\/\/\S+)/.exec(buf);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
        setTimeout(() => reject(new Error('no URL line within 10s')), 10_000).unref();
      });
      expect((await getJson(`${url}/-/simulator/counts`)).json).toMatchObject({ total: 0 });
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
