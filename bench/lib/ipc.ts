/**
 * Request/response over a forked child's IPC channel. Each phase of the
 * bench runs in its own child process, so the process under test holds only
 * what the exporter would hold (not the orchestrator's data), and a fresh
 * heap starts every phase.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly args?: unknown;
}
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;
  readonly exit: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    proc.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${name}: ${m.error}`));
    });
    this.exit = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error(`${name} exited (code ${code}, signal ${signal}) with a call pending`));
        this.pending.clear();
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Forks `script` with `--expose-gc` (heap after GC is one of the figures). */
  static start(name: string, script: string, execArgv: readonly string[] = []): Child {
    const proc = fork(script, [], { execArgv: ['--expose-gc', ...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Child(name, proc);
  }

  call<T>(cmd: string, args?: unknown, timeoutMs = 600_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, cmd, args } satisfies Request);
    });
  }

  /** Asks the child to exit; kills it (by its own pid) if it does not within 5 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.call('exit', undefined, 5_000).catch(() => undefined);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await this.exit;
    clearTimeout(timer);
  }
}

export type Handlers = Record<string, (args: never) => unknown>;

/** Child side: answers the parent's calls with `handlers`; `exit` ends the process. */
export function serve(handlers: Handlers): void {
  process.on('message', (m: Request) => {
    const reply = (r: Reply) => process.send?.(r);
    if (m.cmd === 'exit') {
      reply({ id: m.id, ok: true, result: null });
      setImmediate(() => process.exit(0));
      return;
    }
    const h = handlers[m.cmd];
    if (!h) {
      reply({ id: m.id, ok: false, error: `unknown command ${m.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => h(m.args as never))
      .then(
        (result) => reply({ id: m.id, ok: true, result: result ?? null }),
        (err: unknown) => reply({ id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The parent went away: do not linger.
  process.on('disconnect', () => process.exit(0));
}

/** Memory figures of this process, optionally after a full GC. */
export function memory(gc: boolean): { rssMb: number; heapUsedMb: number; heapTotalMb: number; externalMb: number; arrayBuffersMb: number } {
  const g = (globalThis as { gc?: () => void }).gc;
  if (gc && g) {
    g();
    g();
  }
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers) };
}
