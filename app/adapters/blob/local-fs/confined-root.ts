/**
 * @module ConfinedRoot: the local store's root directory, and the only way the store opens
 * anything under it. Nothing opened can be outside the root or reached through a symbolic link,
 * checked at every operation (never remembered): on Linux each operation opens its directory (or
 * file) without following a link in the last component, checks through `/proc/self/fd` that the
 * descriptor is the very path under the root it asked for, and then acts on names inside that
 * descriptor, so swapping a directory for a link in between changes nothing. Where `/proc` is
 * missing, every component is checked with lstat on each operation.
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

export class ConfinedRoot {
  /** The root as configured (resolved against the working directory). */
  readonly rootPath: string;
  #ready: Promise<void> | null = null;
  /** The root with every link in the configured path resolved (once `init` has run). */
  #realRoot = '';
  /** The root, held open while the store is (Linux): walks start from it. */
  #rootFd: number | null = null;

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
