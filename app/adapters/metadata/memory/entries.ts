/**
 * @module MemoryEntries: the namespace of the memory metadata twin, mirroring PostgresEntries:
 * reads and listings in byte order, the directory and tool writes fenced by a lock's token and
 * epoch, moves, and the blob-key migration. Each write publishes its paths before it returns.
 */
import type { BackendType, Entry, NewEntry } from '../../../domain/entry.js';
import { AppError } from '../../../errors/app-error.js';
import type { Fence, MetadataChange, MoveOptions } from '../../../ports/metadata-store.js';
import type { EntryRepository } from '../composed-store.js';
import { byteOrder, isWithin, parentOf } from './database.js';
import { adoptBlobKeyIn, legacyFilesIn } from './write-commits.js';
import type { MemorySession } from './session.js';

export class MemoryEntries implements EntryRepository {
  readonly #session: MemorySession;

  constructor(session: MemorySession) {
    this.#session = session;
  }

  async getEntry(path: string): Promise<Entry | null> {
    return this.#session.open().entries.get(path)?.entry ?? null;
  }

  async entryForWrite(path: string, fence: Fence): Promise<Entry | null> {
    return this.#session.write(fence).entries.get(path)?.entry ?? null;
  }

  async listChildren(path: string): Promise<Entry[]> {
    const children = [...this.#session.open().entries.values()].filter((s) => s.parentPath === path).map((s) => s.entry);
    return children.sort((a, b) => (a.type === b.type ? byteOrder(a.name, b.name) : a.type === 'file' ? -1 : 1));
  }

  async hasChildren(path: string): Promise<boolean> {
    return this.#session.open().hasChildren(path);
  }

  async fileHoldersWithin(path: string): Promise<string[]> {
    const holders = new Set<string>();
    for (const { entry } of this.#session.open().entries.values()) {
      if (isWithin(entry.path, path) && entry.type === 'file' && entry.backendType === 'localfs' && entry.instanceId !== null) holders.add(entry.instanceId);
    }
    return [...holders].sort(byteOrder);
  }

  async createEntry(entry: NewEntry, fence: Fence): Promise<Entry> {
    const db = this.#session.write(fence);
    if (db.entries.has(entry.path)) throw new AppError('FILE_ALREADY_EXISTS', 'the path already exists');
    const created = db.insert(entry, fence.token);
    db.commit([{ path: entry.path, subtree: false }]);
    return created;
  }

  async ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]> {
    if (entries.length === 0) return [];
    const db = this.#session.write(fence);
    const added: MetadataChange[] = [];
    for (const entry of entries) {
      if (db.entries.has(entry.path)) continue;
      db.insert({ ...entry, type: 'directory', size: 0 }, 0);
      added.push({ path: entry.path, subtree: false });
    }
    if (added.length > 0) db.commit(added);
    return entries.map((e) => db.entries.get(e.path)?.entry).filter((e): e is Entry => e !== undefined);
  }

  async updateContent(path: string, size: number, fence: Fence): Promise<Entry> {
    const db = this.#session.write(fence);
    const stored = db.entries.get(path);
    if (stored === undefined) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    if (stored.fence > fence.token) throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this write was refused`);
    stored.entry = { ...stored.entry, size, mtime: new Date(), version: stored.entry.version + 1 };
    stored.fence = fence.token;
    db.commit([{ path, subtree: false }]);
    return stored.entry;
  }

  async deleteEntry(path: string, fence: Fence): Promise<Entry | null> {
    const db = this.#session.write(fence);
    const stored = db.entries.get(path);
    if (stored === undefined) return null;
    if (db.hasChildren(path)) throw new AppError('DIRECTORY_NOT_EMPTY', `directory not empty: ${path}`);
    if (stored.fence > fence.token) throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this delete was refused`);
    db.entries.delete(path);
    db.replicas.delete(path);
    db.commit([{ path, subtree: false }]);
    return stored.entry;
  }

  async moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry> {
    const db = this.#session.write(options.fence);
    const source = db.entries.get(from);
    if (source === undefined) throw new AppError('FILE_NOT_FOUND', `file not found: ${from}`);
    const destination = db.entries.get(to);
    if (destination !== undefined) {
      if (!options.overwrite) throw new AppError('FILE_ALREADY_EXISTS', `destination already exists: ${to}`);
      if (destination.entry.type !== source.entry.type) {
        throw new AppError(destination.entry.type === 'directory' ? 'IS_A_DIRECTORY' : 'NOT_A_DIRECTORY', `cannot replace a ${destination.entry.type} with a ${source.entry.type}`);
      }
      if (db.hasChildren(to)) throw new AppError('DIRECTORY_NOT_EMPTY', `destination directory not empty: ${to}`);
      db.entries.delete(to);
      db.replicas.delete(to);
    }
    const moving = [...db.entries.values()].filter((s) => isWithin(s.entry.path, from));
    for (const stored of moving) {
      db.entries.delete(stored.entry.path);
      db.replicas.delete(stored.entry.path);
    }
    for (const stored of moving) {
      const path = to + stored.entry.path.slice(from.length);
      const name = stored.entry.path === from ? to.slice(to.lastIndexOf('/') + 1) : stored.entry.name;
      db.entries.set(path, { entry: { ...stored.entry, path, name }, fence: Math.max(stored.fence, options.fence.token), parentPath: parentOf(path) });
    }
    db.commit([
      { path: from, subtree: true },
      { path: to, subtree: true },
    ]);
    const moved = db.entries.get(to)?.entry;
    if (moved === undefined) throw new Error('moved entry vanished');
    return moved;
  }

  async adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean> {
    return adoptBlobKeyIn(this.#session.open(), path, version, blobKey);
  }

  async legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]> {
    return legacyFilesIn(this.#session.open(), holder, backend, afterPath, limit);
  }

  async findMissing(paths: readonly string[]): Promise<string[]> {
    const db = this.#session.open();
    return paths.filter((p) => !db.entries.has(p));
  }
}
