/**
 * @module What RDS does not publish, read over SQL: a database's WAL position and, for a
 * replica, how far behind it is. RDS reports roles and states but no LSN, and the replica lag
 * only as a CloudWatch metric sampled per minute; the drill's checks ("the target holds every
 * acknowledged write", "caught up") need the positions themselves. One statement, run as a drill
 * SQL batch (app/drill-sql/batch.ts) through the provider's SQL reach (./sql-reach.ts).
 */
import type { SqlBatch, SqlRow } from '../../../app/drill-sql/batch.js';

export interface ReplicationPosition {
  /** True on a replica (in recovery). */
  readonly inRecovery: boolean;
  /** Primary: the current write position. Replica: the last position received (and flushed), else replayed. */
  readonly lsn: string | null;
  /** Replica: last replayed position. */
  readonly replayLsn: string | null;
  /** Replica: milliseconds since the last replayed transaction committed on the primary; null if none yet. */
  readonly replayAgeMs: number | null;
  /** Replica: the WAL receiver streams. */
  readonly streaming: boolean;
}

export const REPLICATION_POSITION_BATCH: SqlBatch = {
  statements: [
    {
      sql: `SELECT pg_is_in_recovery() AS in_recovery,
            CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text ELSE pg_current_wal_lsn()::text END AS lsn,
            CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text END AS replay_lsn,
            CASE WHEN pg_is_in_recovery() THEN (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint::text END AS replay_age_ms,
            EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming`,
    },
  ],
};

/** The position in the rows of REPLICATION_POSITION_BATCH. */
export function replicationPositionFromRows(rows: readonly (readonly SqlRow[])[]): ReplicationPosition {
  const row = rows[0]?.[0];
  if (row === undefined) throw new Error('replication position: no row');
  const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  const age = text(row['replay_age_ms']);
  return { inRecovery: row['in_recovery'] === true, lsn: text(row['lsn']), replayLsn: text(row['replay_lsn']), replayAgeMs: age === null ? null : Number(age), streaming: row['streaming'] === true };
}
