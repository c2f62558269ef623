/**
 * @module What every file use case shares: its dependencies, authorization against the store,
 * choosing the blob store that holds an entry, and running a critical section under a path lock.
 */
import type { Readable } from 'node:stream';
import type { BackendType, Entry } from '../domain/entry.js';
import { authorize, type Access } from '../domain/permissions.js';
import { contentKeyOf } from '../domain/blob-key.js';
import { parentOf } from '../domain/path.js';
import { AppError, hasCode, heldElsewhere } from '../errors/app-error.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { LockHandle, LockManager } from '../ports/lock-manager.js';
import type { Fence, MetadataStore } from '../ports/metadata-store.js';
import type { Telemetry } from '../ports/telemetry.js';
import type { EntryCache } from './entry-cache.js';
import type { RemoteBytes } from './peer-bytes.js';

export interface FileServiceDeps {
  readonly metadata: MetadataStore;
  readonly cache: EntryCache;
  readonly blobs: { readonly localfs: BlobStore | null; readonly s3: BlobStore | null };
  readonly locks: LockManager;
  readonly telemetry: Telemetry;
  readonly instanceId: string;
  readonly defaultBackend: BackendType;
  readonly lockWaitMs: number;
  /**
   * S3 buckets of other regions, for reading through to an entry's origin region when this
   * region's bucket has no current copy yet (bucket replication lags); absent = none configured.
   */
  readonly s3Origins?: S3Origins | undefined;
  /** Moves bytes held on other nodes (directory moves); absent on a node without peers. */
  readonly remoteBytes?: RemoteBytes | undefined;
  /** Where copies of local-disk files are and which nodes can serve them; absent = no replication. */
  readonly replicaReads?: ReplicaReads | undefined;
  /** Told when the metadata store refused a write as FENCED (the epoch watch looks again at once). */
  readonly onFenced?: (() => void) | undefined;
  /** The node's known fencing epoch, checked by every write commit (absent/null: only a fenced database refuses). */
  readonly epoch?: (() => number | null) | undefined;
  /** How long a replaced S3 version stays readable (default S3_RELEASE_GRACE_MS in files.ts). */
  readonly releaseGraceMs?: number | undefined;
}

export interface S3Origins {
  readonly ownRegion: string;
  regionOf(instanceId: string): string;
  /** The bucket of `region`, or null when none is configured for it. */
  storeFor(region: string): BlobStore | null;
}

export interface ReplicaReads {
  currentReplicas(path: string, version: number): Promise<string[]>;
  isUp(instanceId: string): boolean;
  regionOf(instanceId: string): string;
  /** Round trip from this node's region to `region` in ms (own region 0; unknown: a large value). */
  distanceTo(region: string): number;
}

/** Where an entry's bytes are, from this node's point of view (`key`: its blob key, or its path for legacy entries). */
export type Location =
  | { readonly kind: 'local'; readonly store: BlobStore; readonly key: string }
  | { readonly kind: 'remote'; readonly instanceId: string };

export interface UploadBody {
  readonly stream: Readable;
  /** Declared Content-Length, when the client sent one. */
  readonly length: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export class FileContext {
  constructor(readonly deps: FileServiceDeps) {}

  /** The store holding the bytes of entries of `backend` on this node, or STORAGE_UNAVAILABLE. */
  storeFor(backend: BackendType): BlobStore {
    const store = this.deps.blobs[backend];
    if (store === null) {
      throw new AppError('STORAGE_UNAVAILABLE', `this node has no ${backend} storage configured`, {
        details: { backend_type: backend },
      });
    }
    return store;
  }

  /**
   * Where an entry's bytes are. Local-disk files written by another node are remote; S3 entries
   * are served by any node with S3 configured, else by the node that created them; local-disk
   * directories are handled on every node (metadata, plus this node's own directory).
   */
  locate(entry: Entry): Location {
    if (this.isHeldElsewhere(entry) && entry.type === 'file') return { kind: 'remote', instanceId: entry.instanceId ?? '' };
    const store = this.deps.blobs[entry.backendType];
    if (store !== null) return { kind: 'local', store, key: contentKeyOf(entry) };
    // This node lacks the entry's backend (an S3 entry on a local-disk-only node): its creator has it.
    const origin = entry.originInstanceId;
    if (origin !== null && origin !== this.deps.instanceId) return { kind: 'remote', instanceId: origin };
    return { kind: 'local', store: this.storeFor(entry.backendType), key: contentKeyOf(entry) };
  }

  /**
   * Where to read an entry's bytes from: like `locate`, but a file held elsewhere may be read from
   * a current replica: this node's own copy first, else the nearest reachable node with the
   * bytes (by the region round-trip table; the holder first among equals), else the holder.
   */
  async locateForRead(entry: Entry): Promise<Location> {
    const location = this.locate(entry);
    const reads = this.deps.replicaReads;
    if (location.kind === 'local' || reads === undefined || entry.type !== 'file' || entry.backendType !== 'localfs') return location;
    const replicas = await reads.currentReplicas(entry.path, entry.version);
    if (replicas.length === 0) return location;
    const self = this.deps.instanceId;
    const store = this.deps.blobs.localfs;
    if (store !== null && replicas.includes(self)) return { kind: 'local', store, key: contentKeyOf(entry) };
    const holder = location.instanceId;
    const reachable = [holder, ...replicas.filter((id) => id !== holder)].filter((id) => reads.isUp(id));
    // Array.prototype.sort is stable: among nodes at the same distance the holder stays first.
    const nearest = reachable.map((id) => ({ id, distance: reads.distanceTo(reads.regionOf(id)) })).sort((a, b) => a.distance - b.distance)[0];
    return { kind: 'remote', instanceId: nearest?.id ?? holder };
  }

  /** The origin region's bucket of an S3 entry created in another region, if configured. */
  originStore(entry: Entry): { region: string; store: BlobStore } | null {
    const origins = this.deps.s3Origins;
    if (origins === undefined || entry.backendType !== 's3' || entry.originInstanceId === null) return null;
    const region = origins.regionOf(entry.originInstanceId);
    if (region === origins.ownRegion) return null;
    const store = origins.storeFor(region);
    return store === null ? null : { region, store };
  }

  /** The entry was created on (and, for local disk, is stored by) another node. */
  isHeldElsewhere(entry: Entry): boolean {
    return entry.instanceId !== null && entry.instanceId !== this.deps.instanceId && entry.backendType === 'localfs';
  }

  /**
   * Refuses (PEER_UNAVAILABLE) an entry whose bytes another node holds. For use cases already
   * placed here by services/placement.ts: it catches an entry that moved to another node since.
   */
  requireLocal(entry: Entry): void {
    const location = this.locate(entry);
    if (location.kind === 'remote') throw heldElsewhere(location.instanceId, entry.path);
  }

  /** Instance id recorded on new entries of the default backend (CallFS: null for S3). */
  newEntryInstanceId(): string | null {
    return this.deps.defaultBackend === 'localfs' ? this.deps.instanceId : null;
  }

  /**
   * Checks `access` on `path` and returns the entry (null when missing and the access is a
   * permitted write). Throws FILE_NOT_FOUND / PERMISSION_DENIED. Reads the store directly unless
   * `viaCache` — allowed only where the decision is checked again on a fresh read under the lock.
   */
  async authorize(userId: string, access: Access, path: string, viaCache = false): Promise<Entry | null> {
    const read = (p: string): Promise<Entry | null> => (viaCache ? this.deps.cache.get(p) : this.deps.metadata.getEntry(p));
    const target = await read(path);
    const parent = target === null && access === 'write' && path !== '/' ? await read(parentOf(path)) : null;
    requireAllowed(userId, access, target, parent, path);
    return target;
  }

  /** Runs `work` while holding the locks of `paths`; the locks are released on every path out. */
  async withLock<T>(operation: string, paths: readonly string[], signal: AbortSignal | undefined, work: (lock: LockHandle) => Promise<T>): Promise<T> {
    const started = performance.now();
    let lock: LockHandle;
    try {
      lock = await this.deps.locks.acquire(paths, { waitMs: this.deps.lockWaitMs, signal });
      this.deps.telemetry.lockWait(operation, 'acquired', (performance.now() - started) / 1000);
    } catch (error) {
      const timedOut = error instanceof AppError && error.code === 'LOCK_TIMEOUT';
      this.deps.telemetry.lockWait(operation, timedOut ? 'timeout' : 'error', (performance.now() - started) / 1000);
      throw error;
    }
    try {
      return await work(lock);
    } catch (error) {
      if (hasCode(error, 'FENCED')) this.deps.onFenced?.();
      throw error;
    } finally {
      await lock.release();
    }
  }

  /** Tells this node's cache about a change right away (other nodes hear it from the feed). */
  changed(path: string, subtree = false): void {
    this.deps.cache.invalidate({ path, subtree });
  }
}

/** Throws FILE_NOT_FOUND / PERMISSION_DENIED unless the rules of domain/permissions.ts allow it. */
export function requireAllowed(userId: string, access: Access, target: Entry | null, parent: Entry | null, path: string): void {
  const decision = authorize(userId, access, target, parent);
  if (decision === 'not-found') throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
  if (decision === 'deny') throw new AppError('PERMISSION_DENIED', 'permission denied');
}

/** What a metadata write under `lock` carries: its fencing token and its lock home's epoch. */
export function fenceOf(lock: LockHandle): Fence {
  return { token: lock.fence, epoch: lock.epoch };
}

/** Combines the request's abort signal with the lock's `lost` signal. */
export function linkedSignal(...signals: ReadonlyArray<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}
