/**
 * @module The SQL the AWS drill provider runs on a region's Postgres: the epoch row (defined,
 * with every statement on it, by app/fencing) and the data-plane half of a fence. It sits
 * behind `EpochSql` so tests (and a drill run from a host without a route into the VPC, through
 * a tunnel of its own) can substitute it; `createPgEpochSql` is the real one, over `pg` with TLS,
 * a connect timeout and a statement timeout, one short-lived connection per operation.
 */
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { RDS_CA_BUNDLE_PATH } from '../../../infra/config/names.js';
import { epochRecordFromRow, MARK_FENCED, READ_EPOCH_RECORD, writeEpochStatement, type EpochRecord, type SqlStatement } from '../../../app/fencing/index.js';

/** Where and as whom to connect (the region's `metadata-endpoint` and the shared credentials). */
export interface DatabaseTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
}

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

/** The database did not accept a connection (refused, timed out, TLS failed): the region's data plane is out of reach. */
export class DatabaseUnreachableError extends Error {
  override readonly name = 'DatabaseUnreachable';
}

export interface PgEpochSqlOptions {
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** PEM of the RDS CA bundle; default: the file at RDS_CA_BUNDLE_PATH when it exists, else Node's CAs. */
  readonly ca?: string;
}

export function createPgEpochSql(options: PgEpochSqlOptions = {}): EpochSql {
  const ca = options.ca ?? (existsSync(RDS_CA_BUNDLE_PATH) ? readFileSync(RDS_CA_BUNDLE_PATH, 'utf8') : undefined);
  const statementTimeout = options.statementTimeoutMs ?? 5000;
  async function run<T>(target: DatabaseTarget, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({
      host: target.host,
      port: target.port,
      database: target.database,
      user: target.user,
      password: target.password,
      ssl: { rejectUnauthorized: true, servername: target.host, ...(ca === undefined ? {} : { ca }) },
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      statement_timeout: statementTimeout,
      query_timeout: statementTimeout + 1000,
      application_name: 'geo-callfs-drill',
    });
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw new DatabaseUnreachableError(`cannot connect to ${target.host}:${target.port}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  async function inReadWriteTransaction(target: DatabaseTarget, statement: SqlStatement): Promise<void> {
    await run(target, async (client) => {
      await client.query('BEGIN TRANSACTION READ WRITE');
      try {
        await client.query(statement.text, [...statement.values]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }
  return {
    readEpoch: (target) =>
      run(target, async (client) => {
        const { rows } = await client.query<Record<string, unknown>>(READ_EPOCH_RECORD);
        const row = rows[0];
        return row === undefined ? { epoch: 0, fenced: false, primaryRegion: null, lockHome: null } : epochRecordFromRow(row);
      }),
    writeEpoch: (target, record) => inReadWriteTransaction(target, writeEpochStatement(record, `${target.host}:${target.port}`)),
    markFenced: (target) => inReadWriteTransaction(target, MARK_FENCED),
    readOnlyByDefault: (target) =>
      run(target, async (client) => {
        const { rows } = await client.query<{ default_transaction_read_only: string }>('SHOW default_transaction_read_only');
        return rows[0]?.default_transaction_read_only === 'on';
      }),
    endSessions: (target) =>
      run(target, async (client) => {
        const { rows } = await client.query<{ ended: string }>(
          'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::text AS ended FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid()',
        );
        return Number(rows[0]?.ended ?? 0);
      }),
  };
}
