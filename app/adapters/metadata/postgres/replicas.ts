/**
 * @module PostgresReplicas: the ReplicaStore port on Postgres (`replicas`, joined with `inodes`
 * so only copies of an entry's current version count). Promotion moves holders in one statement
 * and publishes each moved path on the change channel.
 */
import type { ReplicaStore, UnderReplicated } from '../../../ports/replica-store.js';
import { CHANNEL, type PostgresDatabase } from './database.js';

export class PostgresReplicas implements ReplicaStore {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async recordReplica(path: string, instanceId: string, version: number): Promise<boolean> {
    const result = await this.#db.query(
      `INSERT INTO replicas (path, instance_id, version)
       SELECT path, $2, version FROM inodes WHERE path = $1 AND version = $3 AND type = 'file'
       ON CONFLICT (path, instance_id) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
      [path, instanceId, version],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async currentReplicas(path: string, version: number): Promise<string[]> {
    // Only copies of the version the database holds now: a reader with a stale cached entry finds none.
    const result = await this.#db.query<{ instance_id: string }>(
      `SELECT r.instance_id FROM replicas r JOIN inodes i ON i.path = r.path AND i.version = r.version
        WHERE r.path = $1 AND r.version = $2 ORDER BY r.instance_id COLLATE "C"`,
      [path, version],
    );
    return result.rows.map((r) => r.instance_id);
  }

  async underReplicated(holder: string, wanted: number, limit: number): Promise<UnderReplicated[]> {
    const result = await this.#db.query<{ path: string; version: string; size: string; replicas: string[] }>(
      `SELECT i.path, i.version, i.size,
              coalesce(array_agg(r.instance_id ORDER BY r.instance_id) FILTER (WHERE r.version = i.version AND r.instance_id <> $1), '{}') AS replicas
         FROM inodes i LEFT JOIN replicas r ON r.path = i.path
        WHERE i.callfs_instance_id = $1 AND i.type = 'file' AND i.backend_type = 'localfs'
        GROUP BY i.path, i.version, i.size
       HAVING count(r.instance_id) FILTER (WHERE r.version = i.version AND r.instance_id <> $1) < $2
        ORDER BY i.path COLLATE "C" LIMIT $3`,
      [holder, wanted, limit],
    );
    return result.rows.map((r) => ({ path: r.path, version: Number(r.version), size: Number(r.size), replicas: r.replicas }));
  }

  async promoteReplicas(oldHolder: string, newHolder: string): Promise<string[]> {
    const result = await this.#db.query<{ path: string }>(
      `WITH promoted AS (
         UPDATE inodes i SET callfs_instance_id = $2, ctime = now()
           FROM replicas r
          WHERE r.path = i.path AND r.instance_id = $2 AND r.version = i.version
            AND i.callfs_instance_id = $1 AND i.type = 'file' AND i.backend_type = 'localfs'
         RETURNING i.path),
       dropped AS (DELETE FROM replicas r USING promoted p WHERE r.path = p.path AND r.instance_id = $2)
       SELECT path, pg_notify('${CHANNEL}', json_build_object('p', path, 's', false)::text) FROM promoted`,
      [oldHolder, newHolder],
    );
    return result.rows.map((r) => r.path);
  }

  async replicaHoldersOf(holder: string): Promise<string[]> {
    const result = await this.#db.query<{ instance_id: string }>(
      `SELECT r.instance_id FROM replicas r JOIN inodes i ON i.path = r.path AND i.version = r.version
        WHERE i.callfs_instance_id = $1 AND r.instance_id <> $1
        GROUP BY r.instance_id ORDER BY count(*) DESC, r.instance_id COLLATE "C"`,
      [holder],
    );
    return result.rows.map((r) => r.instance_id);
  }

  async countUnreplicated(holder: string): Promise<number> {
    const result = await this.#db.query<{ n: string }>(
      `SELECT count(*) AS n FROM inodes i
        WHERE i.callfs_instance_id = $1 AND i.type = 'file' AND i.backend_type = 'localfs'
          AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.path = i.path AND r.version = i.version AND r.instance_id <> $1)`,
      [holder],
    );
    return Number(result.rows[0]?.n ?? 0);
  }
}
