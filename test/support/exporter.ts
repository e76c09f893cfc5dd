/**
 * Runs the built exporter (dist/src/main.js) as a user would: a child process
 * with flags and environment, on a free loopback port. Keeps everything it
 * wrote, so tests can grep it (for secrets, for log lines).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseExposition, type Sample } from './exposition.js';
import { freePort } from './net.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MAIN = path.join(ROOT, 'dist/src/main.js');

export async function tempDir(prefix = 'sas-e2e-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function writeConfig(dir: string, yaml: string, name = 'exporter.yaml'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, yaml);
  return file;
}

export interface ExporterOptions {
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Wait for /-/ready (default) or only for /-/healthy. */
  waitFor?: 'ready' | 'healthy' | 'none';
  cwd?: string;
}

export class ExporterProcess {
  output = '';
  exitCode: number | null = null;
  /** The signal that ended the process, when one did. */
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<number | null>;
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    // 'close', not 'exit': only then has everything the child wrote been read (a fast exit, such as
    // --help, could otherwise be seen with its output still in the pipe).
    this.exited = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve(code);
      }),
    );
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(opts: ExporterOptions = {}): Promise<ExporterProcess> {
    // A port found free can be taken by another process before the exporter binds it: try another.
    for (let attempt = 1; ; attempt++) {
      const p = ExporterProcess.spawn(await freePort(), opts);
      if (opts.waitFor === 'none') return p;
      try {
        await p.waitUntil(opts.waitFor === 'healthy' ? '/-/healthy' : '/-/ready');
        return p;
      } catch (e) {
        if (attempt >= 3 || p.exitCode === null || !p.output.includes('EADDRINUSE')) throw e;
      }
    }
  }

  private static spawn(port: number, opts: ExporterOptions): ExporterProcess {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) {
      if (v !== undefined) env[k] = v;
    }
    const child = spawn(process.execPath, [MAIN, `--web.listen-address=127.0.0.1:${port}`, ...(opts.args ?? [])], { env, cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    return new ExporterProcess(child, port);
  }

  async waitUntil(pathname: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitCode !== null || this.exitSignal !== null) throw new Error(`exporter exited with ${this.exitCode ?? this.exitSignal}:\n${this.output}`);
      try {
        const r = await fetch(this.base + pathname);
        if (r.ok) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`exporter not ${pathname} within ${timeoutMs} ms:\n${this.output}`);
  }

  async scrape(pathname = '/metrics'): Promise<Sample[]> {
    return parseExposition(await this.scrapeText(pathname));
  }

  async scrapeText(pathname = '/metrics'): Promise<string> {
    const r = await fetch(this.base + pathname);
    if (!r.ok) throw new Error(`scrape answered ${r.status}`);
    return r.text();
  }

  /** Polls the scrape until `predicate` holds. */
  async until(predicate: (s: Sample[]) => boolean, timeoutMs = 20_000, what = 'condition'): Promise<Sample[]> {
    const deadline = Date.now() + timeoutMs;
    let last: Sample[] = [];
    while (Date.now() < deadline) {
      last = await this.scrape();
      if (predicate(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}; last scrape:\n${last.filter((s) => s.name.startsWith('aliyun_sas_scan')).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('\n')}\nlog:\n${this.output}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.exitCode !== null) return this.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 12_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Runs the exporter to completion (for start-up failures) and returns exit code and output. */
export async function runToExit(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 15_000): Promise<{ code: number | null; output: string }> {
  const p = await ExporterProcess.start({ args, env, waitFor: 'none' });
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output };
}
