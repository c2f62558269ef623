/**
 * @module One short SQL session on a region's database for the AWS drill provider: `pg` with TLS
 * verified against the RDS CA bundle (never Node's default CAs, which do not hold it), a connect
 * timeout, a statement timeout, and the session closed afterwards. A connection that fails is a
 * `DatabaseUnreachableError` (the region's data plane is out of reach from where the drill runs).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { RDS_CA_BUNDLE_PATH } from '../../../infra/config/names.js';
import { BEGIN_READ_WRITE, type SqlStatement } from '../../../app/fencing/index.js';

/** Where and as whom to connect (the region's `metadata-endpoint` and the shared credentials). */
export interface DatabaseTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
}

/** The database did not accept a connection (refused, timed out, TLS failed): the region's data plane is out of reach. */
export class DatabaseUnreachableError extends Error {
  override readonly name = 'DatabaseUnreachable';
}

export interface DatabaseSessionOptions {
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** PEM of the CA bundle the server's certificate must chain to; absent: Node's CAs. */
  readonly ca?: string;
}

/**
 * The RDS CA bundle at `path` (the image ships it at RDS_CA_BUNDLE_PATH). Missing → an error
 * saying where it comes from, rather than a TLS failure later against Node's CAs.
 */
export function readCaBundle(path: string = RDS_CA_BUNDLE_PATH): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(
      `the RDS CA bundle is not at ${path} (${error instanceof Error ? error.message : String(error)}): download https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem there, or pass --rds-ca-bundle <file>`,
      { cause: error },
    );
  }
}

/** Runs `work` on a new session to `target` and closes the session afterwards, whatever `work` did. */
export async function withDatabaseSession<T>(target: DatabaseTarget, options: DatabaseSessionOptions, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const statementTimeout = options.statementTimeoutMs ?? 5000;
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl: { rejectUnauthorized: true, servername: target.host, ...(options.ca === undefined ? {} : { ca: options.ca }) },
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    statement_timeout: statementTimeout,
    query_timeout: statementTimeout + 1000,
    application_name: 'geo-callfs-drill',
  });
  client.on('error', () => undefined);
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

/** Runs `statement` in an explicit READ WRITE transaction on `client` (which works after a fence made the server read-only by default). */
export async function inReadWriteTransaction(client: pg.Client, statements: readonly SqlStatement[]): Promise<void> {
  await client.query(BEGIN_READ_WRITE);
  try {
    for (const statement of statements) await client.query(statement.text, [...statement.values]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
