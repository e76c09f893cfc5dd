/**
 * The worker compressor reads each block as gzip() is called: the engine
 * hands it a view of its reused render buffer and overwrites it at once.
 */
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerCompressor } from '../../src/metrics/compressor.js';

const c = new WorkerCompressor(6);
afterAll(() => c.close());

describe('WorkerCompressor', () => {
  it('compresses what the buffer held at the call, whatever it holds afterwards; small, batched and oversized items alike', async () => {
    const scratch = Buffer.alloc(600 * 1024);
    const sizes = [1, 100, 4096, 32 * 1024, 200 * 1024, 300 * 1024, 600 * 1024, 7, 64 * 1024];
    const wanted: Buffer[] = [];
    const done: Promise<Buffer>[] = [];
    sizes.forEach((n, i) => {
      const view = scratch.subarray(0, n);
      for (let j = 0; j < n; j++) view[j] = 97 + ((i * 7 + j) % 26);
      wanted.push(Buffer.from(view));
      done.push(c.gzip(view));
      scratch.fill(0x21); // reused at once, as the engine does
      if (i === 3) c.flush(); // a batch sent early, mostly empty
    });
    c.flush();
    const got = await Promise.all(done);
    got.forEach((gz, i) => expect(gunzipSync(gz).equals(wanted[i]!)).toBe(true));
  });
});
