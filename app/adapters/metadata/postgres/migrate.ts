/**
 * @module Applies the schema migrations (migrations.ts) the database has not seen yet, each in a
 * transaction of its own, under an advisory lock so that nodes starting together migrate once.
 */
import { MIGRATIONS } from '../migrations.js';
import type { PrimaryPool } from '../primary-pool.js';

const MIGRATION_LOCK_KEY = 0x63616c6c; // "call"

export async function migrate(pool: PrimaryPool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query('CREATE TABLE IF NOT EXISTS callfs_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const done = await client.query<{ version: string }>('SELECT version FROM callfs_schema_migrations');
    const applied = new Set(done.rows.map((r) => Number(r.version)));
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO callfs_schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
