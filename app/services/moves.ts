/**
 * @module MoveService: PATCH rename / move (CallFS reference §2.3.5), with one canonical
 * destination used for authorization, locking, metadata and bytes (fixing the reference's
 * raw-destination quirk). Bytes move first, then the metadata subtree is re-keyed in one
 * transaction; if that fails the bytes are moved back. A directory whose files are held by
 * several nodes has its bytes moved on each of those nodes too (all of them must be up). Files
 * with a blob key (the versioned layout) keep their bytes where they are: moving them, alone or
 * inside a directory, is metadata only; only legacy-layout bytes (at their path) move.
 */
import type { Entry } from '../domain/entry.js';
import { ancestorsOf, isWithin, joinPath, parentOf, parsePath, toBlobKey } from '../domain/path.js';
import { AppError, hasCode, heldElsewhere } from '../errors/app-error.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { Fence } from '../ports/metadata-store.js';
import { fenceOf, type FileContext } from './file-context.js';

export interface MoveRequest {
  readonly name?: string | undefined;
  readonly destination?: string | undefined;
  readonly backend?: string | undefined;
  readonly instance?: string | undefined;
  readonly overwrite: boolean;
  readonly createParents: boolean;
}

function badRequest(message: string): AppError {
  return new AppError('BAD_REQUEST', message);
}

/** Resolves `name` or `destination` to one canonical destination path (400 on anything off). */
export function resolveDestination(source: string, request: MoveRequest): string {
  const hasName = request.name !== undefined && request.name !== '';
  const hasDestination = request.destination !== undefined && request.destination !== '';
  if (hasName === hasDestination) throw badRequest('exactly one of "name" or "destination" is required');
  try {
    if (hasName) {
      const name = request.name ?? '';
      if (name.includes('/') || name === '.' || name === '..') throw badRequest('"name" must be a single path segment');
      return parsePath(joinPath(parentOf(source), name)).path;
    }
    return parsePath(request.destination ?? '').path;
  } catch (error) {
    if (error instanceof AppError && error.code === 'INVALID_PATH') throw badRequest(error.message.replace('invalid path', 'invalid destination'));
    throw error;
  }
}

export class MoveService {
  constructor(private readonly ctx: FileContext) {}

  /** Moves `source` for `userId`; returns the canonical destination. */
  async move(userId: string, source: string, request: MoveRequest, signal?: AbortSignal): Promise<string> {
    const destination = resolveDestination(source, request);
    if (source === '/' || destination === '/') throw badRequest('the root directory cannot be moved or replaced');
    if (source === destination) throw badRequest('source and destination are the same path');
    if (isWithin(destination, source)) throw badRequest('cannot move a directory inside itself');
    const sourceEntry = await this.ctx.authorize(userId, 'delete', source);
    if (sourceEntry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${source}`);
    await this.ctx.authorize(userId, 'write', destination);
    this.#refuseRelocation(sourceEntry, request);
    this.ctx.requireLocal(sourceEntry);
    return this.ctx.withLock('rename', [source, destination], signal, async (lock) => {
      const { metadata } = this.ctx.deps;
      const entry = await metadata.entryForWrite(source, fenceOf(lock));
      if (entry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${source}`);
      await this.#prepareDestinationParent(entry, destination, request.createParents, fenceOf(lock));
      const existing = await metadata.getEntry(destination);
      if (existing !== null) this.#checkOverwrite(entry, existing, request.overwrite, await metadata.hasChildren(destination));
      const location = this.ctx.locate(entry);
      if (location.kind === 'remote') throw heldElsewhere(location.instanceId, source);
      const store = location.store;
      const remoteHolders = entry.type === 'directory' && entry.backendType === 'localfs' ? await this.#remoteHoldersWithin(source) : [];
      if (existing !== null && existing.type === 'directory') await store.removeDirectory(toBlobKey(destination));
      const undo: Array<() => Promise<void>> = [];
      // A versioned file's bytes are named by its blob key, not its path: nothing to move.
      const bytesMove = !(entry.type === 'file' && entry.blobKey !== null);
      try {
        if (bytesMove) {
          await this.#moveLocal(store, entry, location.key, toBlobKey(destination));
          undo.push(() => this.#moveLocal(store, entry, toBlobKey(destination), location.key));
        }
        for (const holder of remoteHolders) {
          await this.ctx.deps.remoteBytes?.move(holder, source, destination, userId);
          undo.push(async () => this.ctx.deps.remoteBytes?.move(holder, destination, source, userId));
        }
        await metadata.moveEntry(source, destination, { overwrite: request.overwrite, fence: fenceOf(lock) });
      } catch (error) {
        for (const step of undo.reverse()) await step().catch(() => undefined);
        throw error;
      } finally {
        this.ctx.changed(source, true);
        this.ctx.changed(destination, true);
      }
      // A replaced destination file's bytes are garbage now, unless the move just put the source's there.
      if (existing !== null && existing.type === 'file' && existing.blobKey !== null) await this.#releaseReplaced(existing);
      this.ctx.deps.telemetry.fileOperation('rename', entry.backendType);
      return destination;
    });
  }

  /**
   * The receiving side of a directory move done by another node: moves this node's bytes of the
   * subtree (nothing to do when it has none). The caller was authorized by the moving node.
   */
  async moveHeldBytes(from: string, to: string): Promise<void> {
    const store = this.ctx.deps.blobs.localfs;
    if (store === null) return;
    try {
      await store.move(toBlobKey(from), toBlobKey(to));
    } catch (error) {
      if (!hasCode(error, 'FILE_NOT_FOUND')) throw error;
    }
  }

  /** Removes the bytes of a versioned file the move replaced, when this node holds them. */
  async #releaseReplaced(replaced: Entry): Promise<void> {
    const location = this.ctx.locate(replaced);
    if (location.kind === 'local') await location.store.delete(location.key).catch(() => undefined);
  }

  /** Other nodes holding files of a directory's subtree; PEER_UNAVAILABLE unless all are up. */
  async #remoteHoldersWithin(path: string): Promise<string[]> {
    const holders = (await this.ctx.deps.metadata.fileHoldersWithin(path)).filter((id) => id !== this.ctx.deps.instanceId);
    const remote = this.ctx.deps.remoteBytes;
    const down = holders.find((id) => remote === undefined || !remote.isUp(id));
    if (down !== undefined) {
      throw new AppError('PEER_UNAVAILABLE', `${path} has files held by node ${down}, which is unreachable; nothing was moved`, {
        details: { instance_id: down },
        retryAfterSec: 5,
      });
    }
    return holders;
  }

  /** A directory may have no bytes on this node (its files live elsewhere): nothing to move then. */
  async #moveLocal(store: BlobStore, entry: Entry, from: string, to: string): Promise<void> {
    try {
      await store.move(from, to);
    } catch (error) {
      if (!(entry.type === 'directory' && hasCode(error, 'FILE_NOT_FOUND'))) throw error;
    }
  }

  #refuseRelocation(entry: Entry, request: MoveRequest): void {
    if (request.backend !== undefined && request.backend !== '' && request.backend !== entry.backendType) {
      if (request.backend !== 'localfs' && request.backend !== 's3') throw badRequest(`unknown backend "${request.backend}"`);
      throw badRequest('moving an entry to another backend is not supported by this node');
    }
    if (request.instance !== undefined && request.instance !== '' && request.instance !== (entry.instanceId ?? this.ctx.deps.instanceId)) {
      throw badRequest('moving an entry to another instance is not supported by this node');
    }
  }

  async #prepareDestinationParent(entry: Entry, destination: string, createParents: boolean, fence: Fence): Promise<void> {
    const parentPath = parentOf(destination);
    const parent = await this.ctx.deps.metadata.getEntry(parentPath);
    if (parent?.type === 'directory') return;
    if (parent !== null) throw new AppError('PARENT_NOT_DIRECTORY', `${parentPath} is a file, not a directory`);
    if (!createParents) throw badRequest(`destination parent ${parentPath} does not exist`);
    const created = await this.ctx.deps.metadata.ensureDirectories(
      [...ancestorsOf(destination)].map((path) => ({
        path,
        type: 'directory' as const,
        size: 0,
        owner: entry.owner,
        backendType: entry.backendType,
        instanceId: entry.instanceId,
        originInstanceId: entry.originInstanceId,
      })),
      fence,
    );
    const blocker = created.find((e) => e.type !== 'directory');
    if (blocker !== undefined) throw new AppError('PARENT_NOT_DIRECTORY', `${blocker.path} is a file, not a directory`);
    for (const e of created) this.ctx.changed(e.path);
  }

  #checkOverwrite(entry: Entry, existing: Entry, overwrite: boolean, destinationHasChildren: boolean): void {
    if (!overwrite) throw new AppError('FILE_ALREADY_EXISTS', `destination already exists: ${existing.path}`);
    if (existing.type !== entry.type) {
      throw new AppError(existing.type === 'directory' ? 'IS_A_DIRECTORY' : 'NOT_A_DIRECTORY', `cannot replace a ${existing.type} with a ${entry.type}`);
    }
    if (destinationHasChildren) throw new AppError('DIRECTORY_NOT_EMPTY', `destination directory not empty: ${existing.path}`);
  }
}
