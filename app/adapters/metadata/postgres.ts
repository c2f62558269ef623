/**
 * @module PostgresMetadataStore: the metadata ports on Postgres via `pg`, composed from one
 * repository per aggregate (postgres/): entries and moves, versioned write commits, single-use
 * links, the change feed, cluster members, replica copies, the storage catalog, peer nonces, and
 * the server's positions and fencing epoch. They share one pool (PrimaryPool) and one row mapping
 * (postgres/rows.ts); this store opens them together and closes them, and ComposedMetadataStore
 * (composed-store.ts) answers every port by handing the call to the repository that owns it, so
 * the node wires one object.
 *
 * The pool reconnects by itself, so the node recovers without a restart when the database
 * returns. A DSN may list several hosts: the pool then follows the primary across a switchover,
 * and the change feed's LISTEN connection moves with it.
 */
import type { PrimaryCandidates } from '../../ports/fencing.js';
import { ComposedMetadataStore } from './composed-store.js';
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

export class PostgresMetadataStore extends ComposedMetadataStore implements PrimaryCandidates {
  readonly #pool: PrimaryPool;
  readonly #db: PostgresDatabase;
  readonly #changes: PostgresChangeFeed;

  constructor(options: PostgresMetadataStoreOptions) {
    const pool = new PrimaryPool({
      dsn: options.dsn,
      max: options.poolSize ?? 20,
      connectTimeoutMs: options.connectTimeoutMs ?? 3000,
      statementTimeoutMs: options.statementTimeoutMs ?? 5000,
      // The pool moved to a new primary: the LISTEN connection moves there now, not after a backoff.
      onSwitch: () => changes.followPrimary(),
    });
    const db = new PostgresDatabase(pool);
    const changes = new PostgresChangeFeed(db);
    super({
      entries: new PostgresEntries(db),
      commits: new PostgresWriteCommits(db, options.commitBatching),
      links: new PostgresLinks(db),
      changes,
      members: new PostgresMembers(db),
      replicas: new PostgresReplicas(db),
      catalog: new PostgresStorageCatalog(db),
      nonces: new PostgresPeerNonces(db),
      positions: new PostgresPositions(db),
    });
    this.#pool = pool;
    this.#db = db;
    this.#changes = changes;
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
    await this.#changes.close();
    await this.#pool.end().catch(() => undefined);
  }
}
