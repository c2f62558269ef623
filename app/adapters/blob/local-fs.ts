/**
 * @module LocalFsBlobStore: bytes on the node's disk under one root directory. Writes to a key
 * readers may know go to a `.callfs-tmp-*` file beside the target, are fsynced, then renamed (or
 * linked, for exclusive creates) into place and the directory is fsynced: readers see old or new
 * bytes, never a partial file. A fresh versioned key (`WriteOptions.fresh`) is written in place
 * (open O_EXCL, write, fsync the file, fsync its directory): nobody can read it before the
 * metadata commit names it, so the rename would buy nothing. Directory fsyncs of concurrent
 * writers are shared (group commit), and a directory the store creates is made durable in its
 * parent before anything is written into it. Keys are canonical already; every resolved path is still checked to stay under
 * the root with no symlink on the way, so nothing can escape it.
 */
import { randomBytes } from 'node:crypto';
import { close as fsClose, constants, createReadStream, fstat as fsFstat, fsync, open as fsOpen, writev as fsWritev, type Stats } from 'node:fs';
import { cp, link, lstat, mkdir, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { BlobReadResult, BlobStore, ReadOptions, WriteOptions } from '../../ports/blob-store.js';

const TEMP_PREFIX = '.callfs-tmp-';
const RESERVED_PREFIX = '.callfs-';

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
  /** Directories verified to be real directories (no symlink) under the root. */
  readonly #checkedDirs = new Set<string>();
  /** Directory fsyncs in progress, shared by concurrent writers of one directory. */
  readonly #dirSyncs = new Map<string, DirSync>();
  /** Directories of versioned keys known to exist durably. */
  readonly #durableDirs = new Set<string>();

  constructor(options: { rootPath: string }) {
    this.#root = resolve(options.rootPath);
  }

  async init(): Promise<void> {
    await mkdir(this.#root, { recursive: true });
  }

  /**
   * Absolute path of `key`, refusing anything outside the root or through a symlink. Directories
   * already checked are remembered (briefly), so the hot path does not lstat every component.
   */
  async #resolve(key: string): Promise<string> {
    const full = resolve(this.#root, key);
    const rel = relative(this.#root, full);
    if (rel.startsWith('..') || rel.includes(`${sep}..${sep}`) || (rel !== '' && resolve(this.#root, rel) !== full)) {
      throw new AppError('INVALID_PATH', 'path escapes the storage root');
    }
    // Only the directories on the way are checked: the last component is never followed
    // (reads open it with O_NOFOLLOW; rename, link, unlink and rmdir act on the link itself).
    const parts = rel === '' ? [] : rel.split(sep);
    let current = this.#root;
    for (let i = 0; i < parts.length - 1; i++) {
      current = join(current, parts[i] ?? '');
      if (this.#checkedDirs.has(current)) continue;
      let info: Stats;
      try {
        info = await lstat(current);
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') break;
        throw translate(error, key);
      }
      if (info.isSymbolicLink()) throw new AppError('INVALID_PATH', 'symbolic links inside the storage root are not followed');
      if (info.isDirectory()) this.#rememberDir(current);
    }
    return full;
  }

  #rememberDir(dir: string): void {
    if (this.#checkedDirs.size >= 10_000) this.#checkedDirs.clear();
    this.#checkedDirs.add(dir);
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    if (options.fresh === true) return this.#writeFresh(key, body, options);
    const target = await this.#resolve(key);
    const dir = dirname(target);
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    let sink: FileSink | null = null;
    try {
      sink = new FileSink(await this.#openTemp(dir, temp), options.expectedSize);
      await pump(body, sink, options.signal);
      if (options.exclusive) {
        await link(temp, target);
        await unlink(temp);
      } else {
        await rename(temp, target);
      }
      await this.#syncDirectory(dir);
      return { size: sink.size };
    } catch (error) {
      sink?.destroy();
      await unlink(temp).catch(() => undefined);
      throw translate(abortReason(error, options.signal), key);
    }
  }

  /** A fresh versioned key: written in place, then the file and its directory are fsynced. */
  async #writeFresh(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    const target = await this.#resolve(key);
    const dir = dirname(target);
    await this.#durableDirectory(dir);
    let sink: FileSink | null = null;
    try {
      sink = new FileSink(await openFd(target, 'wx'), options.expectedSize);
      await pump(body, sink, options.signal);
      await this.#syncDirectory(dir);
      return { size: sink.size };
    } catch (error) {
      sink?.destroy();
      await unlink(target).catch(() => undefined);
      throw translate(abortReason(error, options.signal), key);
    }
  }

  /**
   * Makes sure `dir` exists and that its own entry is durable: a directory created here is
   * fsynced into its parent (up to the first one that existed) before files are put in it.
   */
  async #durableDirectory(dir: string): Promise<void> {
    if (this.#durableDirs.has(dir)) return;
    const missing: string[] = [];
    for (let current = dir; current.length > this.#root.length; current = dirname(current)) {
      const exists = await stat(current).then(
        (info) => info.isDirectory(),
        () => false,
      );
      if (exists) break;
      missing.push(current);
    }
    if (missing.length > 0) {
      await mkdir(dir, { recursive: true });
      // Each created directory's entry lives in its parent: sync the parents, deepest first.
      for (const created of missing) await this.#syncDirectory(dirname(created));
    }
    if (this.#durableDirs.size >= 10_000) this.#durableDirs.clear();
    this.#durableDirs.add(dir);
  }

  async read(key: string, options: ReadOptions = {}): Promise<BlobReadResult> {
    const path = await this.#resolve(key);
    let fd: number;
    try {
      fd = await openFd(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (errnoOf(error) === 'ELOOP') throw new AppError('INVALID_PATH', 'symbolic links inside the storage root are not followed');
      throw translate(error, key);
    }
    try {
      const info = await fstatFd(fd);
      if (info.isDirectory()) throw new AppError('IS_A_DIRECTORY', `/${key} is a directory`);
      const range = options.range;
      if (info.size === 0 || (range !== undefined && range.end < range.start)) {
        fsClose(fd, () => undefined);
        return { stream: Readable.from([]), size: info.size };
      }
      // A known end spares the extra read that would only discover end-of-file.
      const stream = createReadStream('', { fd, autoClose: true, start: range?.start ?? 0, end: range?.end ?? info.size - 1 });
      return { stream, size: info.size };
    } catch (error) {
      fsClose(fd, () => undefined);
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
    this.#checkedDirs.clear();
    const path = await this.#resolve(key);
    await rmdir(path).catch((error: unknown) => {
      const code = errnoOf(error);
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw translate(error, key);
    });
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    this.#checkedDirs.clear();
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
        // `.callfs-*` directories hold the node's own data (erasure shards), never user files.
        if (dirent.isDirectory()) {
          // `.callfs/` is the reserved namespace: versioned blobs are referenced by blob key, not by path.
          if (!dirent.name.startsWith(RESERVED_PREFIX) && !(dir === this.#root && dirent.name === '.callfs')) await walk(full);
        } else if (dirent.isFile() && !dirent.name.startsWith(TEMP_PREFIX)) {
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

  /** Opens a new temp file; the directory is made only when it turns out to be missing. */
  async #openTemp(dir: string, temp: string): Promise<number> {
    try {
      return await openFd(temp, 'wx');
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
      await mkdir(dir, { recursive: true });
      return openFd(temp, 'wx');
    }
  }

  /**
   * Makes the renames done in `dir` durable. Concurrent writers in one directory share fsyncs
   * (group commit): a caller waits for a sync that starts after its call, and all callers that
   * arrive while one sync runs share the next one.
   */
  #syncDirectory(dir: string): Promise<void> {
    const state = this.#dirSyncs.get(dir) ?? { running: null, next: null };
    this.#dirSyncs.set(dir, state);
    if (state.running === null) return this.#startDirSync(dir, state);
    state.next ??= state.running
      .catch(() => undefined)
      .then(() => {
        state.next = null;
        return this.#startDirSync(dir, state);
      });
    return state.next;
  }

  #startDirSync(dir: string, state: DirSync): Promise<void> {
    const run = fsyncDirectory(dir).finally(() => {
      if (state.running === run) state.running = null;
      if (state.running === null && state.next === null) this.#dirSyncs.delete(dir);
    });
    state.running = run;
    return run;
  }
}

/**
 * The write side of an upload: a Writable over a numeric file descriptor that counts bytes,
 * enforces the declared length, batches queued chunks into one writev, fsyncs before it
 * finishes and always closes the descriptor.
 */
class FileSink extends Writable {
  size = 0;

  constructor(
    private readonly fd: number,
    private readonly expectedSize: number | undefined,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    for (const b of buffers) this.size += b.length;
    if (this.expectedSize !== undefined && this.size > this.expectedSize) {
      callback(new AppError('INCOMPLETE_BODY', `body is longer than its Content-Length (${this.expectedSize})`));
      return;
    }
    writeAllv(this.fd, buffers, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.expectedSize !== undefined && this.size !== this.expectedSize) {
      callback(new AppError('INCOMPLETE_BODY', `body ended after ${this.size} of ${this.expectedSize} bytes`));
      return;
    }
    fsync(this.fd, (error) => callback(error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    fsClose(this.fd, () => callback(error));
  }
}

/**
 * Pipes `body` into `sink` until the sink finished (its data fsynced). The source is piped, not
 * handed to pipeline(): on a failure it must not be destroyed, so the HTTP layer can still
 * answer on the same socket (then close it).
 */
async function pump(body: Readable, sink: FileSink, signal: AbortSignal | undefined): Promise<void> {
  // finished() below reports the sink's failure; this keeps a late one from going uncaught.
  sink.on('error', () => undefined);
  const onSourceError = (error: Error): void => {
    sink.destroy(error);
  };
  body.on('error', onSourceError);
  body.pipe(sink);
  try {
    await finished(sink, signal ? { signal } : {});
  } finally {
    // A request body can still fail after we are done with it (the client goes away): keep a
    // listener so that late error is not an uncaught exception.
    body.off('error', onSourceError);
    body.on('error', () => undefined);
    body.unpipe(sink);
  }
}

/** writev until every byte is on disk (short writes are continued). */
function writeAllv(fd: number, buffers: Buffer[], callback: (error?: Error | null) => void): void {
  fsWritev(fd, buffers, (error, written) => {
    if (error) return callback(error);
    let rest = written;
    const remaining: Buffer[] = [];
    for (const b of buffers) {
      if (rest >= b.length) rest -= b.length;
      else {
        remaining.push(b.subarray(rest));
        rest = 0;
      }
    }
    if (remaining.length === 0) callback();
    else writeAllv(fd, remaining, callback);
  });
}

const openFd = promisify(fsOpen) as (path: string, flags: string | number) => Promise<number>;
const fsyncFd = promisify(fsync);
const closeFd = promisify(fsClose);

interface DirSync {
  running: Promise<void> | null;
  next: Promise<void> | null;
}

async function fsyncDirectory(dir: string): Promise<void> {
  const fd = await openFd(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}
const fstatFd = promisify(fsFstat) as (fd: number) => Promise<Stats>;

/** A pipeline aborted by our signal reports AbortError; surface the signal's reason instead. */
function abortReason(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && errnoOf(error) === 'ABORT_ERR' && signal.reason !== undefined) {
    return isAppError(signal.reason) ? signal.reason : new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: signal.reason });
  }
  return error;
}
