/**
 * @module MemoryMetadataStore: the metadata ports (MetadataStore, ReplicaStore, ClusterRegistry,
 * StorageCatalog, PeerNonceStore, the consistency positions and the fencing epoch) over a `MemoryMetadataDatabase` held in the
 * process. Several stores opened on one database behave like several nodes sharing one Postgres:
 * each write is published to every store's subscribers before it returns, so a reader that asks
 * `syncChanges()` afterwards has seen it. It runs through the same contract suite as the Postgres
 * store (test/contract/metadata-store.contract.ts), so services and HTTP routes can be tested
 * in-process, without a database.
 *
 * The database (memory-database.ts) can be fenced or moved to another epoch (as a failover
 * would), and made unavailable (every call then fails with METADATA_UNAVAILABLE, as a lost
 * connection does).
 */
import type { BackendType, Entry, NewEntry } from '../../domain/entry.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterRegistry, MemberAnnouncement, MemberRecord } from '../../ports/cluster-registry.js';
import type { ReplicaProgress, WalPosition } from '../../ports/consistency.js';
import type { EpochSource, EpochState } from '../../ports/fencing.js';
import type { CommitOutcome, Fence, LinkRecord, MetadataChange, MetadataStore, MoveOptions, WriteCommit } from '../../ports/metadata-store.js';
import type { PeerNonceStore } from '../../ports/peer-nonces.js';
import type { ReplicaStore, UnderReplicated } from '../../ports/replica-store.js';
import type { ClusterRecord, StorageCatalog } from '../../ports/storage-catalog.js';
import { adoptBlobKeyIn, commitWriteIn, legacyFilesIn } from './memory-commit.js';
import { byteOrder, isWithin, MemoryMetadataDatabase, parentOf } from './memory-database.js';

export { MemoryMetadataDatabase } from './memory-database.js';

export class MemoryMetadataStore
  implements MetadataStore, ReplicaStore, ClusterRegistry, StorageCatalog, PeerNonceStore, WalPosition, ReplicaProgress, EpochSource
{
  readonly database: MemoryMetadataDatabase;
  readonly #listeners = new Set<(change: MetadataChange) => void>();
  readonly #relay = (change: MetadataChange): void => {
    for (const listener of this.#listeners) listener(change);
  };
  #closed = false;

  constructor(database: MemoryMetadataDatabase = new MemoryMetadataDatabase()) {
    this.database = database;
    database.listeners.add(this.#relay);
  }

  #open(): MemoryMetadataDatabase {
    if (this.#closed) throw new AppError('METADATA_UNAVAILABLE', 'the metadata store is closed');
    this.database.requireAvailable();
    return this.database;
  }

  #write(fence: Fence): MemoryMetadataDatabase {
    const db = this.#open();
    db.assertEpoch(fence.epoch);
    return db;
  }

  async getEntry(path: string): Promise<Entry | null> {
    return this.#open().entries.get(path)?.entry ?? null;
  }

  async entryForWrite(path: string, fence: Fence): Promise<Entry | null> {
    return this.#write(fence).entries.get(path)?.entry ?? null;
  }

  async listChildren(path: string): Promise<Entry[]> {
    const children = [...this.#open().entries.values()].filter((s) => s.parentPath === path).map((s) => s.entry);
    return children.sort((a, b) => (a.type === b.type ? byteOrder(a.name, b.name) : a.type === 'file' ? -1 : 1));
  }

  async hasChildren(path: string): Promise<boolean> {
    return this.#open().hasChildren(path);
  }

  async fileHoldersWithin(path: string): Promise<string[]> {
    const holders = new Set<string>();
    for (const { entry } of this.#open().entries.values()) {
      if (isWithin(entry.path, path) && entry.type === 'file' && entry.backendType === 'localfs' && entry.instanceId !== null) holders.add(entry.instanceId);
    }
    return [...holders].sort(byteOrder);
  }

  async createEntry(entry: NewEntry, fence: Fence): Promise<Entry> {
    const db = this.#write(fence);
    if (db.entries.has(entry.path)) throw new AppError('FILE_ALREADY_EXISTS', 'the path already exists');
    const created = db.insert(entry, fence.token);
    db.commit([{ path: entry.path, subtree: false }]);
    return created;
  }

  async ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]> {
    if (entries.length === 0) return [];
    const db = this.#write(fence);
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
    const db = this.#write(fence);
    const stored = db.entries.get(path);
    if (stored === undefined) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    if (stored.fence > fence.token) throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this write was refused`);
    stored.entry = { ...stored.entry, size, mtime: new Date(), version: stored.entry.version + 1 };
    stored.fence = fence.token;
    db.commit([{ path, subtree: false }]);
    return stored.entry;
  }

  async deleteEntry(path: string, fence: Fence): Promise<Entry | null> {
    const db = this.#write(fence);
    const stored = db.entries.get(path);
    if (stored === undefined) return null;
    if (db.hasChildren(path)) throw new AppError('DIRECTORY_NOT_EMPTY', `directory not empty: ${path}`);
    if (stored.fence > fence.token) throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this delete was refused`);
    db.entries.delete(path);
    db.replicas.delete(path);
    db.commit([{ path, subtree: false }]);
    return stored.entry;
  }

  async commitWrite(write: WriteCommit): Promise<CommitOutcome> {
    return commitWriteIn(this.#open(), write);
  }

  async adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean> {
    return adoptBlobKeyIn(this.#open(), path, version, blobKey);
  }

  async legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]> {
    return legacyFilesIn(this.#open(), holder, backend, afterPath, limit);
  }

  async moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry> {
    const db = this.#write(options.fence);
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

  async insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void> {
    const db = this.#open();
    if (db.links.has(link.token)) throw new AppError('FILE_ALREADY_EXISTS', 'the path already exists');
    db.links.set(link.token, { record: { ...link, status: 'active', createdAt: new Date() }, usedAt: null });
  }

  async getLink(token: string): Promise<LinkRecord | null> {
    return this.#open().links.get(token)?.record ?? null;
  }

  async consumeLink(token: string): Promise<boolean> {
    const stored = this.#open().links.get(token);
    if (stored === undefined || stored.record.status !== 'active' || stored.record.expiresAt.getTime() <= Date.now()) return false;
    stored.record = { ...stored.record, status: 'used' };
    stored.usedAt = new Date();
    return true;
  }

  async releaseLink(token: string): Promise<boolean> {
    const stored = this.#open().links.get(token);
    if (stored === undefined || stored.record.status !== 'used' || stored.record.expiresAt.getTime() <= Date.now()) return false;
    stored.record = { ...stored.record, status: 'active' };
    stored.usedAt = null;
    return true;
  }

  async deleteStaleLinks(usedRetentionMs: number): Promise<number> {
    const db = this.#open();
    const now = Date.now();
    let deleted = 0;
    for (const [token, { record, usedAt }] of db.links) {
      const expired = record.status === 'active' && record.expiresAt.getTime() < now;
      const spent = record.status === 'used' && usedAt !== null && usedAt.getTime() < now - usedRetentionMs;
      if (expired || spent) {
        db.links.delete(token);
        deleted++;
      }
    }
    return deleted;
  }

  async findMissing(paths: readonly string[]): Promise<string[]> {
    const db = this.#open();
    return paths.filter((p) => !db.entries.has(p));
  }

  subscribe(listener: (change: MetadataChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Changes are published before the write that made them returns: nothing is ever pending. */
  async syncChanges(): Promise<boolean> {
    return !this.#closed;
  }

  async ping(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.database.listeners.delete(this.#relay);
  }

  // ---- storage catalog and peer nonces --------------------------------------------------

  /** The identity is made with the database, before any entry: it never predates markers. */
  async cluster(): Promise<ClusterRecord> {
    const db = this.#open();
    return { clusterId: db.clusterId, predatesMarkers: false, holdsEntries: db.entries.size > 1 };
  }

  async unreferencedBlobKeys(keys: readonly string[]): Promise<string[]> {
    const referenced = new Set<string>();
    for (const { entry } of this.#open().entries.values()) if (entry.blobKey !== null) referenced.add(entry.blobKey);
    return keys.filter((key) => !referenced.has(key));
  }

  async highestFence(): Promise<number> {
    let highest = 0;
    for (const { fence } of this.#open().entries.values()) highest = Math.max(highest, fence);
    return highest;
  }

  async claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean> {
    const nonces = this.#open().peerNonces;
    const now = Date.now();
    const until = nonces.get(nonce);
    // A nonce past its time to live may be claimed again (Postgres purges such rows too).
    if (until !== undefined && until >= now) return false;
    for (const [seen, expires] of nonces) if (expires < now) nonces.delete(seen);
    nonces.set(nonce, now + ttlMs);
    return true;
  }

  async claimPeerNonces(nonces: readonly string[], ttlMs: number): Promise<ReadonlySet<string>> {
    const claimed = new Set<string>();
    for (const nonce of nonces) if (await this.claimPeerNonce(nonce, ttlMs)) claimed.add(nonce);
    return claimed;
  }

  // ---- fencing and positions --------------------------------------------------------------

  async readEpoch(): Promise<EpochState> {
    return this.#open().epoch();
  }

  async currentLsn(): Promise<string> {
    return this.#open().position();
  }

  async replayLsn(): Promise<string | null> {
    return this.#open().position();
  }

  async lagMs(): Promise<number> {
    this.#open();
    return 0;
  }

  // ---- cluster registry -------------------------------------------------------------------

  async heartbeat(member: MemberAnnouncement, forgetAfterMs: number): Promise<void> {
    const db = this.#open();
    const now = Date.now();
    for (const [id, stored] of db.members) if (id !== member.instanceId && stored.lastSeen.getTime() < now - forgetAfterMs) db.members.delete(id);
    db.members.set(member.instanceId, { announcement: { ...member }, lastSeen: new Date(now) });
  }

  async deregister(instanceId: string): Promise<void> {
    this.#open().members.delete(instanceId);
  }

  async listMembers(): Promise<MemberRecord[]> {
    const now = Date.now();
    return [...this.#open().members.values()]
      .map(({ announcement, lastSeen }) => ({ ...announcement, lastSeen, ageMs: Math.max(0, now - lastSeen.getTime()) }))
      .sort((a, b) => byteOrder(a.instanceId, b.instanceId));
  }

  // ---- replicas ---------------------------------------------------------------------------

  async recordReplica(path: string, instanceId: string, version: number): Promise<boolean> {
    const db = this.#open();
    const entry = db.entries.get(path)?.entry;
    if (entry === undefined || entry.type !== 'file' || entry.version !== version) return false;
    const copies = db.replicas.get(path) ?? new Map<string, number>();
    copies.set(instanceId, version);
    db.replicas.set(path, copies);
    return true;
  }

  async currentReplicas(path: string, version: number): Promise<string[]> {
    const db = this.#open();
    if (db.entries.get(path)?.entry.version !== version) return [];
    return [...(db.replicas.get(path) ?? [])].filter(([, v]) => v === version).map(([id]) => id).sort(byteOrder);
  }

  /** Local-disk files held by `holder`, each with the instances holding a current copy elsewhere. */
  #heldBy(db: MemoryMetadataDatabase, holder: string): Array<{ entry: Entry; copies: string[] }> {
    const held: Array<{ entry: Entry; copies: string[] }> = [];
    for (const { entry } of db.entries.values()) {
      if (entry.instanceId !== holder || entry.type !== 'file' || entry.backendType !== 'localfs') continue;
      const copies = [...(db.replicas.get(entry.path) ?? [])].filter(([id, v]) => v === entry.version && id !== holder).map(([id]) => id);
      held.push({ entry, copies: copies.sort(byteOrder) });
    }
    return held.sort((a, b) => byteOrder(a.entry.path, b.entry.path));
  }

  async underReplicated(holder: string, wanted: number, limit: number): Promise<UnderReplicated[]> {
    return this.#heldBy(this.#open(), holder)
      .filter(({ copies }) => copies.length < wanted)
      .slice(0, limit)
      .map(({ entry, copies }) => ({ path: entry.path, version: entry.version, size: entry.size, replicas: copies }));
  }

  async promoteReplicas(oldHolder: string, newHolder: string): Promise<string[]> {
    const db = this.#open();
    const promoted: string[] = [];
    for (const { entry, copies } of this.#heldBy(db, oldHolder)) {
      if (!copies.includes(newHolder)) continue;
      const stored = db.entries.get(entry.path);
      if (stored === undefined) continue;
      stored.entry = { ...entry, instanceId: newHolder, ctime: new Date() };
      db.replicas.get(entry.path)?.delete(newHolder);
      promoted.push(entry.path);
    }
    if (promoted.length > 0) db.commit(promoted.map((path) => ({ path, subtree: false })));
    return promoted;
  }

  async replicaHoldersOf(holder: string): Promise<string[]> {
    const counts = new Map<string, number>();
    for (const { copies } of this.#heldBy(this.#open(), holder)) for (const id of copies) counts.set(id, (counts.get(id) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1] || byteOrder(a[0], b[0])).map(([id]) => id);
  }

  async countUnreplicated(holder: string): Promise<number> {
    return this.#heldBy(this.#open(), holder).filter(({ copies }) => copies.length === 0).length;
  }
}
