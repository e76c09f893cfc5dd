/**
 * A real browser for tests: Debian's Chromium, headless, driven by its own
 * command-line switches (one run loads the page once, prints its DOM and
 * writes a screenshot), so no browser-automation library is needed.
 *
 * Every run gets a fresh profile and home in a temp dir, and the switches
 * that keep Chromium off the network (no sync, component updates,
 * background requests, QUIC or proxy). It runs in a process group of its
 * own, whose ID is the PID this helper started: when a run overstays its
 * deadline, or leaves a helper process behind, that group is killed; no
 * other process is touched.
 *
 * Tests get the binary from toolGate(['chromium']) (test/support/prometheus.ts):
 * skipped with the reason outside CI when it is missing, failed in CI.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PageCapture {
  /** The DOM after load, serialised (`--dump-dom`). */
  readonly dom: string;
  /** The viewport as a PNG (`--screenshot`). */
  readonly png: Buffer;
  /** Wall time of the whole run, browser start included. */
  readonly ms: number;
}

export interface CaptureOptions {
  readonly width?: number;
  readonly height?: number;
  readonly timeoutMs?: number;
}

/** The switches every run gets, besides the profile, the size and the outputs. */
export const CHROMIUM_SWITCHES = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-proxy-server',
  '--hide-scrollbars',
] as const;

/** Process groups of runs still going: killed if the test process exits first. */
const live = new Set<number>();
process.once('exit', () => {
  for (const pgid of live) killGroup(pgid);
});

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Loads `url` in headless Chromium once: its DOM and a screenshot of width x height. */
export async function capturePage(chromium: string, url: string, o: CaptureOptions = {}): Promise<PageCapture> {
  const width = o.width ?? 1280;
  const height = o.height ?? 1000;
  const dir = await mkdtemp(path.join(tmpdir(), 'sas-chromium-'));
  const home = path.join(dir, 'home');
  await mkdir(home);
  const shot = path.join(dir, 'page.png');
  const args = [...CHROMIUM_SWITCHES, `--user-data-dir=${path.join(dir, 'profile')}`, `--window-size=${width},${height}`, `--screenshot=${shot}`, '--dump-dom', url];
  const t0 = performance.now();
  try {
    // Nothing of the machine's own home or caches: the whole run lives in `dir`.
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache') };
    const child = spawn(chromium, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const closed = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    const pgid = child.pid;
    if (pgid === undefined) {
      await closed; // rejects with the spawn error
      throw new Error(`cannot start ${chromium}`);
    }
    live.add(pgid);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 100_000) err = err.slice(-50_000);
    });
    const timeoutMs = o.timeoutMs ?? 30_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(pgid);
    }, timeoutMs);
    const code = await closed.finally(() => clearTimeout(timer));
    // A helper Chromium started and left behind (zygote, crash handler) goes with the group.
    if (groupAlive(pgid)) killGroup(pgid);
    live.delete(pgid);
    const tail = () => err.split('\n').slice(-15).join('\n');
    if (timedOut) throw new Error(`chromium did not finish loading ${url} within ${timeoutMs} ms; its last output:\n${tail()}`);
    if (code !== 0) throw new Error(`chromium exited with ${code} loading ${url}; its last output:\n${tail()}`);
    const png = await readFile(shot).catch(() => {
      throw new Error(`chromium wrote no screenshot of ${url}; its last output:\n${tail()}`);
    });
    return { dom: out, png, ms: performance.now() - t0 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
