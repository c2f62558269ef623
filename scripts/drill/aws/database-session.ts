/**
 * @module One short SQL session on a region's database for the AWS drill provider: `pg` with TLS
 * verified against the RDS CA bundle (never Node's default CAs, which do not hold it), a connect
 * timeout, a statement timeout, and the session closed afterwards. A connection that fails is a
 * `DatabaseUnreachableError` (the region's data plane is out of reach from where the drill runs).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { RDS_CA_BUNDLE_PATH } from '../../../infra/config/names.js';
import { DatabaseUnreachableError, type DatabaseTarget } from './epoch-sql.js';

export interface DatabaseSessionOptions {
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** PEM of the CA bundle the server's certificate must chain to. */
  readonly ca: string;
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

export async function withDatabaseSession<T>(target: DatabaseTarget, options: DatabaseSessionOptions, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const statementTimeout = options.statementTimeoutMs ?? 5000;
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl: { rejectUnauthorized: true, ca: options.ca },
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
