/**
 * @module What the drill SQL runner does (./main.ts is its entry point): `node dist/app/drill-sql/main.js` is the command of the one-shot
 * ECS task the failover drill starts in a region (infra/constructs/drill-sql-runner.ts) so its
 * SQL runs inside the VPC. It reads the batch and the database endpoint from its environment
 * (the RunTask override), the credentials from the variables ECS fills from Secrets Manager,
 * connects with TLS verified against the CA bundle the image ships (the RDS bundle, checked
 * against its SHA-256 when the image was built), runs the batch in one session, prints one marked
 * JSON line (./batch.ts) and exits 0 when the batch ran, 1 otherwise. It prints no credential:
 * the result holds rows, SQLSTATEs and messages of the server or the driver only.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { DRILL_SQL_ENV, decodeSqlBatch, runSqlBatch, type SqlBatch, type SqlBatchResult } from './batch.js';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

function milliseconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number of milliseconds`);
  return n;
}

export async function runDrillSql(env: NodeJS.ProcessEnv): Promise<SqlBatchResult> {
  let batch: SqlBatch;
  let client: pg.Client;
  try {
    batch = decodeSqlBatch(required(env, DRILL_SQL_ENV.batch));
    const host = required(env, DRILL_SQL_ENV.host);
    const port = Number(required(env, DRILL_SQL_ENV.port));
    const caPath = required(env, DRILL_SQL_ENV.caBundle);
    const ca = readFileSync(caPath, 'utf8');
    const statementTimeout = milliseconds(env, DRILL_SQL_ENV.statementTimeoutMs, 5000);
    client = new pg.Client({
      host,
      port,
      database: required(env, DRILL_SQL_ENV.database),
      user: required(env, DRILL_SQL_ENV.user),
      password: required(env, DRILL_SQL_ENV.password),
      // Verified against the shipped bundle only (Node's own CAs do not hold the RDS roots), for the endpoint's name.
      ssl: { rejectUnauthorized: true, ca, servername: host },
      connectionTimeoutMillis: milliseconds(env, DRILL_SQL_ENV.connectTimeoutMs, 5000),
      statement_timeout: statementTimeout,
      query_timeout: statementTimeout + 1000,
      application_name: 'geo-callfs-drill',
    });
  } catch (error) {
    return { ok: false, stage: 'input', at: null, code: null, message: message(error) };
  }
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    const code = (error as { code?: unknown }).code;
    return { ok: false, stage: 'connect', at: null, code: typeof code === 'string' ? code : null, message: message(error) };
  }
  try {
    return await runSqlBatch(client, batch);
  } finally {
    await client.end().catch(() => undefined);
  }
}
