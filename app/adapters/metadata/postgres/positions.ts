/**
 * @module PostgresPositions: the consistency positions (WalPosition, ReplicaProgress) and the
 * fencing epoch row (EpochSource) as the server the pool is connected to reports them.
 */
import { epochStateFromRow, READ_EPOCH_STATE, type EpochStateRow } from '../../../fencing/index.js';
import type { ReplicaProgress, WalPosition } from '../../../ports/consistency.js';
import type { EpochSource, EpochState } from '../../../ports/fencing.js';
import type { PostgresDatabase } from './database.js';

export class PostgresPositions implements WalPosition, ReplicaProgress, EpochSource {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /** The insert position: past every committed record, even with `synchronous_commit = off`. */
  async currentLsn(): Promise<string> {
    const result = await this.#db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    return result.rows[0]?.lsn ?? '0/0';
  }

  async replayLsn(): Promise<string | null> {
    // A primary (read_dsn naming the primary itself) has everything it wrote: its insert position.
    const result = await this.#db.query<{ lsn: string | null }>(
      'SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text AS lsn',
    );
    return result.rows[0]?.lsn ?? null;
  }

  async lagMs(): Promise<number> {
    const result = await this.#db.query<{ lag: number | null }>(
      `SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                   ELSE (EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) * 1000)::float8 END AS lag`,
    );
    return Math.max(0, Math.round(Number(result.rows[0]?.lag ?? 0)));
  }

  async readEpoch(): Promise<EpochState> {
    const result = await this.#db.query<EpochStateRow>(READ_EPOCH_STATE);
    return epochStateFromRow(result.rows[0]);
  }
}
