import { describe, expect, it } from 'vitest';
import { DRILL_SQL_MAX_RESULT_CHARS, DRILL_SQL_RESULT_MARKER, decodeSqlBatch, encodeSqlBatch, findSqlResult, formatSqlResultLine, runSqlBatch, type SqlSession } from './batch.js';
import { runDrillSql } from './runner.js';

/** A session that answers from a script and records what it was sent. */
function session(answers: Record<string, Array<Record<string, unknown>> | Error>): SqlSession & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    query(text: string) {
      sent.push(text);
      const answer = answers[text] ?? [];
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve({ rows: answer });
    },
  };
}

describe('drill SQL batch', () => {
  it('travels compressed and comes back as it was', () => {
    const batch = { statements: [{ sql: 'SELECT $1::text AS a', params: ['x', 1, null, true] }, { sql: 'SELECT 1', stopIfRows: true }] };
    const encoded = encodeSqlBatch(batch);
    expect(encoded).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(decodeSqlBatch(encoded)).toEqual(batch);
    // SQL text compresses well: a long batch stays far below RunTask's 8192-character override limit.
    const long = { statements: Array.from({ length: 10 }, () => ({ sql: `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1` })) };
    expect(encodeSqlBatch(long).length).toBeLessThan(JSON.stringify(long).length / 3);
  });

  it('refuses a batch without statements or with a statement without text', () => {
    expect(() => decodeSqlBatch(encodeSqlBatch({ statements: [] }))).toThrow(/no statements/);
    expect(() => decodeSqlBatch(encodeSqlBatch({ statements: [{ sql: '' }] }))).toThrow(/statement 0 has no SQL text/);
  });

  it('runs the statements in order and stops after a guard that returns rows', async () => {
    const s = session({ 'SELECT guard': [{ problem: 'no' }], 'SELECT one': [{ n: '1' }] });
    const result = await runSqlBatch(s, { statements: [{ sql: 'SELECT one' }, { sql: 'SELECT guard', stopIfRows: true }, { sql: 'REVOKE' }] });
    expect(result).toEqual({ ok: true, rows: [[{ n: '1' }], [{ problem: 'no' }]], stoppedAt: 1 });
    expect(s.sent).toEqual(['SELECT one', 'SELECT guard']);
  });

  it('rolls back and reports the failed statement with its SQLSTATE', async () => {
    const s = session({ UPDATE: Object.assign(new Error('permission denied for table inodes'), { code: '42501' }) });
    const result = await runSqlBatch(s, { statements: [{ sql: 'BEGIN' }, { sql: 'UPDATE' }, { sql: 'COMMIT' }] });
    expect(result).toEqual({ ok: false, stage: 'statement', at: 1, code: '42501', message: 'permission denied for table inodes' });
    expect(s.sent).toEqual(['BEGIN', 'UPDATE', 'ROLLBACK']);
  });

  it('prints one marked line that the drill finds among other log lines, and refuses one too long for a log event', () => {
    const line = formatSqlResultLine({ ok: true, rows: [[{ epoch: '7' }]], stoppedAt: null });
    expect(line.startsWith(DRILL_SQL_RESULT_MARKER)).toBe(true);
    expect(findSqlResult(['(node) warning', line])).toEqual({ ok: true, rows: [[{ epoch: '7' }]], stoppedAt: null });
    expect(findSqlResult(['nothing here'])).toBeNull();
    const big = formatSqlResultLine({ ok: true, rows: [[{ text: 'x'.repeat(DRILL_SQL_MAX_RESULT_CHARS) }]], stoppedAt: null });
    expect(big.length).toBeLessThanOrEqual(DRILL_SQL_MAX_RESULT_CHARS);
    expect(findSqlResult([big])).toMatchObject({ ok: false, stage: 'output' });
  });

  it('the runner reports a missing input without connecting, and never echoes the password', async () => {
    const result = await runDrillSql({ DRILL_SQL_BATCH: encodeSqlBatch({ statements: [{ sql: 'SELECT 1' }] }), DRILL_SQL_PASSWORD: 'secret-value' });
    expect(result).toMatchObject({ ok: false, stage: 'input', message: 'DRILL_SQL_HOST is not set' });
    expect(JSON.stringify(result)).not.toContain('secret-value');
  });
});
