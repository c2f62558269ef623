/**
 * @module The fencing epoch row: the one definition of table `callfs_epoch`, of the
 * `callfs_assert_epoch` guard every lock-protected write calls, of the SQLSTATEs that guard
 * raises, and of every statement that reads or changes the row. The node's migrations and
 * metadata store, the primary locator and both drill providers use these, so a change of the row
 * is made here once and reaches every reader and writer.
 *
 * Statements are text plus positional values. Callers with a driver (`pg`) send them as they are;
 * a caller that can only hand psql a string renders them with `inlineStatement` (sql-text.ts).
 */
import type { EpochState } from '../ports/fencing.js';
import type { SqlStatement } from './sql-text.js';

export const EPOCH_TABLE = 'callfs_epoch';
export const ASSERT_EPOCH_FUNCTION = 'callfs_assert_epoch';
/** Raised by the guard: this database is a fenced former primary. */
export const FENCED_SQLSTATE = 'CF001';
/** Raised by the guard: the writer's lock was granted under another epoch. */
export const OTHER_EPOCH_SQLSTATE = 'CF002';

/** The epoch as a failover reads and writes it (`readEpochRecord`, `writeEpochStatement`). */
export interface EpochRecord {
  readonly epoch: number;
  readonly fenced: boolean;
  /** Region whose database is the primary of this epoch. */
  readonly primaryRegion: string | null;
  /** Redis address (`host:port`) of the lock home of this epoch; null = the nodes' configured one. */
  readonly lockHome: string | null;
  /**
   * Highest fencing token stored with the metadata (`max(inodes.fence)`), filled when read:
   * a new lock home must hand out tokens above it.
   */
  readonly maxFence?: number;
  /**
   * `host:port` of the primary of this epoch. A write of the row records the address of the
   * database it writes to, so nodes whose DSN does not list it can find it (they read it from
   * their replica).
   */
  readonly primaryHost?: string | null;
}

/**
 * Migration 5: the row (one per database, id 1, epoch 1 until a failover changes it) and the
 * guard. FOR SHARE makes the guard a barrier: an UPDATE of the row waits for the writes that
 * already passed it to commit, and writes arriving behind it see the new row.
 */
export const EPOCH_TABLE_DDL = `
CREATE TABLE ${EPOCH_TABLE} (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  epoch bigint NOT NULL,
  fenced boolean NOT NULL DEFAULT false,
  primary_region text,
  lock_home text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN ${EPOCH_TABLE}.fenced IS 'true: this database is a fenced former primary';
COMMENT ON COLUMN ${EPOCH_TABLE}.primary_region IS 'informative';
COMMENT ON COLUMN ${EPOCH_TABLE}.lock_home IS '''host:port'' of the lock home Redis; NULL = the node''s configured dlm.redis_addr';
INSERT INTO ${EPOCH_TABLE} (id, epoch) VALUES (1, 1);
CREATE TRIGGER ${EPOCH_TABLE}_updated_at BEFORE UPDATE ON ${EPOCH_TABLE} FOR EACH ROW EXECUTE FUNCTION callfs_touch_updated_at();

-- Called inside every lock-protected write. FOR SHARE makes the fence a barrier: an UPDATE of the
-- row waits for the writes that already passed this check to commit, and writes arriving behind
-- it see the new row. ${FENCED_SQLSTATE}: fenced database; ${OTHER_EPOCH_SQLSTATE}: the writer's lock is of another epoch.
CREATE FUNCTION ${ASSERT_EPOCH_FUNCTION}(writer_epoch bigint) RETURNS boolean AS $$
DECLARE
  current ${EPOCH_TABLE}%ROWTYPE;
BEGIN
  SELECT * INTO current FROM ${EPOCH_TABLE} WHERE id = 1 FOR SHARE;
  IF NOT FOUND THEN
    RETURN true;
  END IF;
  IF current.fenced THEN
    RAISE EXCEPTION 'callfs: this database is fenced (a former primary); writes are refused'
      USING ERRCODE = '${FENCED_SQLSTATE}';
  END IF;
  IF writer_epoch IS NOT NULL AND writer_epoch <> current.epoch THEN
    RAISE EXCEPTION 'callfs: the writer''s lock is of epoch %, this database is at epoch %', writer_epoch, current.epoch
      USING ERRCODE = '${OTHER_EPOCH_SQLSTATE}';
  END IF;
  RETURN true;
END $$ LANGUAGE plpgsql VOLATILE;
`;

/** Migration 6: the address of the primary of the epoch. */
export const EPOCH_PRIMARY_HOST_DDL = `
ALTER TABLE ${EPOCH_TABLE} ADD COLUMN primary_host text;
COMMENT ON COLUMN ${EPOCH_TABLE}.primary_host IS '''host:port'' of the writable primary of this epoch, written by a failover: nodes whose DSN does not list it add it';
`;

/**
 * The guard as an SQL expression over the writer's epoch (a placeholder such as `$5`, or a
 * literal): true when the write may go on, else raises FENCED_SQLSTATE / OTHER_EPOCH_SQLSTATE.
 * A NULL epoch (an unlocked write) is refused only by a fenced database.
 */
export function assertEpoch(writerEpoch: string): string {
  return `${ASSERT_EPOCH_FUNCTION}(${writerEpoch}::bigint)`;
}

/** True when `code` is one of the guard's SQLSTATEs. */
export function isEpochRefusal(code: string): boolean {
  return code === FENCED_SQLSTATE || code === OTHER_EPOCH_SQLSTATE;
}

// ---- the node's view ---------------------------------------------------------------------------

/** Columns of `READ_EPOCH_STATE`, as `pg` returns them. */
export interface EpochStateRow {
  epoch: string;
  fenced: boolean;
  primary_region: string | null;
  lock_home: string | null;
  primary_host: string | null;
  read_only: boolean;
}

/** The row as the node reads it from its primary, with whether the session is read-only. */
export const READ_EPOCH_STATE = `SELECT epoch, fenced, primary_region, lock_home, primary_host, current_setting('transaction_read_only') = 'on' AS read_only
         FROM ${EPOCH_TABLE} WHERE id = 1`;

/** Columns of `READ_FENCED`. */
export interface FencedRow {
  fenced: boolean;
}

/** Whether the row marks this database fenced (no row: not). */
export const READ_FENCED = `SELECT fenced FROM ${EPOCH_TABLE} WHERE id = 1`;

/** The state `READ_EPOCH_STATE` returned; no row (deleted by hand) reads as the migration's defaults, epoch 1 and not fenced. */
export function epochStateFromRow(row: EpochStateRow | undefined): EpochState {
  if (row === undefined) return { epoch: 1, fenced: false, readOnly: false, primaryRegion: null, lockHome: null, primaryHost: null };
  return {
    epoch: Number(row.epoch),
    fenced: row.fenced,
    readOnly: row.read_only,
    primaryRegion: row.primary_region,
    lockHome: addressOrNull(row.lock_home),
    primaryHost: addressOrNull(row.primary_host),
  };
}

// ---- a failover's view -------------------------------------------------------------------------

/**
 * The columns of `READ_EPOCH_RECORD`, in order. Every one is text and never NULL (empty = none),
 * so psql's unaligned output and a driver's row parse the same way (`epochRecordFromCells`).
 */
export const EPOCH_RECORD_COLUMNS = ['epoch', 'fenced', 'primary_region', 'lock_home', 'primary_host', 'max_fence'] as const;

/** The row and the highest fencing token stored with the metadata. */
export const READ_EPOCH_RECORD = `SELECT epoch::text AS epoch, fenced::text AS fenced, coalesce(primary_region, '') AS primary_region,
       coalesce(lock_home, '') AS lock_home, coalesce(primary_host, '') AS primary_host,
       (SELECT coalesce(max(fence), 0) FROM inodes)::text AS max_fence
  FROM ${EPOCH_TABLE} WHERE id = 1`;

/** The record one row of `READ_EPOCH_RECORD` holds, its cells in `EPOCH_RECORD_COLUMNS` order. */
export function epochRecordFromCells(cells: readonly (string | null | undefined)[]): EpochRecord {
  const [epoch, fenced, primaryRegion, lockHome, primaryHost, maxFence] = cells;
  return {
    epoch: Number(epoch ?? 0),
    fenced: fenced === 'true' || fenced === 't',
    primaryRegion: addressOrNull(primaryRegion ?? null),
    lockHome: addressOrNull(lockHome ?? null),
    primaryHost: addressOrNull(primaryHost ?? null),
    maxFence: Number(maxFence ?? 0),
  };
}

/** The record one `pg` row of `READ_EPOCH_RECORD` holds. */
export function epochRecordFromRow(row: Readonly<Record<string, unknown>>): EpochRecord {
  return epochRecordFromCells(EPOCH_RECORD_COLUMNS.map((column) => (typeof row[column] === 'string' ? row[column] : null)));
}

/**
 * Writes the whole row (creating it if it was deleted): the epoch `record` names, recorded as
 * the epoch of the primary at `primaryHost` (`host:port`).
 */
export function writeEpochStatement(record: EpochRecord, primaryHost: string): SqlStatement {
  return {
    text: `INSERT INTO ${EPOCH_TABLE} (id, epoch, fenced, primary_region, lock_home, primary_host, updated_at) VALUES (1, $1, $2, $3, $4, $5, now())
ON CONFLICT (id) DO UPDATE SET epoch = EXCLUDED.epoch, fenced = EXCLUDED.fenced, primary_region = EXCLUDED.primary_region,
  lock_home = EXCLUDED.lock_home, primary_host = EXCLUDED.primary_host, updated_at = now()`,
    values: [Math.trunc(record.epoch), record.fenced, record.primaryRegion, record.lockHome, primaryHost],
  };
}

/** Marks this database a fenced former primary: from its commit on, the guard refuses every write. */
export const MARK_FENCED: SqlStatement = { text: `UPDATE ${EPOCH_TABLE} SET fenced = true, updated_at = now() WHERE id = 1`, values: [] };

function addressOrNull(text: string | null): string | null {
  const trimmed = text?.trim() ?? '';
  return trimmed === '' ? null : trimmed;
}
