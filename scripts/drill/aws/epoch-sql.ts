/**
 * @module The SQL the AWS drill provider runs on a region's Postgres: the epoch row
 * (`callfs_epoch`, created by the node's migrations) and the data-plane half of a fence. It sits
 * behind `EpochSql` so tests (and a drill run from a host without a route into the VPC, through
 * a tunnel of its own) can substitute it; `createPgEpochSql` is the real one, over `pg` with TLS,
 * a connect timeout and a statement timeout, one short-lived connection per operation.
 */
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { RDS_CA_BUNDLE_PATH } from '../../../infra/config/names.js';
import type { EpochRecord } from '../provider.js';

/** Where and as whom to connect (the region's `metadata-endpoint` and the shared credentials). */
export interface DatabaseTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
}

export interface EpochSql {
  /** `SELECT ... FROM callfs_epoch WHERE id = 1`. */
  readEpoch(target: DatabaseTarget): Promise<EpochRecord>;
  /** Upserts row 1 with `record` and `updated_at = now()`. */
  writeEpoch(target: DatabaseTarget, record: EpochRecord): Promise<void>;
  /** `UPDATE callfs_epoch SET fenced = true, updated_at = now()` in an explicit READ WRITE transaction (works after the read-only default is on, so a resumed fence repeats it). */
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

interface EpochRow {
  epoch: string;
  fenced: boolean;
  primary_region: string | null;
  lock_home: string | null;
  primary_host: string | null;
  max_fence: string;
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
  return {
    readEpoch: (target) =>
      run(target, async (client) => {
        const { rows } = await client.query<EpochRow>(
          'SELECT epoch::text AS epoch, fenced, primary_region, lock_home, primary_host, (SELECT coalesce(max(fence), 0) FROM inodes)::text AS max_fence FROM callfs_epoch WHERE id = 1',
        );
        const row = rows[0];
        if (row === undefined) return { epoch: 0, fenced: false, primaryRegion: null, lockHome: null };
        return { epoch: Number(row.epoch), fenced: row.fenced, primaryRegion: row.primary_region, lockHome: row.lock_home, primaryHost: row.primary_host, maxFence: Number(row.max_fence) };
      }),
    writeEpoch: (target, record) =>
      run(target, async (client) => {
        await client.query('BEGIN TRANSACTION READ WRITE');
        try {
          await client.query(
            `INSERT INTO callfs_epoch (id, epoch, fenced, primary_region, lock_home, primary_host, updated_at) VALUES (1, $1, $2, $3, $4, $5, now())
             ON CONFLICT (id) DO UPDATE SET epoch = EXCLUDED.epoch, fenced = EXCLUDED.fenced, primary_region = EXCLUDED.primary_region,
               lock_home = EXCLUDED.lock_home, primary_host = EXCLUDED.primary_host, updated_at = now()`,
            [String(record.epoch), record.fenced, record.primaryRegion, record.lockHome, `${target.host}:${target.port}`],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    markFenced: (target) =>
      run(target, async (client) => {
        await client.query('BEGIN TRANSACTION READ WRITE');
        try {
          await client.query('UPDATE callfs_epoch SET fenced = true, updated_at = now()');
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
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
