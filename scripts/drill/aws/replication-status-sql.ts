/**
 * @module What RDS does not publish, read over SQL: a database's WAL position and, for a
 * replica, how far behind it is. RDS reports roles and states but no LSN, and the replica lag
 * only as a CloudWatch metric sampled per minute; the drill's checks ("the target holds every
 * acknowledged write", "caught up") need the positions themselves.
 */
import type pg from 'pg';

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

export async function readReplicationPosition(client: pg.Client): Promise<ReplicationPosition> {
  const { rows } = await client.query<{ in_recovery: boolean; lsn: string | null; replay_lsn: string | null; replay_age_ms: string | null; streaming: boolean }>(
    `SELECT pg_is_in_recovery() AS in_recovery,
            CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text ELSE pg_current_wal_lsn()::text END AS lsn,
            CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text END AS replay_lsn,
            CASE WHEN pg_is_in_recovery() THEN (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint::text END AS replay_age_ms,
            EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming`,
  );
  const row = rows[0];
  if (row === undefined) throw new Error('replication position: no row');
  return { inRecovery: row.in_recovery, lsn: row.lsn, replayLsn: row.replay_lsn, replayAgeMs: row.replay_age_ms === null ? null : Number(row.replay_age_ms), streaming: row.streaming };
}
