/**
 * @module PostgresStorageCatalog: the StorageCatalog port on Postgres: the cluster identity
 * (`callfs_cluster`), which blob keys no entry names, and the highest fencing token stored.
 */
import { AppError } from '../../../errors/app-error.js';
import type { ClusterRecord, StorageCatalog } from '../../../ports/storage-catalog.js';
import type { PostgresDatabase } from './database.js';

export class PostgresStorageCatalog implements StorageCatalog {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async cluster(): Promise<ClusterRecord> {
    const result = await this.#db.query<{ cluster_id: string; predates_markers: boolean; holds_entries: boolean }>(
      `SELECT cluster_id, predates_markers, EXISTS (SELECT 1 FROM inodes WHERE path <> '/') AS holds_entries FROM callfs_cluster WHERE id = 1`,
    );
    const row = result.rows[0];
    // Migration 7 creates the row; a database without it was tampered with, and nothing is assumed.
    if (row === undefined) throw new AppError('METADATA_UNAVAILABLE', 'the metadata database has no cluster identity (table callfs_cluster is empty)');
    return { clusterId: row.cluster_id, predatesMarkers: row.predates_markers, holdsEntries: row.holds_entries };
  }

  async unreferencedBlobKeys(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const result = await this.#db.query<{ k: string }>('SELECT k FROM unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM inodes WHERE blob_key = k)', [keys]);
    return result.rows.map((r) => r.k);
  }

  async highestFence(): Promise<number> {
    const result = await this.#db.query<{ fence: string }>('SELECT COALESCE(max(fence), 0) AS fence FROM inodes');
    return Number(result.rows[0]?.fence ?? 0);
  }
}
