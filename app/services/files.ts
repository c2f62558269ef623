/**
 * @module FileService: the file and directory use cases behind `/v1/files` (CallFS reference
 * §2.3). The write path (issue 14/17, design decision D1):
 * - create / replace: the body streams to a fresh versioned key (`.callfs/blobs/…`) with no
 *   lock (nobody else can name that key); then ONE call to the metadata primary
 *   (`MetadataStore.commitWrite`) checks the fencing epoch, applies create-if-absent / replace /
 *   the If-Match version, creates missing parents, records the version and its blob key, and
 *   returns the new entry, the version it replaced and the consistency token. Writers of one
 *   path are serialised by commit order. The replaced version's bytes are released after the
 *   commit (local disk at once: a reader that opened them keeps its descriptor; S3 after a grace,
 *   for reads still streaming). If the commit is certainly refused, the new bytes are removed;
 *   if its outcome is unknown they stay (the orphan sweeper collects unreferenced blobs).
 * - reads pin one version: the entry names its bytes by blob key, and bytes under a blob key
 *   never change; a reader holding an entry whose bytes were released meanwhile re-reads the
 *   entry and serves the current version, headers and bytes together.
 * - delete: remove the row first (under the path lock), then the bytes the deleted row named.
 * Directory creation, deletes and moves keep their cluster locks (their fencing tokens are
 * checked by the metadata store). Entries with no blob key (legacy layout, bytes at the path)
 * stay readable, are replaced by versioned ones on their next write, and move over with
 * `npm run migrate-blobs`.
 */
import type { Readable } from 'node:stream';
import { contentKeyOf, newBlobKey } from '../domain/blob-key.js';
import type { Entry, NewEntry } from '../domain/entry.js';
import { ancestorsOf, toBlobKey, type ParsedPath } from '../domain/path.js';
import { isSuperUser } from '../domain/permissions.js';
import { AppError, hasCode, heldElsewhere, isAppError } from '../errors/app-error.js';
import type { BlobStore, ByteRange } from '../ports/blob-store.js';
import type { LockHandle } from '../ports/lock-manager.js';
import type { CommitOutcome, ReplacedVersion, WriteCommit } from '../ports/metadata-store.js';
import { fenceOf, FileContext, requireAllowed, type FileServiceDeps, type UploadBody } from './file-context.js';
import type { CheckedEntry, LocalLocation } from './placement.js';

/** How long the replaced version of an S3 file stays readable after the commit (reads in flight). */
export const S3_RELEASE_GRACE_MS = 60_000;
/** Most times a conditional write re-checks its conditions against a newer version. */
const MAX_COMMIT_ATTEMPTS = 16;
/** Most times a read follows a version replaced under it before giving up. */
const MAX_PIN_ATTEMPTS = 4;

export type CreateOutcome = 'created' | 'already-a-directory';

export interface FileRead {
  readonly entry: Entry;
  readonly stream: Readable;
  /** Size of the stored bytes (authoritative for Content-Length / Content-Range). */
  readonly size: number;
  /** Set when this region's copy was missing or old and the origin region's bucket served it. */
  readonly readThroughRegion?: string;
}

/**
 * Checks an entry's validators before a write proceeds (If-Match and friends); throws to refuse.
 * Writes without conditions pass null: they replace whatever version is current at commit.
 */
export type WritePrecondition = (current: Entry | null) => void;

/** What a file write answers: whether it created the file, the new entry, the consistency token. */
export interface WriteResult {
  readonly created: boolean;
  readonly entry: Entry;
  /** Covers the commit (read-your-writes); null when the metadata store has no token. */
  readonly token: string | null;
  /** Where the write's time went (the HTTP layer reports it as Server-Timing). */
  readonly timing: WriteTiming;
}

/** Milliseconds a file write spent storing its bytes, and in its commit call(s) at the primary. */
export interface WriteTiming {
  readonly storeMs: number;
  readonly commitMs: number;
}

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

  /**
   * Metadata of an entry for GET/HEAD (read access is everyone's; missing → FILE_NOT_FOUND).
   * `vouched`: the fingerprint a forwarding node sent of the entry it read (EntryCache.get).
   */
  async stat(path: string, vouched?: string): Promise<Entry> {
    const entry = await this.#ctx.deps.cache.get(path, vouched);
    if (entry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    return entry;
  }

  /**
   * Opens a file's bytes (optionally a range). Bytes held elsewhere are forwarded for (see
   * placement.ts); one found elsewhere here is refused as PEER_UNAVAILABLE. The
   * read pins one version: when the bytes `entry` names are gone (a newer version replaced them
   * and they were released), the entry is read again from the primary and its version opened;
   * `FileRead.entry` is the entry whose bytes are streamed, so headers must come from it.
   * `located`: where Placement.read found `entry`'s bytes (saves locating them again; a newer
   * version is located afresh).
   */
  async open(entry: Entry, range: ByteRange | undefined, signal?: AbortSignal, located?: LocalLocation): Promise<FileRead> {
    let current = entry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#openVersion(current, range, signal, current === entry ? located : undefined);
      } catch (error) {
        if (!hasCode(error, 'FILE_NOT_FOUND') || attempt >= MAX_PIN_ATTEMPTS) throw error;
        const fresh = await this.#ctx.deps.metadata.getEntry(current.path);
        this.#ctx.changed(current.path);
        if (fresh === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${current.path}`);
        if (fresh.version === current.version && fresh.blobKey === current.blobKey) throw error;
        if (fresh.type !== 'file') throw new AppError('IS_A_DIRECTORY', `${fresh.path} is a directory`);
        current = fresh;
      }
    }
  }

  async #openVersion(entry: Entry, range: ByteRange | undefined, signal: AbortSignal | undefined, located: LocalLocation | undefined): Promise<FileRead> {
    if (entry.type !== 'file') throw new AppError('IS_A_DIRECTORY', `${entry.path} is a directory`);
    const location = located ?? (await this.#ctx.locateForRead(entry));
    if (location.kind === 'remote') throw heldElsewhere(location.instanceId, entry.path);
    const started = performance.now();
    // Bytes under a blob key never change; only the legacy layout needs the version check.
    const expectVersion = entry.backendType === 's3' && entry.blobKey === null ? entry.version : undefined;
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
  async create(userId: string, target: ParsedPath, body: UploadBody): Promise<{ outcome: CreateOutcome; token: string | null; timing: WriteTiming | null }> {
    const { path, directoryIntent } = target;
    const existing = await this.#ctx.authorize(userId, 'write', path);
    if (existing !== null) return { outcome: this.#existingOnCreate(existing, directoryIntent), token: null, timing: null };
    if (directoryIntent) return { outcome: await this.#createDirectory(userId, path, body.signal), token: null, timing: null };
    const { token, timing } = await this.#writeFile(userId, path, body, 'create', null, null);
    return { outcome: 'created', token, timing };
  }

  /**
   * PUT: replaces a file's content, or creates it (with parents) when missing, once
   * Placement.put has checked the caller's rights and placed the write here (`checked`).
   * Returns whether the file was created.
   */
  async put(userId: string, checked: CheckedEntry, body: UploadBody, precondition: WritePrecondition | null): Promise<WriteResult> {
    // The rights and type were checked on the cached entry (cheap refusal before any body is
    // read); the commit checks them again, and the conditions against the version it replaces.
    precondition?.(checked.existing);
    return this.#writeFile(userId, checked.path, body, 'replace', precondition, checked.existing);
  }

  /**
   * DELETE: a file, or an empty directory (non-empty → DIRECTORY_NOT_EMPTY, 409), once
   * Placement.remove has checked the caller's rights and placed the delete here.
   */
  async delete(checked: CheckedEntry, signal?: AbortSignal): Promise<void> {
    const { path } = checked;
    await this.#ctx.withLock('delete', [path], signal, async (lock) => {
      const entry = await this.#ctx.deps.metadata.entryForWrite(path, fenceOf(lock));
      if (entry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
      if (entry.type === 'directory' && (await this.#ctx.deps.metadata.hasChildren(path))) {
        throw new AppError('DIRECTORY_NOT_EMPTY', `directory not empty: ${path}`);
      }
      // The deleted row names the bytes to release (a write may have committed since the read above).
      const deleted = (await this.#ctx.deps.metadata.deleteEntry(path, fenceOf(lock))) ?? entry;
      this.#ctx.changed(path);
      // Local bytes are gone before the 204 (the reference's DELETE removes the file, not only its row).
      if (deleted.type === 'file') await this.#release({ path, version: deleted.version, blobKey: deleted.blobKey, backendType: deleted.backendType, instanceId: deleted.instanceId });
      else {
        const location = this.#ctx.locate(deleted);
        // The row is gone: from here on the directory is garbage. A failure only leaves work for the sweeper.
        if (location.kind === 'local') await location.store.removeDirectory(toBlobKey(path)).catch(() => undefined);
      }
      this.#ctx.deps.telemetry.fileOperation('delete', deleted.backendType);
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
   * Streams the body to a fresh blob key, then commits it (see the module comment). `mode`
   * 'create' refuses an existing entry; 'replace' creates or replaces. With a `precondition`,
   * the commit expects the version the conditions were checked against (`checked`); when
   * another version is current by then, the conditions are checked against it and the commit
   * is retried (the bytes stay where they are).
   */
  async #writeFile(
    userId: string,
    path: string,
    body: UploadBody,
    mode: 'create' | 'replace',
    precondition: WritePrecondition | null,
    checked: Entry | null,
  ): Promise<WriteResult> {
    const deps = this.#ctx.deps;
    // A replacement stays in its file's backend; a new file goes to the node's default.
    const backend = checked?.backendType ?? deps.defaultBackend;
    const store = this.#ctx.storeFor(backend);
    const blobKey = newBlobKey();
    const started = performance.now();
    const { size } = await store.write(blobKey, body.stream, { exclusive: true, fresh: true, expectedSize: body.length, signal: body.signal });
    const storeMs = performance.now() - started;
    deps.telemetry.backendOperation(backend, checked === null ? 'create' : 'update', storeMs / 1000);
    const write: WriteCommit = {
      path,
      mode,
      owner: userId,
      superUser: isSuperUser(userId),
      size,
      blobKey,
      backendType: backend,
      instanceId: backend === 'localfs' ? deps.instanceId : null,
      originInstanceId: deps.instanceId,
      directoryBackendType: deps.defaultBackend,
      directoryInstanceId: this.#ctx.newEntryInstanceId(),
      ...(mode === 'create' ? { expect: null } : precondition === null ? {} : { expect: expectationOf(checked) }),
      epoch: deps.epoch?.() ?? null,
    };
    let attempt = write;
    let commitMs = 0;
    for (let round = 1; ; round++) {
      const commitStarted = performance.now();
      const outcome = await this.#commit(store, attempt);
      commitMs += performance.now() - commitStarted;
      if (outcome.kind === 'committed') {
        this.#ctx.changed(path);
        for (const dir of outcome.createdDirectories) this.#ctx.changed(dir);
        // Not awaited: the writer's answer does not wait for the old version's removal.
        if (outcome.replaced !== null) void this.#release(outcome.replaced);
        deps.telemetry.fileOperation(outcome.created ? 'create' : 'update', backend);
        this.#written?.(outcome.entry);
        return { created: outcome.created, entry: outcome.entry, token: outcome.token, timing: { storeMs, commitMs } };
      }
      this.#ctx.changed(path);
      try {
        if (outcome.kind === 'exists' || (mode === 'create' && outcome.current !== null)) {
          throw this.#conflictOnCreate(outcome.kind === 'exists' ? outcome.current : (outcome.current as Entry));
        }
        // Another version is current: check the conditions (and rights) against it, then try again.
        const current = outcome.current;
        if (round >= MAX_COMMIT_ATTEMPTS) throw new AppError('PRECONDITION_FAILED', `${path} kept changing while this write waited to commit`);
        if (current !== null) requireAllowed(userId, 'write', current, null, path);
        if (current?.type === 'directory') throw new AppError('IS_A_DIRECTORY', `${path} is a directory`);
        precondition?.(current);
        attempt = { ...attempt, expect: expectationOf(current) };
      } catch (error) {
        await store.delete(blobKey).catch(() => undefined);
        throw error;
      }
    }
  }

  /** One commit; new bytes the store certainly refused are removed again. */
  async #commit(store: BlobStore, write: WriteCommit): Promise<CommitOutcome> {
    try {
      return await this.#ctx.deps.metadata.commitWrite(write);
    } catch (error) {
      if (hasCode(error, 'FENCED')) this.#ctx.deps.onFenced?.();
      // Only when the row was certainly not written: a lost connection or a timeout may come after
      // the commit (e.g. one waiting for a synchronous standby), and deleting then would leave a
      // row without bytes. Unreferenced blobs are the orphan sweeper's, once its grace has passed.
      if (rowCertainlyNotWritten(error)) await store.delete(write.blobKey).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Frees the bytes of a version nobody names any more. Local disk: now (a reader that opened
   * them keeps its descriptor; one that has not yet finds them gone and re-reads the entry).
   * S3: after S3_RELEASE_GRACE_MS, so reads streaming the old version finish. Bytes another node
   * holds, and copies on replica nodes, are left to those nodes' sweepers. Resolves once an
   * immediate removal is done (or scheduled, with a grace); never rejects: bytes left behind are
   * the sweeper's.
   */
  async #release(version: ReplacedVersion): Promise<void> {
    const deps = this.#ctx.deps;
    if (version.backendType === 'localfs' && version.instanceId !== null && version.instanceId !== deps.instanceId) return;
    const store = deps.blobs[version.backendType];
    if (store === null) return;
    const key = contentKeyOf({ path: version.path, blobKey: version.blobKey });
    const remove = (): Promise<void> => store.delete(key).catch(() => undefined);
    const grace = version.backendType === 's3' ? (deps.releaseGraceMs ?? S3_RELEASE_GRACE_MS) : 0;
    if (grace <= 0) await remove();
    else setTimeout(() => void remove(), grace).unref();
  }

  #conflictOnCreate(current: Entry): AppError {
    if (this.#ctx.isHeldElsewhere(current)) return crossServerConflict(current, false);
    return new AppError('FILE_ALREADY_EXISTS', `file already exists: ${current.path}`);
  }

  #newEntry(userId: string, path: string, type: 'file' | 'directory', size: number): NewEntry {
    return { path, type, size, owner: userId, backendType: this.#ctx.deps.defaultBackend, instanceId: this.#ctx.newEntryInstanceId(), originInstanceId: this.#ctx.deps.instanceId };
  }
}

/** What a conditional commit expects to replace: that exact version, or no entry at all. */
function expectationOf(entry: Entry | null): WriteCommit['expect'] {
  return entry === null ? null : { version: entry.version, ctimeMs: entry.ctime.getTime() };
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

