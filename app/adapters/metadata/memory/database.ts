/**
 * @module MemoryMetadataDatabase: what one Postgres database holds for every node that uses it,
 * kept in the process for the memory twin of the metadata store (memory.ts): entries with their
 * fences, links, members, replica copies, the cluster identity, the nonces of signed peer calls,
 * the fencing epoch row, the log position, and the change feed every store opened on it listens to.
 */
import { randomUUID } from 'node:crypto';
import type { Entry, NewEntry } from '../../../domain/entry.js';
import { DIRECTORY_MODE, FILE_MODE, ROOT_OWNER } from '../../../domain/entry.js';
import { AppError } from '../../../errors/app-error.js';
import type { MemberAnnouncement } from '../../../ports/cluster-registry.js';
import type { EpochState } from '../../../ports/fencing.js';
import type { LinkRecord, MetadataChange } from '../../../ports/metadata-store.js';
import { fencedError } from '../errors.js';

export interface StoredEntry {
  entry: Entry;
  /** Fencing token of the last writer. */
  fence: number;
  parentPath: string | null;
}

export interface StoredLink {
  record: LinkRecord;
  usedAt: Date | null;
}

export interface StoredMember {
  readonly announcement: MemberAnnouncement;
  readonly lastSeen: Date;
}

/** Byte order of the UTF-8 encodings (Postgres `COLLATE "C"`). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export function parentOf(path: string): string | null {
  if (path === '/') return null;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/** The shared state: what one Postgres database holds for every node that uses it. */
export class MemoryMetadataDatabase {
  readonly entries = new Map<string, StoredEntry>();
  readonly links = new Map<string, StoredLink>();
  readonly members = new Map<string, StoredMember>();
  /** path → instance → version of its copy. */
  readonly replicas = new Map<string, Map<string, number>>();
  readonly listeners = new Set<(change: MetadataChange) => void>();
  /** Nonce → when it may be claimed again (epoch ms). */
  readonly peerNonces = new Map<string, number>();
  /** The cluster's identity (`callfs_cluster`), made with the database. */
  readonly clusterId = randomUUID();
  #epoch: Omit<EpochState, 'readOnly'> = { epoch: 1, fenced: false, primaryRegion: null, lockHome: null, primaryHost: null };
  #available = true;
  #position = 0n;

  constructor() {
    const now = new Date();
    const root: Entry = { path: '/', name: '', type: 'directory', size: 0, mode: DIRECTORY_MODE, owner: ROOT_OWNER, mtime: now, ctime: now, backendType: 'localfs', instanceId: null, originInstanceId: null, version: 1, blobKey: null };
    this.entries.set('/', { entry: root, fence: 0, parentPath: null });
  }

  /** Adds a new entry (version 1, times = now) stamped with `fence`; the caller checked the path is free. */
  insert(entry: NewEntry, fence: number, blobKey: string | null = null): Entry {
    const now = new Date();
    const created: Entry = {
      path: entry.path,
      name: entry.path.slice(entry.path.lastIndexOf('/') + 1),
      type: entry.type,
      size: entry.size,
      mode: entry.type === 'file' ? FILE_MODE : DIRECTORY_MODE,
      owner: entry.owner,
      mtime: now,
      ctime: now,
      backendType: entry.backendType,
      instanceId: entry.instanceId,
      originInstanceId: entry.originInstanceId,
      version: 1,
      blobKey,
    };
    this.entries.set(entry.path, { entry: created, fence, parentPath: parentOf(entry.path) });
    return created;
  }

  /** True when the directory at `path` has a child. */
  hasChildren(path: string): boolean {
    for (const stored of this.entries.values()) if (stored.parentPath === path) return true;
    return false;
  }

  /** Changes the epoch row, as a failover does (fenced former primary, new epoch, new lock home). */
  setEpoch(change: Partial<Omit<EpochState, 'readOnly'>>): void {
    this.#epoch = { ...this.#epoch, ...change };
  }

  epoch(): EpochState {
    return { ...this.#epoch, readOnly: false };
  }

  /** false: every call fails with METADATA_UNAVAILABLE until it is set back. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  requireAvailable(): void {
    if (!this.#available) throw new AppError('METADATA_UNAVAILABLE', 'the metadata database is unavailable', { retryAfterSec: 1 });
  }

  /** Throws FENCED unless a write carrying `epoch` may commit here (see app/fencing's guard). */
  assertEpoch(epoch: number | null): void {
    if (this.#epoch.fenced || (epoch !== null && epoch !== this.#epoch.epoch)) throw fencedError();
  }

  /** Advances the log position by one commit and publishes its changes. */
  commit(changes: readonly MetadataChange[]): void {
    this.#position++;
    for (const change of changes) for (const listener of this.listeners) listener(change);
  }

  /** The position as an LSN (`X/Y`). */
  position(): string {
    return `${(this.#position >> 32n).toString(16).toUpperCase()}/${(this.#position & 0xffffffffn).toString(16).toUpperCase()}`;
  }
}
