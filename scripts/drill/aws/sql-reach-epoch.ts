/**
 * @module The epoch row's statements (app/fencing) as drill SQL batches, for the AWS provider's
 * SQL reach (./sql-reach.ts): read it, write it, mark it fenced. A write runs in an explicit READ
 * WRITE transaction, so it also works on a database whose default has been made read-only.
 */
import { epochRecordFromRow, MARK_FENCED, READ_EPOCH_RECORD, writeEpochStatement, type EpochRecord, type SqlStatement } from '../../../app/fencing/index.js';
import type { SqlBatch, SqlBatchStatement, SqlRow } from '../../../app/drill-sql/batch.js';
import type { DatabaseTarget } from './database-session.js';

function inReadWriteTransaction(statement: SqlStatement): SqlBatchStatement[] {
  return [{ sql: 'BEGIN TRANSACTION READ WRITE' }, { sql: statement.text, params: [...statement.values] }, { sql: 'COMMIT' }];
}

export const READ_EPOCH_BATCH: SqlBatch = { statements: [{ sql: READ_EPOCH_RECORD }] };

/** The record in the rows of READ_EPOCH_BATCH; epoch 0 when the row is missing. */
export function epochFromRows(rows: readonly (readonly SqlRow[])[]): EpochRecord {
  const row = rows[0]?.[0];
  return row === undefined ? { epoch: 0, fenced: false, primaryRegion: null, lockHome: null } : epochRecordFromRow(row);
}

/** Writes the row with `record`, recording `target` as the primary of the epoch. */
export function writeEpochBatch(target: Pick<DatabaseTarget, 'host' | 'port'>, record: EpochRecord): SqlBatch {
  return { statements: inReadWriteTransaction(writeEpochStatement(record, `${target.host}:${target.port}`)) };
}

/** The row marked fenced, in a transaction of its own (committed even if what follows fails). */
export const MARK_FENCED_STATEMENTS: readonly SqlBatchStatement[] = inReadWriteTransaction(MARK_FENCED);
