/**
 * Gzip members (RFC 1952) for the incremental exposition, compressed off the
 * main thread.
 *
 * Node's async zlib.gzip() costs ~150-300 us of main-thread time per call
 * (a stream, its native handle and several thread-pool round trips), more
 * than compressing a 4 KB block takes: hundreds of small blocks would cost
 * the event loop more than one big gzip did. So blocks are batched (packed
 * into one transferred buffer, no copy on the way back either) and
 * compressed with gzipSync in one worker thread; the main thread only packs
 * and unpacks, ~10 us a block. Where a worker cannot start, blocks are
 * compressed inline with gzipSync, between the render's time slices.
 */
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';

export interface Compressor {
  /**
   * One gzip member of `data`. `data` is read before the call returns and
   * not kept: the caller may reuse its bytes at once (the engine hands over
   * a view of its reused render buffer).
   */
  gzip(data: Buffer): Promise<Buffer>;
  /** Starts compressing what is batched so far. */
  flush(): void;
  /** Stops the worker, if any; later calls still work (a new worker starts). */
  close(): Promise<void>;
}

/** gzipSync in the calling thread: tests, and the fallback when no worker can start. */
export class InlineCompressor implements Compressor {
  constructor(private readonly level = 6) {}
  gzip(data: Buffer): Promise<Buffer> {
    try {
      return Promise.resolve(zlib.gzipSync(data, { level: this.level }));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
  flush(): void {}
  async close(): Promise<void> {}
}

// CommonJS, evaluated as the worker's script: no file to locate next to the
// compiled module, so it runs alike from dist/ and from the TypeScript sources.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', (m) => {
  try {
    const input = Buffer.from(m.data);
    const outs = [];
    let total = 0;
    let off = 0;
    for (const len of m.lengths) {
      const o = zlib.gzipSync(input.subarray(off, off + len), { level: m.level });
      off += len;
      total += o.length;
      outs.push(o);
    }
    const out = Buffer.allocUnsafeSlow(total);
    const lengths = [];
    let p = 0;
    for (const o of outs) {
      o.copy(out, p);
      p += o.length;
      lengths.push(o.length);
    }
    parentPort.postMessage({ id: m.id, data: out.buffer, lengths }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.stack) || err) });
  }
});
`;

interface Item {
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
}

interface Reply {
  readonly id: number;
  readonly data?: ArrayBuffer;
  readonly lengths?: number[];
  readonly error?: string;
}

const EMPTY = Buffer.alloc(0);

/** Sends a batch once it holds this many bytes (or on flush()). */
const BATCH_BYTES = 256 * 1024;
const BATCH_ITEMS = 64;

export class WorkerCompressor implements Compressor {
  private worker: Worker | undefined;
  private broken = false;
  private readonly inline: InlineCompressor;
  private batch: Item[] = [];
  /**
   * The batch's bytes, packed as they come: the caller's buffer is free once
   * gzip() returns (no copy of each block kept until the batch leaves), and
   * the packed buffer is handed to the worker as it is.
   */
  private packed: Buffer = EMPTY;
  private readonly lengths: number[] = [];
  private batchBytes = 0;
  private nextId = 1;
  private readonly inFlight = new Map<number, { readonly worker: Worker; readonly items: Item[] }>();

  constructor(private readonly level = 6) {
    this.inline = new InlineCompressor(level);
  }

  gzip(data: Buffer): Promise<Buffer> {
    if (this.broken || data.length === 0) return this.inline.gzip(data);
    if (this.batchBytes + data.length > this.packed.length) {
      // Full: off it goes; a new batch holds BATCH_BYTES, or one larger item alone.
      this.flush();
      if (data.length > this.packed.length) this.packed = Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, data.length));
    }
    data.copy(this.packed, this.batchBytes);
    this.batchBytes += data.length;
    this.lengths.push(data.length);
    return new Promise<Buffer>((resolve, reject) => {
      this.batch.push({ resolve, reject });
      if (this.batchBytes >= BATCH_BYTES || this.batch.length >= BATCH_ITEMS) this.flush();
    });
  }

  flush(): void {
    const items = this.batch;
    if (items.length === 0) return;
    // A batch sent early (the render yields, or an update ends) may fill little of its buffer, and
    // the worker frees what it was handed only at its next GC: then only the bytes in use are sent,
    // and the batch buffer stays for the next batch.
    let packed = this.packed.subarray(0, this.batchBytes);
    if (this.batchBytes < this.packed.length / 2) {
      packed = Buffer.allocUnsafeSlow(this.batchBytes); // its own ArrayBuffer, never a pool slice: it is transferred
      this.packed.copy(packed, 0, 0, this.batchBytes);
    } else {
      this.packed = EMPTY; // transferred below (or compressed inline): the next item starts a new one
    }
    const lengths = this.lengths.splice(0);
    this.batch = [];
    this.batchBytes = 0;
    const w = this.ensureWorker();
    if (!w) {
      let off = 0;
      items.forEach((it, i) => {
        this.inline.gzip(packed.subarray(off, off + lengths[i]!)).then(it.resolve, it.reject);
        off += lengths[i]!;
      });
      return;
    }
    const id = this.nextId++;
    this.inFlight.set(id, { worker: w, items });
    w.ref();
    // A buffer of its own (not a pool slice), handed over without a copy; the worker reads `lengths` of it.
    w.postMessage({ id, data: packed.buffer, lengths, level: this.level }, [packed.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      // Its JavaScript holds a few small objects at a time (the bytes are outside the heap): a small heap, less memory.
      const w = new Worker(WORKER_SOURCE, { eval: true, name: 'exposition-gzip', resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 } });
      w.unref(); // never keeps the process alive while idle; ref'd while a batch is out
      w.on('message', (m: Reply) => this.onReply(w, m));
      w.on('error', (err) => this.fail(w, err));
      w.on('exit', (code) => this.fail(w, new Error(`gzip worker exited with code ${code}`)));
      this.worker = w;
      return w;
    } catch {
      this.broken = true;
      return undefined;
    }
  }

  private onReply(w: Worker, m: Reply): void {
    const items = this.inFlight.get(m.id)?.items;
    if (!items) return;
    this.inFlight.delete(m.id);
    if (![...this.inFlight.values()].some((b) => b.worker === w)) w.unref();
    if (m.error !== undefined || !m.data || !m.lengths) {
      const err = new Error(`gzip worker: ${m.error ?? 'bad reply'}`);
      for (const it of items) it.reject(err);
      return;
    }
    const out = Buffer.from(m.data);
    let off = 0;
    for (let i = 0; i < items.length; i++) {
      const len = m.lengths[i]!;
      items[i]!.resolve(out.subarray(off, off + len));
      off += len;
    }
  }

  /** The worker died: its batches fail (the update that sent them fails; the next one starts a new worker). */
  private fail(w: Worker, err: Error): void {
    if (this.worker === w) this.worker = undefined;
    for (const [id, b] of this.inFlight) {
      if (b.worker !== w) continue;
      this.inFlight.delete(id);
      for (const it of b.items) it.reject(err);
    }
  }
}
