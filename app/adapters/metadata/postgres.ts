/**
 * @module PostgresMetadataStore: the metadata ports on Postgres via `pg`, composed from one
 * repository per aggregate (postgres/): entries and moves, versioned write commits, single-use
 * links, the change feed, cluster members, replica copies, the storage catalog, peer nonces, and
 * the server's positions and fencing epoch. They share one pool (PrimaryPool) and one row mapping
 * (postgres/rows.ts); this facade opens them together and answers every port by handing the call
 * to the repository that owns it, so the node wires one object.
 *
 * The pool reconnects by itself, so the node recovers without a restart when the database
 * returns. A DSN may list several hosts: the pool then follows the primary across a switchover,
 * and the change feed's LISTEN connection moves with it.
 */
import type { BackendType, Entry, NewEntry } from '../../domain/entry.js';
import type { ClusterRegistry, MemberAnnouncement, MemberRecord } from '../../ports/cluster-registry.js';
import type { ReplicaProgress, WalPosition } from '../../ports/consistency.js';
import type { EpochSource, EpochState, PrimaryCandidates } from '../../ports/fencing.js';
import type { CommitOutcome, Fence, LinkRecord, MetadataChange, MetadataStore, MoveOptions, WriteCommit } from '../../ports/metadata-store.js';
import type { PeerNonceStore } from '../../ports/peer-nonces.js';
import type { ReplicaStore, UnderReplicated } from '../../ports/replica-store.js';
import type { ClusterRecord, StorageCatalog } from '../../ports/storage-catalog.js';
import { translatePgError } from './errors.js';
import { PostgresStorageCatalog } from './postgres/catalog.js';
import { PostgresChangeFeed } from './postgres/change-feed.js';
import { PostgresDatabase } from './postgres/database.js';
import { PostgresEntries } from './postgres/entries.js';
import { PostgresLinks } from './postgres/links.js';
import { PostgresMembers } from './postgres/members.js';
import { migrate } from './postgres/migrate.js';
import { PostgresPeerNonces } from './postgres/nonces.js';
import { PostgresPositions } from './postgres/positions.js';
import { PostgresReplicas } from './postgres/replicas.js';
import { PostgresWriteCommits, type CommitBatching } from './postgres/write-commits.js';
import { PrimaryPool } from './primary-pool.js';

export interface PostgresMetadataStoreOptions {
  readonly dsn: string;
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** A streaming replica opened for reads only: no migrations, no writes. */
  readonly readReplica?: boolean;
  /** Group commit of `commitWrite` (default: 4 batches in flight, up to 64 commits each); `maxBatch: 1` turns it off. */
  readonly commitBatching?: CommitBatching;
}

export async function createPostgresMetadataStore(options: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
  const store = new PostgresMetadataStore(options);
  try {
    // A read replica cannot run migrations; the primary's arrive by replication.
    if (options.readReplica === true) await store.ping();
    else await store.migrate();
  } catch (error) {
    await store.close();
    throw translatePgError(error);
  }
  return store;
}

export class PostgresMetadataStore implements MetadataStore, ClusterRegistry, ReplicaStore, WalPosition, ReplicaProgress, EpochSource, PrimaryCandidates, PeerNonceStore, StorageCatalog {
  readonly #pool: PrimaryPool;
  readonly #db: PostgresDatabase;
  readonly entries: PostgresEntries;
  readonly commits: PostgresWriteCommits;
  readonly links: PostgresLinks;
  readonly changes: PostgresChangeFeed;
  readonly members: PostgresMembers;
  readonly replicas: PostgresReplicas;
  readonly catalog: PostgresStorageCatalog;
  readonly nonces: PostgresPeerNonces;
  readonly positions: PostgresPositions;

  constructor(options: PostgresMetadataStoreOptions) {
    this.#pool = new PrimaryPool({
      dsn: options.dsn,
      max: options.poolSize ?? 20,
      connectTimeoutMs: options.connectTimeoutMs ?? 3000,
      statementTimeoutMs: options.statementTimeoutMs ?? 5000,
      // The pool moved to a new primary: the LISTEN connection moves there now, not after a backoff.
      onSwitch: () => this.changes.followPrimary(),
    });
    this.#db = new PostgresDatabase(this.#pool);
    this.entries = new PostgresEntries(this.#db);
    this.commits = new PostgresWriteCommits(this.#db, options.commitBatching);
    this.links = new PostgresLinks(this.#db);
    this.changes = new PostgresChangeFeed(this.#db);
    this.members = new PostgresMembers(this.#db);
    this.replicas = new PostgresReplicas(this.#db);
    this.catalog = new PostgresStorageCatalog(this.#db);
    this.nonces = new PostgresPeerNonces(this.#db);
    this.positions = new PostgresPositions(this.#db);
  }

  migrate(): Promise<void> {
    return migrate(this.#pool);
  }

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }

  addPrimaryCandidate(hostPort: string): boolean {
    return this.#pool.addHost(hostPort);
  }

  async close(): Promise<void> {
    await this.changes.close();
    await this.#pool.end().catch(() => undefined);
  }

  // ---- entries (MetadataStore) ------------------------------------------------------------

  getEntry(path: string): Promise<Entry | null> {
    return this.entries.getEntry(path);
  }
  entryForWrite(path: string, fence: Fence): Promise<Entry | null> {
    return this.entries.entryForWrite(path, fence);
  }
  listChildren(path: string): Promise<Entry[]> {
    return this.entries.listChildren(path);
  }
  hasChildren(path: string): Promise<boolean> {
    return this.entries.hasChildren(path);
  }
  fileHoldersWithin(path: string): Promise<string[]> {
    return this.entries.fileHoldersWithin(path);
  }
  createEntry(entry: NewEntry, fence: Fence): Promise<Entry> {
    return this.entries.createEntry(entry, fence);
  }
  ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]> {
    return this.entries.ensureDirectories(entries, fence);
  }
  updateContent(path: string, size: number, fence: Fence): Promise<Entry> {
    return this.entries.updateContent(path, size, fence);
  }
  deleteEntry(path: string, fence: Fence): Promise<Entry | null> {
    return this.entries.deleteEntry(path, fence);
  }
  moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry> {
    return this.entries.moveEntry(from, to, options);
  }
  adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean> {
    return this.entries.adoptBlobKey(path, version, blobKey);
  }
  legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]> {
    return this.entries.legacyFiles(holder, backend, afterPath, limit);
  }
  commitWrite(write: WriteCommit): Promise<CommitOutcome> {
    return this.commits.commitWrite(write);
  }

  // ---- links and the change feed (MetadataStore) ------------------------------------------

  insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void> {
    return this.links.insertLink(link);
  }
  getLink(token: string): Promise<LinkRecord | null> {
    return this.links.getLink(token);
  }
  consumeLink(token: string, usedByIp: string | null): Promise<boolean> {
    return this.links.consumeLink(token, usedByIp);
  }
  releaseLink(token: string): Promise<boolean> {
    return this.links.releaseLink(token);
  }
  deleteStaleLinks(usedRetentionMs: number): Promise<number> {
    return this.links.deleteStaleLinks(usedRetentionMs);
  }
  subscribe(listener: (change: MetadataChange) => void): () => void {
    return this.changes.subscribe(listener);
  }
  syncChanges(): Promise<boolean> {
    return this.changes.syncChanges();
  }

  // ---- cluster registry, replicas, catalog, nonces ----------------------------------------

  heartbeat(member: MemberAnnouncement, forgetAfterMs: number): Promise<void> {
    return this.members.heartbeat(member, forgetAfterMs);
  }
  deregister(instanceId: string): Promise<void> {
    return this.members.deregister(instanceId);
  }
  listMembers(): Promise<MemberRecord[]> {
    return this.members.listMembers();
  }
  recordReplica(path: string, instanceId: string, version: number): Promise<boolean> {
    return this.replicas.recordReplica(path, instanceId, version);
  }
  currentReplicas(path: string, version: number): Promise<string[]> {
    return this.replicas.currentReplicas(path, version);
  }
  underReplicated(holder: string, wanted: number, limit: number): Promise<UnderReplicated[]> {
    return this.replicas.underReplicated(holder, wanted, limit);
  }
  promoteReplicas(oldHolder: string, newHolder: string): Promise<string[]> {
    return this.replicas.promoteReplicas(oldHolder, newHolder);
  }
  replicaHoldersOf(holder: string): Promise<string[]> {
    return this.replicas.replicaHoldersOf(holder);
  }
  countUnreplicated(holder: string): Promise<number> {
    return this.replicas.countUnreplicated(holder);
  }
  cluster(): Promise<ClusterRecord> {
    return this.catalog.cluster();
  }
  unreferencedBlobKeys(keys: readonly string[]): Promise<string[]> {
    return this.catalog.unreferencedBlobKeys(keys);
  }
  highestFence(): Promise<number> {
    return this.catalog.highestFence();
  }
  claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean> {
    return this.nonces.claimPeerNonce(nonce, ttlMs);
  }

  // ---- positions and the fencing epoch ----------------------------------------------------

  currentLsn(): Promise<string> {
    return this.positions.currentLsn();
  }
  replayLsn(): Promise<string | null> {
    return this.positions.replayLsn();
  }
  lagMs(): Promise<number> {
    return this.positions.lagMs();
  }
  readEpoch(): Promise<EpochState> {
    return this.positions.readEpoch();
  }
}
