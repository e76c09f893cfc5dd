/**
 * bcrypt comparisons off the main thread. bcryptjs is pure JavaScript: on
 * the main thread a cost-14 comparison holds the event loop for about a
 * second in slices, so a flood of wrong passwords delays every answer,
 * health checks included. Here each comparison runs in a worker thread; the
 * main thread only posts the password and the hash and waits for a boolean.
 *
 * The worker's code is given as source (`eval`) and loads bcryptjs by the
 * path resolved here, so the pool works the same from the built files and
 * from the TypeScript sources under test. Workers are unref'd (they never
 * keep the process alive), started on first use, and replaced if one dies;
 * a comparison in a dead worker fails (the request is denied), never hangs.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export type Compare = (password: string, hash: string) => Promise<boolean>;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const loaded = require(workerData.bcryptjs);
const bcrypt = typeof loaded.compareSync === 'function' ? loaded : loaded.default;
parentPort.on('message', (job) => {
  let ok = false;
  let error;
  try {
    ok = bcrypt.compareSync(job.password, job.hash);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  parentPort.postMessage({ id: job.id, ok, error });
});
`;

interface Job {
  readonly id: number;
  readonly password: string;
  readonly hash: string;
  resolve(ok: boolean): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

export class BcryptWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private readonly bcryptPath: string;
  private nextId = 1;
  private closed = false;

  /** `size` workers: comparisons running at once. */
  constructor(private readonly size = 1) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('BcryptWorkerPool: size must be a positive integer');
    this.bcryptPath = createRequire(import.meta.url).resolve('bcryptjs');
  }

  /** Same contract as bcryptjs' compare: true when `password` matches `hash`. */
  readonly compare: Compare = (password, hash) =>
    new Promise<boolean>((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the bcrypt worker pool is closed'));
        return;
      }
      this.waiting.push({ id: this.nextId++, password, hash, resolve, reject });
      this.dispatch();
    });

  /** Comparisons queued or running. */
  get pending(): number {
    return this.waiting.length + this.slots.filter((s) => s.job).length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error('the bcrypt worker pool is closed'));
    const slots = this.slots.splice(0);
    for (const s of slots) {
      s.job?.reject(new Error('the bcrypt worker pool is closed'));
      s.job = undefined;
    }
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => undefined)));
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.waiting.shift()!;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, password: job.password, hash: job.hash });
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptjs: this.bcryptPath }, name: 'bcrypt' });
    worker.unref();
    const slot: Slot = { worker, job: undefined };
    worker.on('message', (m: { id: number; ok: boolean; error?: string }) => {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      slot.job = undefined;
      if (m.error !== undefined) job.reject(new Error(m.error));
      else job.resolve(m.ok === true);
      this.dispatch();
    });
    const lost = (err: Error): void => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      slot.job?.reject(err);
      slot.job = undefined;
      if (!this.closed) this.dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the bcrypt worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }
}
