import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReadError, readBoundedFile, readBoundedFileSync } from '../../src/yaml/file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sas-file-'));
  await writeFile(path.join(dir, 'small.yaml'), 'a: 1\n');
  await writeFile(path.join(dir, 'big.yaml'), Buffer.alloc(2048, 0x61));
  await mkdir(path.join(dir, 'sub'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  await symlink('/dev/zero', path.join(dir, 'zero'));
  await symlink(path.join(dir, 'fifo'), path.join(dir, 'link-to-fifo'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const readers = {
  async: (f: string, max: number) => readBoundedFile(f, max),
  sync: async (f: string, max: number) => readBoundedFileSync(f, max),
};

describe.each(Object.entries(readers))('bounded file read (%s)', (_name, read) => {
  it('reads a regular file', async () => {
    expect((await read(path.join(dir, 'small.yaml'), 100)).toString()).toBe('a: 1\n');
  });

  it('refuses a file over the limit, saying so in a few words', async () => {
    await expect(read(path.join(dir, 'big.yaml'), 1024)).rejects.toThrow(new FileReadError('too large: 2048 bytes, the limit is 1024'));
  });

  it('refuses a FIFO at once, without waiting for a writer', async () => {
    const t0 = performance.now();
    await expect(read(path.join(dir, 'fifo'), 1024)).rejects.toThrow(/not a regular file/);
    await expect(read(path.join(dir, 'link-to-fifo'), 1024)).rejects.toThrow(/not a regular file/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it.skipIf(!existsSync('/dev/zero'))('refuses a device that never ends (/dev/zero behind a symlink)', async () => {
    await expect(read(path.join(dir, 'zero'), 1024)).rejects.toThrow(/not a regular file/);
  });

  it('names a missing file and a directory', async () => {
    await expect(read(path.join(dir, 'none'), 1024)).rejects.toThrow('no such file');
    await expect(read(path.join(dir, 'sub'), 1024)).rejects.toThrow('is a directory');
  });
});
