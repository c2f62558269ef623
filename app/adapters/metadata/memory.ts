/**
 * @module MemoryMetadataStore: the metadata ports (MetadataStore, ReplicaStore, ClusterRegistry,
 * StorageCatalog, PeerNonceStore, the consistency positions and the fencing epoch) over a
 * `MemoryMetadataDatabase` held in the process, composed like the Postgres store from one
 * repository per aggregate (memory/, mirroring postgres/). Several stores opened on one database
 * behave like several nodes sharing one Postgres: each write is published to every store's
 * subscribers before it returns, so a reader that asks `syncChanges()` afterwards has seen it. It
 * runs through the same contract suite as the Postgres store
 * (test/contract/metadata-store.contract.ts), so services and HTTP routes can be tested
 * in-process, without a database.
 *
 * The database (memory/database.ts) can be fenced or moved to another epoch (as a failover
 * would), and made unavailable (every call then fails with METADATA_UNAVAILABLE, as a lost
 * connection does).
 */
import { ComposedMetadataStore } from './composed-store.js';
import { MemoryPeerNonces, MemoryStorageCatalog } from './memory/catalog.js';
import { MemoryChangeFeed } from './memory/change-feed.js';
import { MemoryMetadataDatabase } from './memory/database.js';
import { MemoryEntries } from './memory/entries.js';
import { MemoryLinks } from './memory/links.js';
import { MemoryMembers } from './memory/members.js';
import { MemoryPositions } from './memory/positions.js';
import { MemoryReplicas } from './memory/replicas.js';
import { MemorySession } from './memory/session.js';
import { commitWriteIn } from './memory/write-commits.js';

export { MemoryMetadataDatabase } from './memory/database.js';

export class MemoryMetadataStore extends ComposedMetadataStore {
  readonly database: MemoryMetadataDatabase;
  readonly entries: MemoryEntries;
  readonly #session: MemorySession;
  readonly #changes: MemoryChangeFeed;

  constructor(database: MemoryMetadataDatabase = new MemoryMetadataDatabase()) {
    const session = new MemorySession(database);
    const entries = new MemoryEntries(session);
    const changes = new MemoryChangeFeed(session);
    super({
      entries,
      commits: { commitWrite: async (write) => commitWriteIn(session.open(), write) },
      links: new MemoryLinks(session),
      changes,
      members: new MemoryMembers(session),
      replicas: new MemoryReplicas(session),
      catalog: new MemoryStorageCatalog(session),
      nonces: new MemoryPeerNonces(session),
      positions: new MemoryPositions(session),
    });
    this.database = database;
    this.entries = entries;
    this.#session = session;
    this.#changes = changes;
  }

  async ping(): Promise<void> {
    this.#session.open();
  }

  async close(): Promise<void> {
    this.#session.closed = true;
    this.#changes.close();
  }
}
