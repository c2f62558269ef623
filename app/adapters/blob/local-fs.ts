/**
 * @module LocalFsBlobStore: bytes on the node's disk under one root directory. Writes go to a
 * `.callfs-tmp-*` file beside the target, are fsynced, then renamed (or linked, for exclusive
 * creates) into place and the directory is fsynced: readers see old or new bytes, never a
 * partial file. A fresh versioned key (`WriteOptions.fresh`) is written in place (O_EXCL, fsync
 * the file and its directory): nobody reads it before the metadata commit names it, so a rename
 * would buy nothing. Nothing the store opens can be outside the root or reached through a symbolic
 * link, checked at every operation (a kept descriptor of a versioned blob, see open-blobs.ts, is
 * checked against its path before each use): on Linux each operation opens its
 * directory (or file) without following a link in the last component, checks through
 * `/proc/self/fd` that the descriptor is the very path under the root it asked for, and then acts
 * on names inside that descriptor, so swapping a directory for a link in between changes nothing.
 * Where `/proc` is missing, every component is checked with lstat on each operation. Files are
 * created 0600 and directories 0700: stored bytes are readable by the node's user only.
 */
import { randomBytes } from 'node:crypto';
import { close as fsClose, constants, createReadStream, existsSync, fstat as fsFstat, fsync, open as fsOpen, writev as fsWritev, type Dirent, type Stats } from 'node:fs';
import { cp, link, lstat, mkdir, readdir, readlink, realpath, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { BlobReadResult, BlobStore, ListFilesOptions, ReadOptions, WriteOptions } from '../../ports/blob-store.js';
import { isBlobKey } from '../../domain/blob-key.js';
import { OpenBlobs } from './open-blobs.js';

const TEMP_PREFIX = '.callfs-tmp-';
/** Stored files and directories are the node user's alone. */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
const PROC_FD = '/proc/self/fd';
const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const SYMLINK_REFUSED = 'symbolic links inside the storage root are not followed';

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
    case 'ELOOP':
      return new AppError('INVALID_PATH', SYMLINK_REFUSED, { cause: error });
    case 'ENAMETOOLONG':
      return new AppError('INVALID_PATH', 'the path is too long for the local disk', { cause: error });
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

/** The names of a key; refuses empty, `.` and `..` names (keys are canonical, this is the last guard). */
function namesOf(key: string): string[] {
  if (key === '') return [];
  const names = key.split('/');
  if (names.some((name) => name === '' || name === '.' || name === '..')) throw new AppError('INVALID_PATH', 'path escapes the storage root');
  return names;
}

/** The directory names of a key and its last name. */
function splitKey(key: string): { dir: string[]; name: string } {
  const names = namesOf(key);
  const name = names.pop();
  if (name === undefined) throw new AppError('INVALID_PATH', 'the storage root itself is not a file');
  return { dir: names, name };
}

/** A directory under the root, opened for one operation. */
interface DirHandle {
  /** Names inside the directory are `${path}/${name}`: on Linux its /proc/self/fd entry, never re-resolved. */
  readonly path: string;
  /** Its path under the real root (identifies it for shared directory fsyncs). */
  readonly realPath: string;
  /** Makes the directory's entries durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export class LocalFsBlobStore implements BlobStore {
  readonly backendType = 'localfs' as const;
  readonly #root: string;
  #ready: Promise<void> | null = null;
  /** The root with every link in the configured path resolved. */
  #realRoot = '';
  /** The root, held open while the store is (Linux): walks start from it. */
  #rootFd: number | null = null;
  /** Directory fsyncs in progress, shared by concurrent writers of one directory. */
  readonly #dirSyncs = new Map<string, DirSync>();
  /** Directories of versioned keys whose entries are known to be durable. */
  readonly #durableDirs = new Set<string>();
  /** Descriptors of versioned blobs kept between reads (checked against their path on every use). */
  readonly #openBlobs = new OpenBlobs();

  constructor(options: { rootPath: string }) {
    this.#root = resolve(options.rootPath);
  }

  init(): Promise<void> {
    this.#ready ??= this.#setUp();
    return this.#ready;
  }

  async #setUp(): Promise<void> {
    await mkdir(this.#root, { recursive: true, mode: DIRECTORY_MODE });
    this.#realRoot = await realpath(this.#root);
    if (existsSync(PROC_FD)) this.#rootFd = await openFd(this.#realRoot, constants.O_RDONLY | constants.O_DIRECTORY);
  }

  /**
   * Opens the directory of `names` under the root (creating missing ones, 0700, when `create`),
   * refusing a symbolic link anywhere on the way (INVALID_PATH). Throws raw errno errors otherwise.
   */
  async #openDir(names: readonly string[], create: boolean): Promise<DirHandle> {
    await this.init();
    const expected = join(this.#realRoot, ...names);
    if (this.#rootFd === null) return this.#checkDirByPath(names, expected, create);
    // One open and one readlink when the directory exists and its path fits PATH_MAX.
    try {
      const fd = await openFd(expected, DIRECTORY_FLAGS);
      return await this.#verifiedDir(fd, expected);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT' && !create) throw error;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG') throw error;
    }
    return this.#walk(names, expected, create);
  }

  /** Opens `names` one at a time, each inside the descriptor of the one before: no link is ever followed. */
  async #walk(names: readonly string[], expected: string, create: boolean): Promise<DirHandle> {
    // The root's own descriptor entry is a link by design: followed here, and only here.
    let fd = await openFd(`${PROC_FD}/${String(this.#rootFd)}`, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      for (const name of names) {
        const at = `${PROC_FD}/${fd}/${name}`;
        let next: number;
        try {
          next = await openFd(at, DIRECTORY_FLAGS);
        } catch (error) {
          const code = errnoOf(error);
          if (code === 'ENOTDIR' || code === 'ELOOP') {
            const info = await lstat(at).catch(() => null);
            if (info?.isSymbolicLink() === true) throw new AppError('INVALID_PATH', SYMLINK_REFUSED);
          }
          if (code !== 'ENOENT' || !create) throw error;
          await mkdir(at, { mode: DIRECTORY_MODE }).catch((mkdirError: unknown) => {
            if (errnoOf(mkdirError) !== 'EEXIST') throw mkdirError;
          });
          next = await openFd(at, DIRECTORY_FLAGS);
        }
        await closeFd(fd);
        fd = next;
      }
    } catch (error) {
      await closeFd(fd).catch(() => undefined);
      throw error;
    }
    return descriptorHandle(fd, expected);
  }

  /** The descriptor is the directory at `expected` (no link on the way, not deleted since), or it is closed and refused. */
  async #verifiedDir(fd: number, expected: string): Promise<DirHandle> {
    await this.#verify(fd, expected);
    return descriptorHandle(fd, expected);
  }

  async #verify(fd: number, expected: string): Promise<void> {
    let actual: string;
    try {
      actual = await readlink(`${PROC_FD}/${fd}`);
    } catch (error) {
      await closeFd(fd).catch(() => undefined);
      throw error;
    }
    if (actual === expected) return;
    await closeFd(fd).catch(() => undefined);
    if (actual === `${expected} (deleted)`) throw Object.assign(new Error(`${expected} was removed while being opened`), { code: 'ENOENT' });
    throw new AppError('INVALID_PATH', SYMLINK_REFUSED);
  }

  /** Without /proc: every component is checked with lstat, on every call. */
  async #checkDirByPath(names: readonly string[], expected: string, create: boolean): Promise<DirHandle> {
    let current = this.#realRoot;
    for (const name of names) {
      current = join(current, name);
      let info: Stats;
      try {
        info = await lstat(current);
      } catch (error) {
        if (errnoOf(error) !== 'ENOENT' || !create) throw error;
        await mkdir(current, { mode: DIRECTORY_MODE }).catch((mkdirError: unknown) => {
          if (errnoOf(mkdirError) !== 'EEXIST') throw mkdirError;
        });
        info = await lstat(current);
      }
      if (info.isSymbolicLink()) throw new AppError('INVALID_PATH', SYMLINK_REFUSED);
      if (!info.isDirectory()) throw Object.assign(new Error(`${current} is not a directory`), { code: 'ENOTDIR' });
    }
    return { path: expected, realPath: expected, sync: () => fsyncDirectory(expected), close: async () => undefined };
  }

  /** Opens a stored file for reading, without following a link anywhere on its way. */
  /** Where a versioned blob's key is under the real root: what `/proc/self/fd` names for a descriptor opened on it. */
  #expectedPath(blobKey: string): string {
    return join(this.#realRoot, blobKey);
  }

  async #openFile(key: string): Promise<number> {
    const { dir, name } = splitKey(key);
    await this.init();
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW;
    if (this.#rootFd !== null) {
      const expected = join(this.#realRoot, ...dir, name);
      try {
        const fd = await openFd(expected, flags);
        await this.#verify(fd, expected);
        return fd;
      } catch (error) {
        if (errnoOf(error) !== 'ENAMETOOLONG') throw error;
      }
    }
    const handle = await this.#openDir(dir, false);
    try {
      return await openFd(`${handle.path}/${name}`, flags);
    } finally {
      await handle.close();
    }
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    let dir: DirHandle;
    let name: string;
    try {
      const parts = splitKey(key);
      name = parts.name;
      dir = await this.#openDir(parts.dir, true);
    } catch (error) {
      throw translate(error, key);
    }
    if (options.fresh === true) return this.#writeFresh(dir, name, key, body, options);
    const temp = `${dir.path}/${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
    const target = `${dir.path}/${name}`;
    let sink: FileSink | null = null;
    try {
      sink = new FileSink(await openFd(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE), options.expectedSize);
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
    } finally {
      await dir.close();
    }
  }

  /**
   * A fresh versioned key: written in place (O_EXCL, no temp file: nobody can read it before the
   * metadata commit names it), then the file and its directory are fsynced. Closes `dir`.
   */
  async #writeFresh(dir: DirHandle, name: string, key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    const target = `${dir.path}/${name}`;
    let sink: FileSink | null = null;
    try {
      await this.#makeDurable(splitKey(key).dir);
      sink = new FileSink(await openFd(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE), options.expectedSize);
      await pump(body, sink, options.signal);
      await this.#syncDirectory(dir);
      return { size: sink.size };
    } catch (error) {
      sink?.destroy();
      await unlink(target).catch(() => undefined);
      throw translate(abortReason(error, options.signal), key);
    } finally {
      await dir.close();
    }
  }

  /**
   * Makes the entries of the directories `names` durable once per process: each directory's entry
   * lives in its parent, so the root and every directory above the last one are fsynced (a blob
   * directory the store just created must survive a crash before a commit names a key in it).
   */
  async #makeDurable(names: readonly string[]): Promise<void> {
    const id = names.join('/');
    if (this.#durableDirs.has(id)) return;
    for (let depth = 0; depth < names.length; depth++) {
      const parent = await this.#openDir(names.slice(0, depth), false);
      try {
        await this.#syncDirectory(parent);
      } finally {
        await parent.close();
      }
    }
    if (this.#durableDirs.size >= 10_000) this.#durableDirs.clear();
    this.#durableDirs.add(id);
  }

  async read(key: string, options: ReadOptions = {}): Promise<BlobReadResult> {
    // A versioned blob's bytes never change: a descriptor kept from an earlier read serves it.
    const keep = this.#rootFd !== null && isBlobKey(key);
    const kept = keep ? this.#openBlobs.read(key, this.#expectedPath(key), options.range) : null;
    if (kept !== null) return kept;
    let fd: number;
    try {
      fd = await this.#openFile(key);
    } catch (error) {
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
      const adopted = keep ? this.#openBlobs.adopt(key, this.#expectedPath(key), fd, info.size, range) : null;
      if (adopted !== null) return { stream: adopted, size: info.size };
      // A known end spares the extra read that would only discover end-of-file.
      const stream = createReadStream('', { fd, autoClose: true, start: range?.start ?? 0, end: range?.end ?? info.size - 1 });
      return { stream, size: info.size };
    } catch (error) {
      fsClose(fd, () => undefined);
      throw translate(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    this.#openBlobs.forget(key);
    await this.#inParent(key, async (dir, name) => {
      await unlink(`${dir.path}/${name}`).catch((error: unknown) => {
        if (errnoOf(error) !== 'ENOENT') throw error;
      });
    });
  }

  async makeDirectory(key: string): Promise<void> {
    try {
      const dir = await this.#openDir(namesOf(key), true);
      await dir.close();
    } catch (error) {
      throw translate(error, key);
    }
  }

  async removeDirectory(key: string): Promise<void> {
    if (key === '') return;
    this.#openBlobs.forget(key);
    await this.#inParent(key, async (dir, name) => {
      await rmdir(`${dir.path}/${name}`).catch((error: unknown) => {
        const code = errnoOf(error);
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      });
    });
  }

  /** Runs `work` on the directory holding `key`; a missing directory is nothing to do. */
  async #inParent(key: string, work: (dir: DirHandle, name: string) => Promise<void>): Promise<void> {
    let dir: DirHandle | null = null;
    try {
      const parts = splitKey(key);
      try {
        dir = await this.#openDir(parts.dir, false);
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return;
        throw error;
      }
      await work(dir, parts.name);
    } catch (error) {
      throw translate(error, key);
    } finally {
      await dir?.close();
    }
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    this.#openBlobs.forget(fromKey);
    let source: DirHandle | null = null;
    let target: DirHandle | null = null;
    try {
      const from = splitKey(fromKey);
      const to = splitKey(toKey);
      source = await this.#openDir(from.dir, false);
      target = await this.#openDir(to.dir, true);
      const fromPath = `${source.path}/${from.name}`;
      const toPath = `${target.path}/${to.name}`;
      try {
        await rename(fromPath, toPath);
      } catch (error) {
        if (errnoOf(error) !== 'EXDEV') throw error;
        await cp(fromPath, toPath, { recursive: true, errorOnExist: false, force: true });
        await rm(fromPath, { recursive: true, force: true });
      }
    } catch (error) {
      throw translate(error, fromKey);
    } finally {
      await source?.close();
      await target?.close();
    }
  }

  async listFiles(prefix: string, options: ListFilesOptions): Promise<string[]> {
    await this.init();
    const found: string[] = [];
    const after = options.startAfter ?? '';
    const walk = async (dirKey: string): Promise<void> => {
      // Children in key order: a directory sorts as its name with the `/` its keys carry.
      const children = (await this.#children(dirKey))
        .filter((d) => d.isDirectory() || (d.isFile() && !d.name.startsWith(TEMP_PREFIX)))
        .map((d) => ({ key: `${dirKey}${d.name}${d.isDirectory() ? '/' : ''}`, directory: d.isDirectory() }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const child of children) {
        if (found.length >= options.limit) return;
        if (child.directory) {
          // Every key below it sorts before `startAfter`: nothing to see there.
          if (child.key < after && !after.startsWith(child.key)) continue;
          await walk(child.key);
        } else if (child.key > after) {
          const info = await lstat(join(this.#realRoot, child.key)).catch(() => null);
          if (info?.isFile() === true && info.mtime < options.olderThan) found.push(child.key);
        }
      }
    };
    await walk(prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`);
    return found;
  }

  async removeStaleTemporaries(olderThan: Date, options: { readonly dryRun?: boolean } = {}): Promise<string[]> {
    await this.init();
    const stale: string[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      for (const dirent of await this.#children(dirKey)) {
        const key = `${dirKey}${dirent.name}`;
        if (dirent.isDirectory()) await walk(`${key}/`);
        else if (dirent.isFile() && dirent.name.startsWith(TEMP_PREFIX)) {
          const info = await lstat(join(this.#realRoot, key)).catch(() => null);
          if (info !== null && info.mtime < olderThan) stale.push(key);
        }
      }
    };
    await walk('');
    if (options.dryRun === true) return stale;
    const removed: string[] = [];
    for (const key of stale) if (await this.delete(key).then(() => true, () => false)) removed.push(key);
    return removed;
  }

  async isEmpty(): Promise<boolean> {
    await this.init();
    const holdsFile = async (dirKey: string): Promise<boolean> => {
      for (const dirent of await this.#children(dirKey)) {
        if (!dirent.isDirectory()) return true;
        if (await holdsFile(`${dirKey}${dirent.name}/`)) return true;
      }
      return false;
    };
    return !(await holdsFile(''));
  }

  /**
   * Entries of a directory given by key (`''` or ending in `/`); none when it cannot be read or
   * when a symbolic link stands anywhere on its way (opened like every other directory, so a
   * directory swapped for a link is never listed). Links inside are listed, never entered.
   */
  async #children(dirKey: string): Promise<Dirent[]> {
    let handle: DirHandle;
    try {
      handle = await this.#openDir(dirKey === '' ? [] : dirKey.slice(0, -1).split('/'), false);
    } catch {
      return [];
    }
    try {
      return await readdir(handle.path, { withFileTypes: true }).catch(() => []);
    } finally {
      await handle.close();
    }
  }

  async ping(): Promise<void> {
    try {
      await stat(this.#root);
    } catch (error) {
      throw new AppError('STORAGE_UNAVAILABLE', 'the local storage root is not accessible', { cause: error });
    }
  }

  async close(): Promise<void> {
    this.#openBlobs.clear();
    const fd = this.#rootFd;
    this.#rootFd = null;
    if (fd !== null) await closeFd(fd).catch(() => undefined);
  }

  /**
   * Makes the renames done in `dir` durable. Concurrent writers in one directory share fsyncs
   * (group commit): a caller waits for a sync that starts after its call, and all callers that
   * arrive while one sync runs share the next one (run on the handle of the caller that queued
   * it, which stays open while that caller waits).
   */
  #syncDirectory(dir: DirHandle): Promise<void> {
    const key = dir.realPath;
    const state = this.#dirSyncs.get(key) ?? { running: null, next: null };
    this.#dirSyncs.set(key, state);
    if (state.running === null) return this.#startDirSync(key, dir, state);
    state.next ??= state.running
      .catch(() => undefined)
      .then(() => {
        state.next = null;
        return this.#startDirSync(key, dir, state);
      });
    return state.next;
  }

  #startDirSync(key: string, dir: DirHandle, state: DirSync): Promise<void> {
    const run = dir.sync().finally(() => {
      if (state.running === run) state.running = null;
      if (state.running === null && state.next === null) this.#dirSyncs.delete(key);
    });
    state.running = run;
    return run;
  }
}

function descriptorHandle(fd: number, realPath: string): DirHandle {
  return { path: `${PROC_FD}/${fd}`, realPath, sync: () => fsyncFd(fd), close: () => closeFd(fd) };
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

const openFd = promisify(fsOpen) as (path: string, flags: string | number, mode?: number) => Promise<number>;
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
