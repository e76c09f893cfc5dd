import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { watchFiles, type FileWatch } from '../../src/reload.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sas-watch-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(20);
}

describe('watchFiles', () => {
  it('fires once per real change of any watched file, in any directory; not for a rewrite with the same bytes', async () => {
    const a = path.join(dir, 'conf', 'exporter.yaml');
    const b = path.join(dir, 'certs', 'tls.crt');
    await mkdir(path.dirname(a), { recursive: true });
    await mkdir(path.dirname(b), { recursive: true });
    await writeFile(a, 'a');
    await writeFile(b, 'b1');
    let fired = 0;
    const w: FileWatch = watchFiles([{ file: a, maxBytes: 100 }, { file: b, maxBytes: 100 }], () => fired++, silentLogger);
    try {
      await sleep(200);
      await writeFile(b, 'b2');
      await until(() => fired === 1);
      expect(fired).toBe(1);
      await writeFile(b, 'b2'); // same bytes
      await sleep(700);
      expect(fired).toBe(1);
      // Replaced by rename, as editors and Kubernetes do.
      await writeFile(`${a}.tmp`, 'a2');
      await rename(`${a}.tmp`, a);
      await until(() => fired === 2);
      expect(fired).toBe(2);
    } finally {
      w.close();
    }
  });

  it('a special file swapped in is a change (reported by the reload), read without blocking', async () => {
    const d = path.join(dir, 'swap');
    await mkdir(d);
    const target = path.join(d, 'real.yaml');
    const link = path.join(d, 'exporter.yaml');
    await writeFile(target, 'x');
    await symlink(target, link);
    let fired = 0;
    const w = watchFiles([{ file: link, maxBytes: 100 }], () => fired++, silentLogger);
    try {
      await sleep(200);
      await rm(link);
      await symlink('/dev/zero', link);
      await until(() => fired === 1);
      expect(fired).toBe(1);
    } finally {
      w.close();
    }
  });

  it('update() moves the watch to another set of files', async () => {
    const d1 = path.join(dir, 'u1');
    const d2 = path.join(dir, 'u2');
    await mkdir(d1);
    await mkdir(d2);
    const f1 = path.join(d1, 'f');
    const f2 = path.join(d2, 'f');
    await writeFile(f1, '1');
    await writeFile(f2, '1');
    let fired = 0;
    const w = watchFiles([{ file: f1, maxBytes: 10 }], () => fired++, silentLogger);
    try {
      w.update([{ file: f2, maxBytes: 10 }]);
      await sleep(200);
      await writeFile(f1, '2');
      await sleep(700);
      expect(fired).toBe(0);
      await writeFile(f2, '2');
      await until(() => fired === 1);
      expect(fired).toBe(1);
    } finally {
      w.close();
    }
  });

  it('a change made before update() is still seen: files already watched keep their fingerprint', async () => {
    const d = path.join(dir, 'keep');
    await mkdir(d);
    const conf = path.join(d, 'exporter.yaml');
    const cert = path.join(d, 'tls.crt');
    await writeFile(conf, 'v1');
    await writeFile(cert, 'c1');
    let fired = 0;
    const w = watchFiles([{ file: conf, maxBytes: 10 }], () => fired++, silentLogger);
    try {
      await w.ready;
      await writeFile(conf, 'v2'); // changed while, say, a reload ran...
      w.update([{ file: conf, maxBytes: 10 }, { file: cert, maxBytes: 10 }]); // ...which then called update()
      await until(() => fired === 1);
      expect(fired).toBe(1);
      await writeFile(cert, 'c2');
      await until(() => fired === 2);
      expect(fired).toBe(2);
    } finally {
      w.close();
    }
  });
});
