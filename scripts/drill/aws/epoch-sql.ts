/**
 * @module The SQL the AWS drill provider runs on a region's Postgres: the epoch row and the
 * session half of a fence (both defined by app/fencing). It sits behind `EpochSql` so tests (and
 * a drill run from a host without a route into the VPC, through a tunnel of its own) can
 * substitute it; `createPgEpochSql` is the real one, one short-lived session per operation
 * (database-session.ts: TLS, connect and statement timeouts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { RDS_CA_BUNDLE_PATH } from '../../../infra/config/names.js';
import {
  END_OWN_USER_SESSIONS,
  endedSessions,
  epochRecordFromRow,
  MARK_FENCED,
  READ_EPOCH_RECORD,
  readOnlyByDefault,
  SHOW_READ_ONLY_DEFAULT,
  writeEpochStatement,
  type EpochRecord,
} from '../../../app/fencing/index.js';
import { inReadWriteTransaction, withDatabaseSession, type DatabaseSessionOptions, type DatabaseTarget } from './database-session.js';

export interface EpochSql {
  /** The epoch row and the highest stored fence (READ_EPOCH_RECORD); epoch 0 when the row is missing. */
  readEpoch(target: DatabaseTarget): Promise<EpochRecord>;
  /** Writes the row with `record`, recording `target` as the primary of the epoch. */
  writeEpoch(target: DatabaseTarget, record: EpochRecord): Promise<void>;
  /** Marks the row fenced (MARK_FENCED) in an explicit READ WRITE transaction (works after the read-only default is on, so a resumed fence repeats it). */
  markFenced(target: DatabaseTarget): Promise<void>;
  /** `SHOW default_transaction_read_only` in a new session: true once the parameter group change has reached the server. */
  readOnlyByDefault(target: DatabaseTarget): Promise<boolean>;
  /** Ends the other sessions of the same user (the nodes'), so they reconnect read-only; returns how many. */
  endSessions(target: DatabaseTarget): Promise<number>;
}

/** Session options; `ca` defaults to the file at RDS_CA_BUNDLE_PATH when it exists, else Node's CAs. */
export type PgEpochSqlOptions = DatabaseSessionOptions;

export function createPgEpochSql(options: PgEpochSqlOptions = {}): EpochSql {
  const ca = options.ca ?? (existsSync(RDS_CA_BUNDLE_PATH) ? readFileSync(RDS_CA_BUNDLE_PATH, 'utf8') : undefined);
  const session = { ...options, ...(ca === undefined ? {} : { ca }) };
  return {
    readEpoch: (target) =>
      withDatabaseSession(target, session, async (client) => {
        const { rows } = await client.query<Record<string, unknown>>(READ_EPOCH_RECORD);
        const row = rows[0];
        return row === undefined ? { epoch: 0, fenced: false, primaryRegion: null, lockHome: null } : epochRecordFromRow(row);
      }),
    writeEpoch: (target, record) => withDatabaseSession(target, session, (client) => inReadWriteTransaction(client, [writeEpochStatement(record, `${target.host}:${target.port}`)])),
    markFenced: (target) => withDatabaseSession(target, session, (client) => inReadWriteTransaction(client, [MARK_FENCED])),
    readOnlyByDefault: (target) =>
      withDatabaseSession(target, session, async (client) => readOnlyByDefault((await client.query<{ default_transaction_read_only: string }>(SHOW_READ_ONLY_DEFAULT)).rows[0])),
    endSessions: (target) => withDatabaseSession(target, session, async (client) => endedSessions((await client.query<{ ended: string }>(END_OWN_USER_SESSIONS)).rows[0])),
  };
}
