/**
 * @module The binding half of a fence on RDS, in SQL: the nodes' application role loses its write privileges on the metadata tables and its sessions are
 * ended. Unlike `default_transaction_read_only`, which any session may turn off for itself, a
 * session of the application role cannot give itself back a privilege it was revoked: only the
 * tables' owner can grant it. So the fence holds only when the application role owns none of the
 * tables (and is no superuser); the fence batch checks that first (a guard that stops the batch
 * with the reason), and checks afterwards that the role can no longer write to any table, through
 * PUBLIC or a role it belongs to included.
 *
 * The revocation is WAL like any catalog change: it reaches the old primary's replicas, the one to
 * be promoted included. `restoreWritePathBatch` grants the privileges back on the promoted
 * database; replicas rebuilt from it copy its grants.
 *
 * Each is a drill SQL batch (app/drill-sql/batch.ts): the provider runs it in one session through
 * its SQL reach (./sql-reach.ts), as the database's administrative role (the RDS master user),
 * never as the application role.
 */
import pg from 'pg';
import type { SqlBatch, SqlBatchStatement, SqlRow } from '../../../app/drill-sql/batch.js';
import { BEGIN_READ_WRITE, endedSessions, endRoleSessions } from '../../../app/fencing/index.js';

/** The privileges the application role holds on every table and sequence of `schema`, and the fence takes back. */
export const WRITE_PRIVILEGES = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] as const;
export const METADATA_SCHEMA = 'public';

export interface FenceOutcome {
  /** Sessions of the application role ended. */
  readonly sessionsEnded: number;
}

/**
 * The guard: one row naming why a revocation could not bind the role ($1) on the tables of schema
 * $2, none when it can. `pg_has_role` is given the role's oid, so a missing role yields no error.
 */
const UNBINDABLE = `WITH r AS (SELECT oid, rolsuper, rolname = current_user AS is_me FROM pg_roles WHERE rolname = $1::text),
owned AS (SELECT string_agg(relname, ', ' ORDER BY relname) AS names FROM (
  SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = $2::text AND c.relkind IN ('r', 'p') AND pg_has_role((SELECT oid FROM r), c.relowner, 'USAGE') ORDER BY 1 LIMIT 5) o)
SELECT problem FROM (SELECT CASE
  WHEN NOT EXISTS (SELECT 1 FROM r) THEN format('role %s does not exist', $1::text)
  WHEN (SELECT is_me FROM r) THEN format('the drill connects as %s itself: it needs the administrative credentials, not the nodes''', $1::text)
  WHEN (SELECT rolsuper FROM r) THEN format('%s is a superuser', $1::text)
  WHEN (SELECT names FROM owned) IS NOT NULL THEN format('%s owns (or is a member of the owner of) %s: an owner can grant itself back what was revoked', $1::text, (SELECT names FROM owned))
END AS problem) p WHERE problem IS NOT NULL`;

/** Tables of schema $2 the role $1 may still write to (directly, through PUBLIC or a role it is a member of). */
const WRITABLE_TABLES = `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $2::text AND c.relkind IN ('r', 'p')
    AND (has_table_privilege($1::text, c.oid, 'INSERT') OR has_table_privilege($1::text, c.oid, 'UPDATE') OR has_table_privilege($1::text, c.oid, 'DELETE') OR has_table_privilege($1::text, c.oid, 'TRUNCATE'))
  ORDER BY 1`;

/**
 * Statements that revoke the write privileges of `appRole` on every table and sequence of
 * `schema`, end its sessions and list what it may still write; `fenceOutcome` reads them.
 */
export function writePathFenceStatements(appRole: string, schema = METADATA_SCHEMA): SqlBatchStatement[] {
  const role = pg.escapeIdentifier(appRole);
  const ns = pg.escapeIdentifier(schema);
  return [
    { sql: UNBINDABLE, params: [appRole, schema], stopIfRows: true },
    { sql: BEGIN_READ_WRITE },
    { sql: `REVOKE ${WRITE_PRIVILEGES.join(', ')} ON ALL TABLES IN SCHEMA ${ns} FROM ${role}` },
    { sql: `REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA ${ns} FROM ${role}` },
    { sql: 'COMMIT' },
    // Sessions that began a write before the revocation finish it or fail; ending them makes every
    // later statement of the role run under the new privileges.
    { sql: endRoleSessions(appRole).text, params: [...endRoleSessions(appRole).values] },
    { sql: WRITABLE_TABLES, params: [appRole, schema] },
  ];
}

/** The outcome of `writePathFenceStatements` (the last three result sets); throws naming what keeps the fence from binding. */
export function fenceOutcome(appRole: string, rows: readonly (readonly SqlRow[])[], stoppedAt: number | null): FenceOutcome {
  if (stoppedAt !== null) throw new Error(`the fence cannot bind the nodes' role: ${String(rows[stoppedAt]?.[0]?.['problem'] ?? 'unknown reason')}`);
  const still = (rows[rows.length - 1] ?? []).map((r) => String(r['relname']));
  if (still.length > 0) throw new Error(`the fence did not bind: ${appRole} may still write to ${still.join(', ')} (through PUBLIC or a role it belongs to)`);
  return { sessionsEnded: endedSessions(rows[rows.length - 2]?.[0] as { ended?: string } | undefined) };
}

/** Gives `appRole` its write path back (on a promoted database, whose catalog came from the fenced one). */
export function restoreWritePathBatch(appRole: string, schema = METADATA_SCHEMA): SqlBatch {
  const role = pg.escapeIdentifier(appRole);
  const ns = pg.escapeIdentifier(schema);
  return {
    statements: [
      { sql: BEGIN_READ_WRITE },
      { sql: `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${ns} TO ${role}` },
      { sql: `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${ns} TO ${role}` },
      { sql: 'COMMIT' },
    ],
  };
}
