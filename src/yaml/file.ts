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
    throw new FileReadError(describeErrno(err as NodeJS.ErrnoException));
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) throw new FileReadError('is a directory');
    if (!st.isFile()) throw new FileReadError('not a regular file (a device, FIFO or socket is never read)');
    if (st.size > maxBytes) throw new FileReadError(`too large: ${st.size} bytes, the limit is ${maxBytes}`);
    // Read to the end rather than trusting the size: the file may grow
    // meanwhile. One chunk past the limit is enough to know it is too large.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, maxBytes + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) throw new FileReadError(`too large: more than ${maxBytes} bytes`);
    }
    return Buffer.concat(chunks, length);
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw new FileReadError(describeErrno(err as NodeJS.ErrnoException));
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
    throw new FileReadError(describeErrno(err as NodeJS.ErrnoException));
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new FileReadError('is a directory');
    if (!st.isFile()) throw new FileReadError('not a regular file (a device, FIFO or socket is never read)');
    if (st.size > maxBytes) throw new FileReadError(`too large: ${st.size} bytes, the limit is ${maxBytes}`);
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, maxBytes + 1 - length));
      const bytesRead = readSync(fd, chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) throw new FileReadError(`too large: more than ${maxBytes} bytes`);
    }
    return Buffer.concat(chunks, length);
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw new FileReadError(describeErrno(err as NodeJS.ErrnoException));
  } finally {
    closeSync(fd);
  }
}
