/** The simulator CLI as a separate process: its own event loop, CPU and heap. */
import { spawn } from 'node:child_process';
import path from 'node:path';

export interface SimProcess {
  /** host:port for the SDK. */
  readonly endpoint: string;
  readonly pid: number;
  /** Calls answered so far, by outcome code. */
  counts(): Promise<{ total: number; byOutcome: Record<string, number> }>;
  stop(): Promise<void>;
}

export async function startSimProcess(root: string, scenarioFile: string): Promise<SimProcess> {
  const main = path.join(root, 'dist/src/simulator/main.js');
  const proc = spawn(process.execPath, ['--max-old-space-size=2048', main, '--scenario', scenarioFile, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited = false;
  const exit = new Promise<void>((r) => proc.on('exit', () => ((exited = true), r())));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`simulator did not start within 180 s: ${stderr}`)), 180_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /simulator listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`simulator exited at start: ${stderr}`));
    });
  });
  return {
    endpoint: url.replace(/^http:\/\//, ''),
    pid: proc.pid!,
    async counts() {
      const r = await fetch(`${url}/-/simulator/counts`);
      return (await r.json()) as { total: number; byOutcome: Record<string, number> };
    },
    async stop() {
      if (exited) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(t);
    },
  };
}
