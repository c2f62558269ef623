/**
 * @module PostgresDatabase: what every Postgres repository of the metadata store shares: the pool
 * that follows the primary (PrimaryPool), queries whose failures come back as AppErrors
 * (errors.ts), and the change channel each mutating statement publishes on. The repositories
 * (entries.ts, links.ts, …) hold one of these; the facade (../postgres.ts) opens it once.
 */
import type pg from 'pg';
import { translatePgError } from '../errors.js';
import type { PrimaryPool } from '../primary-pool.js';

/** The LISTEN/NOTIFY channel of namespace changes (see change-feed.ts). */
export const CHANNEL = 'callfs_changes';

/**
 * The notification of one write: the payload its own transaction publishes with `pg_notify`.
 * Readers on other nodes see it before their next cache hit is trusted (`syncChanges`), so the
 * writer need not wait for it to travel.
 */
export function notice(path: string, subtree: boolean): string {
  return JSON.stringify({ p: path, s: subtree });
}

export class PostgresDatabase {
  constructor(readonly pool: PrimaryPool) {}

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw translatePgError(error);
    }
  }

  /** A client of its own, for statements that must share one session (transactions). */
  async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw translatePgError(error);
    }
  }
}
