/**
 * @module LocalFsBlobStore: bytes on the node's disk under one root directory. Writes go to a
 * `.callfs-tmp-*` file beside the target, are fsynced, then renamed (or linked, for exclusive
 * creates) into place and the directory is fsynced: readers see old or new bytes, never a
 * partial file. Keys are canonical already; every resolved path is still checked to stay under
 * the root with no symlink on the way, so nothing can escape it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { cp, link, lstat, mkdir, open, readdir, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { BlobReadResult, BlobStore, ByteRange, WriteOptions } from '../../ports/blob-store.js';

const TEMP_PREFIX = '.callfs-tmp-';

function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** Maps file-system failures to the port's codes. */
function translate(error: unknown, key: string): unknown {
  if (isAppError(error)) return error;
  switch (errnoOf(error)) {
    case 'ENOENT':
      return new AppError('FILE_NOT_FOUND', `no bytes stored for /${key}`, { cause: error });
    case 'EEXIST':
      return new AppError('FILE_ALREADY_EXISTS', `bytes already stored for /${key}`, { cause: error });
    case 'EISDIR':
      return new AppError('IS_A_DIRECTORY', `/${key} is a directory on disk`, { cause: error });
    case 'ENOTDIR':
      return new AppError('PARENT_NOT_DIRECTORY', `a parent of /${key} is a file on disk`, { cause: error });
    case 'ENOSPC':
    case 'EDQUOT':
      return new AppError('INSUFFICIENT_STORAGE', 'the local disk is full', { cause: error, retryAfterSec: 30 });
    case 'ECONNRESET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
    case 'ABORT_ERR':
      return new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: error });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'EIO':
      return new AppError('STORAGE_UNAVAILABLE', 'the local disk refused the operation', { cause: error });
    default:
      return error;
  }
}

export class LocalFsBlobStore implements BlobStore {
  readonly backendType = 'localfs' as const;
  readonly #root: string;

  constructor(options: { rootPath: string }) {
    this.#root = resolve(options.rootPath);
  }

  async init(): Promise<void> {
    await mkdir(this.#root, { recursive: true });
  }

  /** Absolute path of `key`, refusing anything outside the root or through a symlink. */
  async #resolve(key: string): Promise<string> {
    const full = resolve(this.#root, key);
    const rel = relative(this.#root, full);
    if (rel.startsWith('..') || rel.includes(`${sep}..${sep}`) || (rel !== '' && resolve(this.#root, rel) !== full)) {
      throw new AppError('INVALID_PATH', 'path escapes the storage root');
    }
    let current = this.#root;
    for (const part of rel === '' ? [] : rel.split(sep)) {
      current = join(current, part);
      let info: Stats;
      try {
        info = await lstat(current);
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') break;
        throw translate(error, key);
      }
      if (info.isSymbolicLink()) throw new AppError('INVALID_PATH', 'symbolic links inside the storage root are not followed');
    }
    return full;
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    const target = await this.#resolve(key);
    const dir = dirname(target);
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    let size = 0;
    try {
      await mkdir(dir, { recursive: true });
      const handle = await open(temp, 'wx', 0o644);
      try {
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            size += chunk.length;
            if (options.expectedSize !== undefined && size > options.expectedSize) {
              callback(new AppError('INCOMPLETE_BODY', `body is longer than its Content-Length (${options.expectedSize})`));
              return;
            }
            callback(null, chunk);
          },
        });
        // The source is piped, not handed to pipeline(): on a failure it must not be destroyed,
        // so the HTTP layer can still answer on the same socket (then close it).
        const onSourceError = (error: Error): void => {
          counter.destroy(error);
        };
        body.once('error', onSourceError);
        body.pipe(counter);
        try {
          await pipeline(counter, fileSink(handle), options.signal ? { signal: options.signal } : {});
        } finally {
          body.off('error', onSourceError);
          body.unpipe(counter);
        }
        if (options.expectedSize !== undefined && size !== options.expectedSize) {
          throw new AppError('INCOMPLETE_BODY', `body ended after ${size} of ${options.expectedSize} bytes`);
        }
      } finally {
        await handle.close();
      }
      if (options.exclusive) {
        await link(temp, target);
        await unlink(temp);
      } else {
        await rename(temp, target);
      }
      await this.#syncDirectory(dir);
      return { size };
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw translate(abortReason(error, options.signal), key);
    }
  }

  async read(key: string, options: { range?: ByteRange | undefined; signal?: AbortSignal | undefined } = {}): Promise<BlobReadResult> {
    const path = await this.#resolve(key);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw translate(error, key);
    }
    try {
      const info = await handle.stat();
      if (info.isDirectory()) throw new AppError('IS_A_DIRECTORY', `/${key} is a directory`);
      const range = options.range;
      const stream = createReadStream(path, {
        fd: handle,
        autoClose: true,
        start: range?.start ?? 0,
        ...(range ? { end: range.end } : {}),
        highWaterMark: 256 * 1024,
      });
      return { stream, size: info.size };
    } catch (error) {
      await handle.close();
      throw translate(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    const path = await this.#resolve(key);
    await unlink(path).catch((error: unknown) => {
      if (errnoOf(error) !== 'ENOENT') throw translate(error, key);
    });
  }

  async makeDirectory(key: string): Promise<void> {
    const path = await this.#resolve(key);
    await mkdir(path, { recursive: true }).catch((error: unknown) => {
      throw translate(error, key);
    });
  }

  async removeDirectory(key: string): Promise<void> {
    if (key === '') return;
    const path = await this.#resolve(key);
    await rmdir(path).catch((error: unknown) => {
      const code = errnoOf(error);
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw translate(error, key);
    });
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    const from = await this.#resolve(fromKey);
    const to = await this.#resolve(toKey);
    try {
      await mkdir(dirname(to), { recursive: true });
      await rename(from, to);
    } catch (error) {
      if (errnoOf(error) !== 'EXDEV') throw translate(error, fromKey);
      await cp(from, to, { recursive: true, errorOnExist: false, force: true });
      await rm(from, { recursive: true, force: true });
    }
  }

  async listFiles(olderThan: Date, limit: number): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let names;
      try {
        names = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const dirent of names) {
        if (found.length >= limit) return;
        const full = join(dir, dirent.name);
        if (dirent.isDirectory()) await walk(full);
        else if (dirent.isFile() && !dirent.name.startsWith(TEMP_PREFIX)) {
          const info = await stat(full).catch(() => null);
          if (info !== null && info.mtime < olderThan) found.push(relative(this.#root, full).split(sep).join('/'));
        }
      }
    };
    await walk(this.#root);
    return found;
  }

  async removeStaleTemporaries(olderThan: Date): Promise<number> {
    let removed = 0;
    const walk = async (dir: string): Promise<void> => {
      const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const dirent of names) {
        const full = join(dir, dirent.name);
        if (dirent.isDirectory()) await walk(full);
        else if (dirent.name.startsWith(TEMP_PREFIX)) {
          const info = await stat(full).catch(() => null);
          if (info !== null && info.mtime < olderThan && (await unlink(full).then(() => true, () => false))) removed++;
        }
      }
    };
    await walk(this.#root);
    return removed;
  }

  async ping(): Promise<void> {
    try {
      await stat(this.#root);
    } catch (error) {
      throw new AppError('STORAGE_UNAVAILABLE', 'the local storage root is not accessible', { cause: error });
    }
  }

  async close(): Promise<void> {}

  async #syncDirectory(dir: string): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** A Writable over an open file handle that fsyncs before it finishes (the handle stays open). */
function fileSink(handle: FileHandle): Writable {
  const writeAll = async (buffer: Buffer): Promise<void> => {
    let offset = 0;
    while (offset < buffer.length) {
      const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset);
      offset += bytesWritten;
    }
  };
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      writeAll(chunk).then(() => callback(), callback);
    },
    writev(chunks, callback) {
      writeAll(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => callback(), callback);
    },
    final(callback) {
      handle.sync().then(() => callback(), callback);
    },
  });
}

/** A pipeline aborted by our signal reports AbortError; surface the signal's reason instead. */
function abortReason(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && errnoOf(error) === 'ABORT_ERR' && signal.reason !== undefined) {
    return isAppError(signal.reason) ? signal.reason : new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: signal.reason });
  }
  return error;
}
