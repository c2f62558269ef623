/**
 * @module FileService: the file and directory use cases behind `/v1/files` (CallFS reference
 * §2.3). Ordering rules that keep bytes and metadata consistent:
 * - create / replace: write the bytes (atomically) first, then the metadata row; if the store
 *   refuses the row, the new bytes are removed again (if its outcome is unknown, they are left
 *   for the orphan sweeper).
 * - delete: remove the row first, then the bytes; leftovers of a crash in between are collected
 *   by the orphan sweeper (services/orphan-sweeper.ts).
 * Every write runs under a cluster lock that waits up to a deadline, and the lock's fencing token
 * is checked by the metadata store, so a writer whose lock expired cannot overwrite newer data.
 */
import type { Readable } from 'node:stream';
import type { Entry, NewEntry } from '../domain/entry.js';
import { ancestorsOf, toBlobKey, type ParsedPath } from '../domain/path.js';
import { AppError, hasCode, HeldElsewhere, isAppError } from '../errors/app-error.js';
import type { ByteRange } from '../ports/blob-store.js';
import type { LockHandle } from '../ports/lock-manager.js';
import { fenceOf, FileContext, linkedSignal, requireAllowed, type FileServiceDeps, type UploadBody } from './file-context.js';

export type CreateOutcome = 'created' | 'already-a-directory';

export interface FileRead {
  readonly entry: Entry;
  readonly stream: Readable;
  /** Size of the stored bytes (authoritative for Content-Length / Content-Range). */
  readonly size: number;
  /** Set when this region's copy was missing or old and the origin region's bucket served it. */
  readonly readThroughRegion?: string;
}

/** Checks an entry's validators before a write proceeds (If-Match and friends); throws to refuse. */
export type WritePrecondition = (current: Entry | null) => void;

/** The metadata store refused the write itself (conflict, fence, epoch), rather than losing track of it. */
function rowCertainlyNotWritten(error: unknown): boolean {
  return isAppError(error) && error.code !== 'METADATA_UNAVAILABLE';
}

export class FileService {
  readonly #ctx: FileContext;
  #written: ((entry: Entry) => void) | null = null;

  /** Tells `listener` about every file written through this node, after its write committed. */
  onWritten(listener: (entry: Entry) => void): void {
    this.#written = listener;
  }

  constructor(deps: FileServiceDeps) {
    this.#ctx = new FileContext(deps);
  }

  get context(): FileContext {
    return this.#ctx;
  }

  /** Metadata of an entry for GET/HEAD (read access is everyone's; missing → FILE_NOT_FOUND). */
  async stat(path: string): Promise<Entry> {
    const entry = await this.#ctx.deps.cache.get(path);
    if (entry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    return entry;
  }

  /** Opens a file's bytes (optionally a range). Remote entries are the cluster layer's job. */
  async open(entry: Entry, range: ByteRange | undefined, signal?: AbortSignal): Promise<FileRead> {
    if (entry.type !== 'file') throw new AppError('IS_A_DIRECTORY', `${entry.path} is a directory`);
    const location = await this.#ctx.locateForRead(entry);
    if (location.kind === 'remote') throw new HeldElsewhere(location.instanceId, entry.path);
    const started = performance.now();
    const expectVersion = entry.backendType === 's3' ? entry.version : undefined;
    let read: { stream: Readable; size: number; readThroughRegion?: string };
    try {
      read = await location.store.read(location.key, { range, signal, expectVersion });
    } catch (error) {
      // This region's bucket has no current copy yet: read through to the bucket it was written to.
      const origin = hasCode(error, 'FILE_NOT_FOUND') ? this.#ctx.originStore(entry) : null;
      if (origin === null) throw error;
      read = { ...(await origin.store.read(location.key, { range, signal, expectVersion })), readThroughRegion: origin.region };
    }
    this.#ctx.deps.telemetry.backendOperation(entry.backendType, 'read', (performance.now() - started) / 1000);
    this.#ctx.deps.telemetry.fileOperation('read', entry.backendType);
    return { entry, ...read };
  }

  /**
   * POST: creates a file from `body`, or a directory when the path was written with a trailing
   * slash. An existing directory asked for again is not an error ('already-a-directory', 200 in
   * CallFS); anything else existing is FILE_ALREADY_EXISTS (cross-server details when another
   * node holds it).
   */
  async create(userId: string, target: ParsedPath, body: UploadBody): Promise<CreateOutcome> {
    const { path, directoryIntent } = target;
    const existing = await this.#ctx.authorize(userId, 'write', path);
    if (existing !== null) return this.#existingOnCreate(existing, directoryIntent);
    if (directoryIntent) return this.#createDirectory(userId, path, body.signal);
    await this.#writeFile(userId, path, body, 'create', null);
    return 'created';
  }

  /**
   * PUT: replaces a file's content, or creates it (with parents) when missing.
   * Returns whether the file was created.
   */
  async put(userId: string, target: ParsedPath, body: UploadBody, precondition: WritePrecondition): Promise<{ created: boolean; entry: Entry }> {
    if (target.directoryIntent) throw new AppError('IS_A_DIRECTORY', 'PUT cannot target a directory (trailing slash)');
    // Checked on the cached entry first (cheap refusal before any body is read), then again on
    // the fresh row under the lock.
    const existing = await this.#ctx.authorize(userId, 'write', target.path, true);
    if (existing?.type === 'directory') throw new AppError('IS_A_DIRECTORY', `${target.path} is a directory`);
    if (existing !== null) this.#ctx.requireLocal(existing);
    precondition(existing);
    return this.#writeFile(userId, target.path, body, 'replace', precondition);
  }

  /** DELETE: a file, or an empty directory (non-empty → DIRECTORY_NOT_EMPTY, 409). */
  async delete(userId: string, path: string, signal?: AbortSignal): Promise<void> {
    const existing = await this.#ctx.authorize(userId, 'delete', path);
    if (existing === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    if (path === '/') throw new AppError('PERMISSION_DENIED', 'the root directory cannot be deleted');
    this.#ctx.requireLocal(existing);
    await this.#ctx.withLock('delete', [path], signal, async (lock) => {
      const entry = await this.#ctx.deps.metadata.entryForWrite(path, fenceOf(lock));
      if (entry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
      if (entry.type === 'directory' && (await this.#ctx.deps.metadata.hasChildren(path))) {
        throw new AppError('DIRECTORY_NOT_EMPTY', `directory not empty: ${path}`);
      }
      await this.#ctx.deps.metadata.deleteEntry(path, fenceOf(lock));
      this.#ctx.changed(path);
      const location = this.#ctx.locate(entry);
      if (location.kind === 'local') {
        // The row is gone: from here on the bytes are garbage. A failure only leaves work for the sweeper.
        const removal = entry.type === 'file' ? location.store.delete(location.key) : location.store.removeDirectory(location.key);
        await removal.catch(() => undefined);
      }
      this.#ctx.deps.telemetry.fileOperation('delete', entry.backendType);
    });
  }

  #existingOnCreate(existing: Entry, directoryIntent: boolean): CreateOutcome {
    if (this.#ctx.isHeldElsewhere(existing)) throw crossServerConflict(existing, directoryIntent);
    if (directoryIntent && existing.type === 'directory') return 'already-a-directory';
    throw new AppError('FILE_ALREADY_EXISTS', `${existing.type === 'directory' ? 'directory' : 'file'} already exists: ${existing.path}`);
  }

  async #createDirectory(userId: string, path: string, signal: AbortSignal | undefined): Promise<CreateOutcome> {
    return this.#ctx.withLock('mkdir', [path], signal, async (lock) => {
      const now = await this.#ctx.deps.metadata.entryForWrite(path, fenceOf(lock));
      if (now !== null) return this.#existingOnCreate(now, true);
      await this.#ensureParents(userId, path, lock);
      const backend = this.#ctx.deps.defaultBackend;
      await this.#ctx.storeFor(backend).makeDirectory(toBlobKey(path));
      try {
        await this.#ctx.deps.metadata.createEntry(this.#newEntry(userId, path, 'directory', 0), fenceOf(lock));
      } catch (error) {
        if (error instanceof AppError && error.code === 'FILE_ALREADY_EXISTS') {
          const raced = await this.#ctx.deps.metadata.getEntry(path);
          if (raced !== null) return this.#existingOnCreate(raced, true);
        }
        throw error;
      }
      this.#ctx.changed(path);
      this.#ctx.deps.telemetry.fileOperation('create', backend);
      return 'created';
    });
  }

  /** Creates missing parent directories (owned by the caller); a file in the way → PARENT_NOT_DIRECTORY. */
  async #ensureParents(userId: string, path: string, lock: LockHandle): Promise<void> {
    const ancestors = ancestorsOf(path);
    if (ancestors.length === 0) return;
    const entries = await this.#ctx.deps.metadata.ensureDirectories(
      ancestors.map((p) => this.#newEntry(userId, p, 'directory', 0)),
      fenceOf(lock),
    );
    const blocker = entries.find((e) => e.type !== 'directory');
    if (blocker !== undefined) throw new AppError('PARENT_NOT_DIRECTORY', `${blocker.path} is a file, not a directory`);
    for (const p of ancestors) this.#ctx.changed(p);
  }

  /**
   * Streams the body to the blob store, then records it. `mode` 'create' refuses an existing
   * entry; 'replace' creates or replaces (re-checking the precondition under the lock).
   */
  async #writeFile(
    userId: string,
    path: string,
    body: UploadBody,
    mode: 'create' | 'replace',
    precondition: WritePrecondition | null,
  ): Promise<{ created: boolean; entry: Entry }> {
    const result = await this.#ctx.withLock(mode === 'create' ? 'create' : 'write', [path], body.signal, async (lock) => {
      const current = await this.#ctx.deps.metadata.entryForWrite(path, fenceOf(lock));
      if (current !== null && mode === 'create') throw this.#conflictOnCreate(current);
      if (current !== null) requireAllowed(userId, 'write', current, null, path);
      if (current?.type === 'directory') throw new AppError('IS_A_DIRECTORY', `${path} is a directory`);
      precondition?.(current);
      const backend = current?.backendType ?? this.#ctx.deps.defaultBackend;
      const store = this.#ctx.storeFor(backend);
      const key = toBlobKey(path);
      const started = performance.now();
      // With no row under the lock, bytes at the key are orphans of a crash: replacing them is safe.
      const { size } = await store.write(key, body.stream, {
        exclusive: false,
        expectedSize: body.length,
        signal: linkedSignal(body.signal, lock.lost),
        // The version the row will have once recorded below (create: 1; replace: one more).
        version: (current?.version ?? 0) + 1,
      });
      this.#ctx.deps.telemetry.backendOperation(backend, current === null ? 'create' : 'update', (performance.now() - started) / 1000);
      try {
        // Parents are recorded only once the bytes are stored: a failed upload leaves no directories behind.
        if (current === null) await this.#ensureParents(userId, path, lock);
        const entry =
          current === null
            ? await this.#ctx.deps.metadata.createEntry(this.#newEntry(userId, path, 'file', size), fenceOf(lock))
            : await this.#ctx.deps.metadata.updateContent(path, size, fenceOf(lock));
        this.#ctx.deps.telemetry.fileOperation(current === null ? 'create' : 'update', backend);
        return { created: current === null, entry };
      } catch (error) {
        // New file without a row would be an orphan: take the bytes back (replacements cannot be undone;
        // the old row still describes a file that exists, and the sweeper reconciles sizes). Only
        // when the row was certainly not written: a lost connection or a timeout may come after the
        // commit (e.g. one waiting for a synchronous standby), and deleting then would leave a row
        // without bytes. Bytes without a row are the orphan sweeper's, once its grace has passed.
        if (current === null && rowCertainlyNotWritten(error)) await store.delete(key).catch(() => undefined);
        throw error;
      } finally {
        this.#ctx.changed(path);
      }
    });
    this.#written?.(result.entry);
    return result;
  }

  #conflictOnCreate(current: Entry): AppError {
    if (this.#ctx.isHeldElsewhere(current)) return crossServerConflict(current, false);
    return new AppError('FILE_ALREADY_EXISTS', `file already exists: ${current.path}`);
  }

  #newEntry(userId: string, path: string, type: 'file' | 'directory', size: number): NewEntry {
    return { path, type, size, owner: userId, backendType: this.#ctx.deps.defaultBackend, instanceId: this.#ctx.newEntryInstanceId(), originInstanceId: this.#ctx.deps.instanceId };
  }
}

/** The 409 CallFS answers when a POST targets a path another node holds (reference §6.4). */
export function crossServerConflict(existing: Entry, directoryIntent: boolean): AppError {
  const existingIsDir = existing.type === 'directory';
  const suggestion = directoryIntent
    ? existingIsDir
      ? 'Directory already exists on another server. Use GET to access it.'
      : 'Path exists as file on another server, cannot create directory'
    : existingIsDir
      ? 'Path exists as directory on another server, cannot create file'
      : 'File already exists on another server. Use PUT to update it.';
  return new AppError('FILE_ALREADY_EXISTS', 'Resource exists on another server', {
    details: {
      crossServer: true,
      existing_path: existing.path,
      instance_id: existing.instanceId,
      backend_type: existing.backendType,
      suggestion,
      wantsUpdateUrl: !directoryIntent && !existingIsDir,
    },
  });
}

