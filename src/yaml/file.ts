/**
 * Reads a file the exporter was told to read (configuration, web
 * configuration, certificates, scenarios) without trusting what is there:
 * only a regular file, at most `maxBytes`, opened so that a FIFO or a device
 * swapped in its place can neither block the thread pool nor stream forever.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

const READ_CHUNK = 64 * 1024;

export class FileReadError extends Error {
  override readonly name = 'FileReadError';
}

/** What users see for the usual errno values; anything else by its code. */
function describeErrno(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    default:
      return err.code ?? err.message;
  }
}

/** An error of the file system as a FileReadError (one already is passes through). */
function asReadError(err: unknown): FileReadError {
  return err instanceof FileReadError ? err : new FileReadError(describeErrno(err as NodeJS.ErrnoException));
}

/** Refuses what is not a regular file of at most `maxBytes` (from the opened file's own stat). */
function refuseUnreadable(st: { isDirectory(): boolean; isFile(): boolean; size: number }, maxBytes: number): void {
  if (st.isDirectory()) throw new FileReadError('is a directory');
  if (!st.isFile()) throw new FileReadError('not a regular file (a device, FIFO or socket is never read)');
  if (st.size > maxBytes) throw new FileReadError(`too large: ${st.size} bytes, the limit is ${maxBytes}`);
}

/**
 * Reads to the end rather than trusting the size (the file may grow
 * meanwhile), one chunk at a time; one chunk past the limit is enough to
 * know it is too large.
 */
class BoundedChunks {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  constructor(private readonly maxBytes: number) {}
  /** A buffer for the next read. */
  next(): Buffer {
    return Buffer.allocUnsafe(Math.min(READ_CHUNK, this.maxBytes + 1 - this.length));
  }
  /** Takes the bytes read into `chunk`; false at the end of the file. */
  took(chunk: Buffer, bytesRead: number): boolean {
    if (bytesRead === 0) return false;
    this.chunks.push(chunk.subarray(0, bytesRead));
    this.length += bytesRead;
    if (this.length > this.maxBytes) throw new FileReadError(`too large: more than ${this.maxBytes} bytes`);
    return true;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/**
 * The bytes of `file`. Fails with a FileReadError whose message says why in a
 * few words (never the content): missing, unreadable, not a regular file,
 * larger than `maxBytes`.
 */
export async function readBoundedFile(file: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw asReadError(err);
  }
  try {
    refuseUnreadable(await handle.stat(), maxBytes);
    const read = new BoundedChunks(maxBytes);
    for (;;) {
      const chunk = read.next();
      if (!read.took(chunk, (await handle.read(chunk, 0, chunk.length, null)).bytesRead)) return read.bytes();
    }
  } catch (err) {
    throw asReadError(err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * The synchronous form, for callers that cannot wait (tests, tools, a PEM
 * file named by a web configuration parsed in one go). Same checks, made on
 * the opened file itself (O_NONBLOCK, then fstat), so a FIFO or device
 * swapped in between a check and the read can never block the thread.
 */
export function readBoundedFileSync(file: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw asReadError(err);
  }
  try {
    refuseUnreadable(fstatSync(fd), maxBytes);
    const read = new BoundedChunks(maxBytes);
    for (;;) {
      const chunk = read.next();
      if (!read.took(chunk, readSync(fd, chunk, 0, chunk.length, null))) return read.bytes();
    }
  } catch (err) {
    throw asReadError(err);
  } finally {
    closeSync(fd);
  }
}
