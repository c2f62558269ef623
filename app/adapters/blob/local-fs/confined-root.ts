/**
 * @module ConfinedRoot: the local store's root directory, and the only way the store opens
 * anything under it. Nothing opened can be outside the root or reached through a symbolic link,
 * checked at every operation (never remembered): on Linux each operation opens its directory (or
 * file) without following a link in the last component, checks through `/proc/self/fd` that the
 * descriptor is the very path under the root it asked for, and then acts on names inside that
 * descriptor, so swapping a directory for a link in between changes nothing. Where `/proc` is
 * missing, every component is checked with lstat on each operation. The store's own blob
 * directories may be kept open between operations (`openKeptDir`): a kept descriptor is checked
 * against its path the same way before every use, and dropped when it no longer matches.
 */
import { close as fsClose, constants, existsSync, fsync, open as fsOpen, type Stats } from 'node:fs';
import { lstat, mkdir, readlink, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../../../errors/app-error.js';
import { errnoOf, SYMLINK_REFUSED } from './errors.js';

/** Directories are the node user's alone. */
export const DIRECTORY_MODE = 0o700;
const PROC_FD = '/proc/self/fd';
const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export const openFd = promisify(fsOpen) as (path: string, flags: string | number, mode?: number) => Promise<number>;
const fsyncFd = promisify(fsync);
export const closeFd = promisify(fsClose);

/** The names of a key; refuses empty, `.` and `..` names (keys are canonical, this is the last guard). */
export function namesOf(key: string): string[] {
  if (key === '') return [];
  const names = key.split('/');
  if (names.some((name) => name === '' || name === '.' || name === '..')) throw new AppError('INVALID_PATH', 'path escapes the storage root');
  return names;
}

/** The directory names of a key and its last name. */
export function splitKey(key: string): { dir: string[]; name: string } {
  const names = namesOf(key);
  const name = names.pop();
  if (name === undefined) throw new AppError('INVALID_PATH', 'the storage root itself is not a file');
  return { dir: names, name };
}

/** A directory under the root, opened for one operation. */
export interface DirHandle {
  /** Names inside the directory are `${path}/${name}`: on Linux its /proc/self/fd entry, never re-resolved. */
  readonly path: string;
  /** Its path under the real root (identifies it for shared directory fsyncs). */
  readonly realPath: string;
  /** Makes the directory's entries durable. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Most directories kept open at once (the blob store has 256 blob directories). */
const MAX_KEPT_DIRS = 512;

/** A directory descriptor kept between operations; closed once evicted and no operation holds it. */
interface KeptDir {
  readonly fd: number;
  readonly realPath: string;
  users: number;
  evicted: boolean;
}

export class ConfinedRoot {
  /** The root as configured (resolved against the working directory). */
  readonly rootPath: string;
  #ready: Promise<void> | null = null;
  /** The root with every link in the configured path resolved (once `init` has run). */
  #realRoot = '';
  /** The root, held open while the store is (Linux): walks start from it. */
  #rootFd: number | null = null;
  /** Kept directory descriptors by their path under the real root (see `openKeptDir`). */
  readonly #kept = new Map<string, KeptDir>();

  constructor(rootPath: string) {
    this.rootPath = resolve(rootPath);
  }

  get realRoot(): string {
    return this.#realRoot;
  }

  /**
   * True once the root is held open on a system with `/proc/self/fd`: then where a descriptor
   * points can be read back, which is what lets a kept descriptor be checked before each use.
   */
  get checksByDescriptor(): boolean {
    return this.#rootFd !== null;
  }

  init(): Promise<void> {
    this.#ready ??= this.#setUp();
    return this.#ready;
  }

  async #setUp(): Promise<void> {
    await mkdir(this.rootPath, { recursive: true, mode: DIRECTORY_MODE });
    this.#realRoot = await realpath(this.rootPath);
    if (existsSync(PROC_FD)) this.#rootFd = await openFd(this.#realRoot, constants.O_RDONLY | constants.O_DIRECTORY);
  }

  /**
   * Opens the directory of `names` under the root (creating missing ones, 0700, when `create`),
   * refusing a symbolic link anywhere on the way (INVALID_PATH). Throws raw errno errors otherwise.
   */
  async openDir(names: readonly string[], create: boolean): Promise<DirHandle> {
    await this.init();
    const expected = join(this.#realRoot, ...names);
    if (this.#rootFd === null) return this.#checkDirByPath(names, expected, create);
    return descriptorHandle(await this.#openDirFd(names, expected, create), expected);
  }

  /**
   * Like `openDir`, for a directory that many operations use (the store's blob directories):
   * its descriptor stays open between operations, so each use costs one readlink instead of an
   * open, a readlink and a close. Before every use the descriptor is checked to still be the
   * directory at that path under the root; one that is not (moved, removed, replaced by a link)
   * is dropped and the directory opened afresh, with every check `openDir` makes. `close()` on
   * the handle ends this use; the descriptor closes once it is dropped and no use holds it.
   */
  async openKeptDir(names: readonly string[], create: boolean): Promise<DirHandle> {
    await this.init();
    if (this.#rootFd === null) return this.openDir(names, create);
    const expected = join(this.#realRoot, ...names);
    const kept = this.#kept.get(expected);
    if (kept !== undefined) {
      kept.users++;
      const actual = await readlink(`${PROC_FD}/${kept.fd}`).catch(() => null);
      if (actual === expected && !kept.evicted) return this.#keptHandle(kept);
      this.#evict(kept);
      await this.#release(kept);
    }
    const fd = await this.#openDirFd(names, expected, create);
    const raced = this.#kept.get(expected);
    if (raced !== undefined || this.#kept.size >= MAX_KEPT_DIRS || this.#rootFd === null) {
      // Another operation kept this directory meanwhile (or there is no room): use this descriptor once.
      return descriptorHandle(fd, expected);
    }
    const fresh: KeptDir = { fd, realPath: expected, users: 1, evicted: false };
    this.#kept.set(expected, fresh);
    return this.#keptHandle(fresh);
  }

  #keptHandle(kept: KeptDir): DirHandle {
    let released = false;
    return {
      path: `${PROC_FD}/${kept.fd}`,
      realPath: kept.realPath,
      sync: () => fsyncFd(kept.fd),
      close: () => {
        if (released) return Promise.resolve();
        released = true;
        return this.#release(kept);
      },
    };
  }

  #evict(kept: KeptDir): void {
    kept.evicted = true;
    if (this.#kept.get(kept.realPath) === kept) this.#kept.delete(kept.realPath);
  }

  /** Ends one use of a kept descriptor; closes it when it was dropped and this was the last use. */
  async #release(kept: KeptDir): Promise<void> {
    kept.users--;
    if (kept.evicted && kept.users === 0) await closeFd(kept.fd).catch(() => undefined);
  }

  /** Opens and checks the directory of `names` (Linux, root held open); see `openDir`. */
  async #openDirFd(names: readonly string[], expected: string, create: boolean): Promise<number> {
    // One open and one readlink when the directory exists and its path fits PATH_MAX.
    try {
      const fd = await openFd(expected, DIRECTORY_FLAGS);
      await this.#verify(fd, expected);
      return fd;
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT' && !create) throw error;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG') throw error;
    }
    return this.#walk(names, create);
  }

  /** Opens `names` one at a time, each inside the descriptor of the one before: no link is ever followed. */
  async #walk(names: readonly string[], create: boolean): Promise<number> {
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
    return fd;
  }

  /** The descriptor is the directory at `expected` (no link on the way, not deleted since), or it is closed and refused. */
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
  async openFile(key: string): Promise<number> {
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
    const handle = await this.openDir(dir, false);
    try {
      return await openFd(`${handle.path}/${name}`, flags);
    } finally {
      await handle.close();
    }
  }

  async close(): Promise<void> {
    const fd = this.#rootFd;
    this.#rootFd = null;
    const kept = [...this.#kept.values()];
    for (const dir of kept) {
      this.#evict(dir);
      if (dir.users === 0) await closeFd(dir.fd).catch(() => undefined);
    }
    if (fd !== null) await closeFd(fd).catch(() => undefined);
  }
}

function descriptorHandle(fd: number, realPath: string): DirHandle {
  return { path: `${PROC_FD}/${fd}`, realPath, sync: () => fsyncFd(fd), close: () => closeFd(fd) };
}

async function fsyncDirectory(dir: string): Promise<void> {
  const fd = await openFd(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}
