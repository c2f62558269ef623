/**
 * @module ComposedMetadataStore: the metadata ports answered by one repository per aggregate.
 * Both metadata adapters (Postgres in postgres/, the in-process twin in memory/) split their work
 * the same way: entries, write commits, links, the change feed, members, replicas, the storage
 * catalog, peer nonces and the server's positions with the fencing epoch. This base class hands
 * each port call to the repository that owns it, so the node still wires one object per store
 * and each adapter only says how it opens and closes its repositories.
 */
import type { BackendType, Entry, NewEntry } from '../../domain/entry.js';
import type { ClusterRegistry, MemberAnnouncement, MemberRecord } from '../../ports/cluster-registry.js';
import type { ReplicaProgress, WalPosition } from '../../ports/consistency.js';
import type { EpochSource, EpochState } from '../../ports/fencing.js';
import type { CommitOutcome, Fence, LinkRecord, MetadataChange, MetadataStore, MoveOptions, WriteCommit } from '../../ports/metadata-store.js';
import type { PeerNonceStore } from '../../ports/peer-nonces.js';
import type { ReplicaStore, UnderReplicated } from '../../ports/replica-store.js';
import type { ClusterRecord, StorageCatalog } from '../../ports/storage-catalog.js';

/** The namespace: reads, directory and tool writes, moves, and the blob-key migration. */
export type EntryRepository = Pick<
  MetadataStore,
  'getEntry' | 'entryForWrite' | 'listChildren' | 'hasChildren' | 'fileHoldersWithin' | 'createEntry' | 'ensureDirectories' | 'updateContent' | 'deleteEntry' | 'moveEntry' | 'adoptBlobKey' | 'legacyFiles'
>;
export type WriteCommitRepository = Pick<MetadataStore, 'commitWrite'>;
export type LinkRepository = Pick<MetadataStore, 'insertLink' | 'getLink' | 'consumeLink' | 'releaseLink' | 'deleteStaleLinks'>;
export type ChangeFeed = Pick<MetadataStore, 'subscribe' | 'syncChanges'>;
export type PositionRepository = WalPosition & ReplicaProgress & EpochSource;

export interface MetadataRepositories {
  readonly entries: EntryRepository;
  readonly commits: WriteCommitRepository;
  readonly links: LinkRepository;
  readonly changes: ChangeFeed;
  readonly members: ClusterRegistry;
  readonly replicas: ReplicaStore;
  readonly catalog: StorageCatalog;
  /** Both adapters claim a batch of nonces in one step, so the batch claim is not optional here. */
  readonly nonces: Required<PeerNonceStore>;
  readonly positions: PositionRepository;
}

export abstract class ComposedMetadataStore implements MetadataStore, ClusterRegistry, ReplicaStore, WalPosition, ReplicaProgress, EpochSource, PeerNonceStore, StorageCatalog {
  readonly #repositories: MetadataRepositories;

  constructor(repositories: MetadataRepositories) {
    this.#repositories = repositories;
  }

  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;

  // ---- entries and write commits (MetadataStore) ------------------------------------------

  getEntry(path: string): Promise<Entry | null> {
    return this.#repositories.entries.getEntry(path);
  }
  entryForWrite(path: string, fence: Fence): Promise<Entry | null> {
    return this.#repositories.entries.entryForWrite(path, fence);
  }
  listChildren(path: string): Promise<Entry[]> {
    return this.#repositories.entries.listChildren(path);
  }
  hasChildren(path: string): Promise<boolean> {
    return this.#repositories.entries.hasChildren(path);
  }
  fileHoldersWithin(path: string): Promise<string[]> {
    return this.#repositories.entries.fileHoldersWithin(path);
  }
  createEntry(entry: NewEntry, fence: Fence): Promise<Entry> {
    return this.#repositories.entries.createEntry(entry, fence);
  }
  ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]> {
    return this.#repositories.entries.ensureDirectories(entries, fence);
  }
  updateContent(path: string, size: number, fence: Fence): Promise<Entry> {
    return this.#repositories.entries.updateContent(path, size, fence);
  }
  deleteEntry(path: string, fence: Fence): Promise<Entry | null> {
    return this.#repositories.entries.deleteEntry(path, fence);
  }
  moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry> {
    return this.#repositories.entries.moveEntry(from, to, options);
  }
  adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean> {
    return this.#repositories.entries.adoptBlobKey(path, version, blobKey);
  }
  legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]> {
    return this.#repositories.entries.legacyFiles(holder, backend, afterPath, limit);
  }
  commitWrite(write: WriteCommit): Promise<CommitOutcome> {
    return this.#repositories.commits.commitWrite(write);
  }

  // ---- links and the change feed (MetadataStore) ------------------------------------------

  insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void> {
    return this.#repositories.links.insertLink(link);
  }
  getLink(token: string): Promise<LinkRecord | null> {
    return this.#repositories.links.getLink(token);
  }
  consumeLink(token: string, usedByIp: string | null): Promise<boolean> {
    return this.#repositories.links.consumeLink(token, usedByIp);
  }
  releaseLink(token: string): Promise<boolean> {
    return this.#repositories.links.releaseLink(token);
  }
  deleteStaleLinks(usedRetentionMs: number): Promise<number> {
    return this.#repositories.links.deleteStaleLinks(usedRetentionMs);
  }
  subscribe(listener: (change: MetadataChange) => void): () => void {
    return this.#repositories.changes.subscribe(listener);
  }
  syncChanges(): Promise<boolean> {
    return this.#repositories.changes.syncChanges();
  }

  // ---- cluster registry, replicas, catalog, nonces ----------------------------------------

  heartbeat(member: MemberAnnouncement, forgetAfterMs: number): Promise<void> {
    return this.#repositories.members.heartbeat(member, forgetAfterMs);
  }
  deregister(instanceId: string): Promise<void> {
    return this.#repositories.members.deregister(instanceId);
  }
  listMembers(): Promise<MemberRecord[]> {
    return this.#repositories.members.listMembers();
  }
  recordReplica(path: string, instanceId: string, version: number): Promise<boolean> {
    return this.#repositories.replicas.recordReplica(path, instanceId, version);
  }
  currentReplicas(path: string, version: number): Promise<string[]> {
    return this.#repositories.replicas.currentReplicas(path, version);
  }
  underReplicated(holder: string, wanted: number, limit: number): Promise<UnderReplicated[]> {
    return this.#repositories.replicas.underReplicated(holder, wanted, limit);
  }
  promoteReplicas(oldHolder: string, newHolder: string): Promise<string[]> {
    return this.#repositories.replicas.promoteReplicas(oldHolder, newHolder);
  }
  replicaHoldersOf(holder: string): Promise<string[]> {
    return this.#repositories.replicas.replicaHoldersOf(holder);
  }
  countUnreplicated(holder: string): Promise<number> {
    return this.#repositories.replicas.countUnreplicated(holder);
  }
  cluster(): Promise<ClusterRecord> {
    return this.#repositories.catalog.cluster();
  }
  unreferencedBlobKeys(keys: readonly string[]): Promise<string[]> {
    return this.#repositories.catalog.unreferencedBlobKeys(keys);
  }
  highestFence(): Promise<number> {
    return this.#repositories.catalog.highestFence();
  }
  claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean> {
    return this.#repositories.nonces.claimPeerNonce(nonce, ttlMs);
  }
  claimPeerNonces(nonces: readonly string[], ttlMs: number): Promise<ReadonlySet<string>> {
    return this.#repositories.nonces.claimPeerNonces(nonces, ttlMs);
  }

  // ---- positions and the fencing epoch ----------------------------------------------------

  currentLsn(): Promise<string> {
    return this.#repositories.positions.currentLsn();
  }
  replayLsn(): Promise<string | null> {
    return this.#repositories.positions.replayLsn();
  }
  lagMs(): Promise<number> {
    return this.#repositories.positions.lagMs();
  }
  readEpoch(): Promise<EpochState> {
    return this.#repositories.positions.readEpoch();
  }
}
