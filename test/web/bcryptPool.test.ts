import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BcryptWorkerPool } from '../../src/web/bcryptPool.js';

const pools: BcryptWorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function pool(size = 1): BcryptWorkerPool {
  const p = new BcryptWorkerPool(size);
  pools.push(p);
  return p;
}

/** The longest gap between ticks of a 5 ms interval while `work` runs. */
async function maxLoopGap(work: Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    await work;
  } finally {
    clearInterval(t);
  }
  return worst;
}

describe('BcryptWorkerPool', () => {
  const hash = bcrypt.hashSync('s3cret', 4);

  it('answers like bcryptjs: true for the password, false otherwise, also for $2y$', async () => {
    const p = pool();
    expect(await p.compare('s3cret', hash)).toBe(true);
    expect(await p.compare('nope', hash)).toBe(false);
    expect(await p.compare('s3cret', hash.replace(/^\$2b\$/, '$2y$'))).toBe(true);
  });

  it('keeps the main thread free while a costly comparison runs', async () => {
    const costly = bcrypt.hashSync('pw', 12); // about 0.3 s of bcryptjs
    const p = pool();
    await p.compare('warm-up', hash);
    const t0 = performance.now();
    const gap = await maxLoopGap(Promise.all([p.compare('a', costly), p.compare('b', costly)]));
    const took = performance.now() - t0;
    // Two comparisons one after the other took hundreds of ms; the loop never stopped for long.
    expect(took).toBeGreaterThan(100);
    expect(gap).toBeLessThan(Math.max(50, took / 4));
  });

  it('runs `size` comparisons at once and queues the rest', async () => {
    const p = pool(2);
    const all = Promise.all(Array.from({ length: 6 }, (_, i) => p.compare(i % 2 ? 's3cret' : 'x', hash)));
    expect(p.pending).toBe(6);
    expect(await all).toEqual([false, true, false, true, false, true]);
    expect(p.pending).toBe(0);
  });

  it('a worker that dies fails its comparison (never hangs) and is replaced', async () => {
    const p = pool();
    await p.compare('s3cret', hash);
    const slots = (p as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
    const running = p.compare('s3cret', bcrypt.hashSync('pw', 10));
    await slots[0]!.worker.terminate();
    await expect(running).rejects.toThrow(/exited/);
    expect(await p.compare('s3cret', hash)).toBe(true);
  });

  it('close() fails what waits and stops the workers', async () => {
    const p = new BcryptWorkerPool(1);
    const a = p.compare('s3cret', bcrypt.hashSync('pw', 10)).catch((e: Error) => e);
    const b = p.compare('s3cret', hash).catch((e: Error) => e);
    await p.close();
    expect(await b).toMatchObject({ message: expect.stringMatching(/closed/) });
    expect(await a).toMatchObject({ message: expect.stringMatching(/closed/) });
    await expect(p.compare('s3cret', hash)).rejects.toThrow(/closed/);
  });
});
