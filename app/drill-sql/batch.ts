/**
 * @module The drill's SQL batch: what a failover drill asks of a region's database, as data. A
 * batch is a list of statements (text and positional values) run in order in one session; a
 * statement marked `stopIfRows` is a guard whose rows say why the rest must not run (the batch
 * stops there and reports them). The result is the rows of every statement that ran, or where it
 * failed (connecting, or which statement with which SQLSTATE).
 *
 * The same batch runs in two places: in the drill's own process over a direct connection (a
 * bastion or VPN), and in a one-shot ECS task of the node image inside the region's VPC
 * (`node dist/app/drill-sql/main.js`), which reads the batch from its container override and
 * prints the result as one marked line to its log stream. So both paths give the drill exactly
 * the same JSON, and the batch must be small: an ECS RunTask's overrides hold 8192 characters in
 * all, so the batch travels gzip-compressed and base64-encoded in one environment variable.
 */
import { gunzipSync, gzipSync } from 'node:zlib';

/** Environment of the runner task: the batch and where to connect come from the RunTask override, credentials from the task definition's secrets. */
export const DRILL_SQL_ENV = {
  /** base64(gzip(JSON of SqlBatch)). */
  batch: 'DRILL_SQL_BATCH',
  host: 'DRILL_SQL_HOST',
  port: 'DRILL_SQL_PORT',
  database: 'DRILL_SQL_DATABASE',
  connectTimeoutMs: 'DRILL_SQL_CONNECT_TIMEOUT_MS',
  statementTimeoutMs: 'DRILL_SQL_STATEMENT_TIMEOUT_MS',
  /** Injected by ECS from the administrative credentials secret (never in an override). */
  user: 'DRILL_SQL_USER',
  password: 'DRILL_SQL_PASSWORD',
  /** Path of the PEM bundle the server certificate must chain to (the image's RDS bundle). */
  caBundle: 'DRILL_SQL_CA_BUNDLE',
} as const;

/** Prefix of the one stdout line that carries the result (the drill finds it among the log events). */
export const DRILL_SQL_RESULT_MARKER = 'geo-callfs-drill-sql-result ';

/**
 * Longest result line the runner prints. Docker's log drivers split a line longer than 16 KiB
 * into several log events; a result that long is refused rather than sent in pieces.
 */
export const DRILL_SQL_MAX_RESULT_CHARS = 15 * 1024;

export interface SqlBatchStatement {
  readonly sql: string;
  readonly params?: readonly unknown[];
  /** A guard: when it returns rows, the batch stops after it (the rows say why). */
  readonly stopIfRows?: boolean;
}

export interface SqlBatch {
  readonly statements: readonly SqlBatchStatement[];
}

export type SqlRow = Record<string, unknown>;

export type SqlBatchResult =
  | { readonly ok: true; readonly rows: readonly (readonly SqlRow[])[]; readonly stoppedAt: number | null }
  | { readonly ok: false; readonly stage: 'input' | 'connect' | 'statement' | 'output'; readonly at: number | null; readonly code: string | null; readonly message: string };

/** The session the batch runs in: `pg.Client` fits it. */
export interface SqlSession {
  query(text: string, values?: unknown[]): Promise<{ rows: SqlRow[] }>;
}

/** Runs `batch` in `session`, statement by statement; a failed statement rolls back an open transaction and ends the batch. */
export async function runSqlBatch(session: SqlSession, batch: SqlBatch): Promise<SqlBatchResult> {
  const rows: SqlRow[][] = [];
  for (const [at, statement] of batch.statements.entries()) {
    try {
      const result = await session.query(statement.sql, statement.params === undefined ? undefined : [...statement.params]);
      rows.push(result.rows);
      if (statement.stopIfRows === true && result.rows.length > 0) return { ok: true, rows, stoppedAt: at };
    } catch (error) {
      // Outside a transaction ROLLBACK only warns; inside one it ends it, so nothing half-done commits.
      await session.query('ROLLBACK').catch(() => undefined);
      const code = (error as { code?: unknown }).code;
      return { ok: false, stage: 'statement', at, code: typeof code === 'string' ? code : null, message: error instanceof Error ? error.message : String(error) };
    }
  }
  return { ok: true, rows, stoppedAt: null };
}

/** The batch as the runner's environment carries it. */
export function encodeSqlBatch(batch: SqlBatch): string {
  return gzipSync(Buffer.from(JSON.stringify(batch), 'utf8'), { level: 9 }).toString('base64');
}

export function decodeSqlBatch(encoded: string): SqlBatch {
  const parsed = JSON.parse(gunzipSync(Buffer.from(encoded, 'base64')).toString('utf8')) as unknown;
  const statements = (parsed as { statements?: unknown }).statements;
  if (!Array.isArray(statements) || statements.length === 0) throw new Error('the batch has no statements');
  return {
    statements: statements.map((s: unknown, i) => {
      const { sql, params, stopIfRows } = (s ?? {}) as { sql?: unknown; params?: unknown; stopIfRows?: unknown };
      if (typeof sql !== 'string' || sql === '') throw new Error(`statement ${i} has no SQL text`);
      if (params !== undefined && !Array.isArray(params)) throw new Error(`statement ${i}: params must be a list`);
      return { sql, ...(params === undefined ? {} : { params: params as unknown[] }), ...(stopIfRows === true ? { stopIfRows: true } : {}) };
    }),
  };
}

/** The marked result line (rows as JSON: bigints as text, timestamps as ISO strings, the same on both paths). */
export function formatSqlResultLine(result: SqlBatchResult): string {
  const line = `${DRILL_SQL_RESULT_MARKER}${JSON.stringify(result)}`;
  if (line.length <= DRILL_SQL_MAX_RESULT_CHARS) return line;
  const tooLong: SqlBatchResult = { ok: false, stage: 'output', at: null, code: null, message: `the result has ${line.length} characters, more than the ${DRILL_SQL_MAX_RESULT_CHARS} one log line carries: select fewer rows` };
  return `${DRILL_SQL_RESULT_MARKER}${JSON.stringify(tooLong)}`;
}

/** The result in `lines` (log events of the runner's stream), or null when none carries the marker. */
export function findSqlResult(lines: readonly string[]): SqlBatchResult | null {
  for (const line of lines) {
    const start = line.indexOf(DRILL_SQL_RESULT_MARKER);
    if (start < 0) continue;
    const parsed = JSON.parse(line.slice(start + DRILL_SQL_RESULT_MARKER.length)) as SqlBatchResult;
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.ok === 'boolean') return parsed;
  }
  return null;
}
