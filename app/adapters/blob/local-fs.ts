/**
 * @module LocalFsBlobStore: bytes on the node's disk under one root directory. Writes go to a
 * `.callfs-tmp-*` file beside the target, are fsynced, then renamed (or linked, for exclusive
 * creates) into place and the directory is fsynced: readers see old or new bytes, never a
 * partial file. A fresh versioned key (`WriteOptions.fresh`) is written in place (O_EXCL, fsync
 * the file and its directory): nobody reads it before the metadata commit names it, so a rename
 * would buy nothing. Every directory and file is opened through the ConfinedRoot
 * (local-fs/confined-root.ts): nothing outside the root, no symbolic link followed, checked at
 * every operation (a kept descriptor of a versioned blob, see open-blobs.ts, or of a blob
 * directory is checked against its path before each use). Files are created 0600 and
 * directories 0700: stored bytes are readable by the node's user only. Uploads stream through
 * local-fs/file-sink.ts.
 */
import { randomBytes } from 'node:crypto';
import { close as fsClose, constants, createReadStream, fstat as fsFstat, type Dirent, type Stats } from 'node:fs';
import { cp, link, lstat, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { AppError } from '../../errors/app-error.js';
import type { BlobReadResult, BlobStore, ListFilesOptions, ReadOptions, WriteOptions } from '../../ports/blob-store.js';
import { isBlobKey } from '../../domain/blob-key.js';
import { ConfinedRoot, namesOf, openFd, splitKey, type DirHandle } from './local-fs/confined-root.js';
import { abortReason, errnoOf, translate } from './local-fs/errors.js';
import { FileSink, pump } from './local-fs/file-sink.js';
import { OpenBlobs } from './open-blobs.js';

const TEMP_PREFIX = '.callfs-tmp-';
/** Stored files are the node user's alone. */
const FILE_MODE = 0o600;
/** A file created for one upload: never an existing one, never through a link. */
const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export class LocalFsBlobStore implements BlobStore {
  readonly backendType = 'localfs' as const;
  readonly #disk: ConfinedRoot;
  /** Directory fsyncs in progress, shared by concurrent writers of one directory. */
  readonly #dirSyncs = new Map<string, DirSync>();
  /** Directories of versioned keys whose entries are known to be durable. */
  readonly #durableDirs = new Set<string>();
  /** Descriptors of versioned blobs kept between reads (checked against their path on every use). */
  readonly #openBlobs = new OpenBlobs();

  constructor(options: { rootPath: string }) {
    this.#disk = new ConfinedRoot(options.rootPath);
  }

  init(): Promise<void> {
    return this.#disk.init();
  }

  /** Where a versioned blob's key is under the real root: what `/proc/self/fd` names for a descriptor opened on it. */
  #expectedPath(blobKey: string): string {
    return join(this.#disk.realRoot, blobKey);
  }

  /**
   * The directory holding `key`: a blob directory (`.callfs/blobs/<xx>`, written and emptied by
   * every write) is kept open between operations and checked before each use; others are opened
   * for the one operation.
   */
  #openDirOf(key: string, dir: readonly string[], create: boolean): Promise<DirHandle> {
    return isBlobKey(key) ? this.#disk.openKeptDir(dir, create) : this.#disk.openDir(dir, create);
  }

  /** Opens a stored file for reading, without following a link anywhere on its way. */
  #openFile(key: string): Promise<number> {
    return this.#disk.openFile(key);
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    let dir: DirHandle;
    let names: { dir: string[]; name: string };
    try {
      names = splitKey(key);
      dir = await this.#openDirOf(key, names.dir, true);
    } catch (error) {
      throw translate(error, key);
    }
    const target = `${dir.path}/${names.name}`;
    if (options.fresh === true) {
      // A fresh versioned key is written in place (O_EXCL, no temp file: nobody can read it
      // before the metadata commit names it); its directories are made durable first.
      return this.#writeNewFile(dir, target, key, body, options, { before: () => this.#makeDurable(names.dir) });
    }
    const temp = `${dir.path}/${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
    return this.#writeNewFile(dir, temp, key, body, options, {
      place: async () => {
        if (options.exclusive) {
          await link(temp, target);
          await unlink(temp);
        } else {
          await rename(temp, target);
        }
      },
    });
  }

  /**
   * Streams `body` into a new file at `file` (fsynced by the sink), runs `place` (if any), then
   * fsyncs `dir`; `before` runs ahead of creating the file. On any failure the file at `file` is
   * removed and the error reported in the port's terms. Closes `dir`.
   */
  async #writeNewFile(
    dir: DirHandle,
    file: string,
    key: string,
    body: Readable,
    options: WriteOptions,
    steps: { readonly before?: () => Promise<void>; readonly place?: () => Promise<void> },
  ): Promise<{ size: number }> {
    let sink: FileSink | null = null;
    try {
      if (steps.before !== undefined) await steps.before();
      sink = new FileSink(await openFd(file, NEW_FILE_FLAGS, FILE_MODE), options.expectedSize);
      await pump(body, sink, options.signal);
      if (steps.place !== undefined) await steps.place();
      await this.#syncDirectory(dir);
      return { size: sink.size };
    } catch (error) {
      sink?.destroy();
      await unlink(file).catch(() => undefined);
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
      const parent = await this.#disk.openDir(names.slice(0, depth), false);
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
    const keep = this.#disk.checksByDescriptor && isBlobKey(key);
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
      const dir = await this.#disk.openDir(namesOf(key), true);
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
        dir = await this.#openDirOf(key, parts.dir, false);
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
      source = await this.#disk.openDir(from.dir, false);
      target = await this.#disk.openDir(to.dir, true);
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
          const info = await lstat(join(this.#disk.realRoot, child.key)).catch(() => null);
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
          const info = await lstat(join(this.#disk.realRoot, key)).catch(() => null);
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
      handle = await this.#disk.openDir(dirKey === '' ? [] : dirKey.slice(0, -1).split('/'), false);
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
      await stat(this.#disk.rootPath);
    } catch (error) {
      throw new AppError('STORAGE_UNAVAILABLE', 'the local storage root is not accessible', { cause: error });
    }
  }

  close(): Promise<void> {
    this.#openBlobs.clear();
    return this.#disk.close();
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

interface DirSync {
  running: Promise<void> | null;
  next: Promise<void> | null;
}

const fstatFd = promisify(fsFstat) as (fd: number) => Promise<Stats>;
