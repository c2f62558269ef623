/**
 * @module The binding half of a fence on RDS, in SQL: the nodes' application role loses its write privileges on the metadata tables and its sessions are
 * ended. Unlike `default_transaction_read_only`, which any session may turn off for itself, a
 * session of the application role cannot give itself back a privilege it was revoked: only the
 * tables' owner can grant it. So the fence holds only when the application role owns none of the
 * tables (and is no superuser); `revokeWritePath` checks that, and checks afterwards that the role
 * can no longer write to any table, through PUBLIC or a role it belongs to included.
 *
 * The revocation is WAL like any catalog change: it reaches the old primary's replicas, the one to
 * be promoted included. `restoreWritePath` grants the privileges back on the promoted database;
 * replicas rebuilt from it copy its grants.
 *
 * Runs as the database's administrative role (the RDS master user), never as the application role.
 */
import type pg from 'pg';
import { endedSessions, endRoleSessions } from '../../../app/fencing/index.js';
import { inReadWriteTransaction } from './database-session.js';

/** The privileges the application role holds on every table and sequence of `schema`, and the fence takes back. */
export const WRITE_PRIVILEGES = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] as const;
export const METADATA_SCHEMA = 'public';

export interface FenceOutcome {
  /** Sessions of the application role ended. */
  readonly sessionsEnded: number;
}

/** Tables of `schema` the role may still write to (directly, through PUBLIC or a role it is a member of). */
export async function writableTables(client: pg.Client, appRole: string, schema = METADATA_SCHEMA): Promise<string[]> {
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $2 AND c.relkind IN ('r', 'p')
        AND (has_table_privilege($1, c.oid, 'INSERT') OR has_table_privilege($1, c.oid, 'UPDATE') OR has_table_privilege($1, c.oid, 'DELETE') OR has_table_privilege($1, c.oid, 'TRUNCATE'))
      ORDER BY 1`,
    [appRole, schema],
  );
  return rows.map((r) => r.relname);
}

/** Why a revocation could not bind `appRole`, or null when it can. */
async function unbindable(client: pg.Client, appRole: string, schema: string): Promise<string | null> {
  const { rows: roles } = await client.query<{ rolsuper: boolean; is_me: boolean }>('SELECT rolsuper, rolname = current_user AS is_me FROM pg_roles WHERE rolname = $1', [appRole]);
  const role = roles[0];
  if (role === undefined) return `role ${appRole} does not exist`;
  if (role.is_me) return `the drill connects as ${appRole} itself: it needs the administrative credentials, not the nodes'`;
  if (role.rolsuper) return `${appRole} is a superuser`;
  const { rows: owned } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $2 AND c.relkind IN ('r', 'p') AND pg_has_role($1, c.relowner, 'USAGE') ORDER BY 1 LIMIT 5`,
    [appRole, schema],
  );
  if (owned.length > 0) return `${appRole} owns (or is a member of the owner of) ${owned.map((r) => r.relname).join(', ')}: an owner can grant itself back what was revoked`;
  return null;
}

/**
 * Revokes the write privileges of `appRole` on every table and sequence of `schema`, ends its
 * sessions, and checks that it can write nowhere. Throws naming what keeps the fence from binding.
 */
export async function revokeWritePath(client: pg.Client, appRole: string, schema = METADATA_SCHEMA): Promise<FenceOutcome> {
  const problem = await unbindable(client, appRole, schema);
  if (problem !== null) throw new Error(`the fence cannot bind the nodes' role: ${problem}`);
  const role = client.escapeIdentifier(appRole);
  const ns = client.escapeIdentifier(schema);
  await inReadWriteTransaction(client, [
    { text: `REVOKE ${WRITE_PRIVILEGES.join(', ')} ON ALL TABLES IN SCHEMA ${ns} FROM ${role}`, values: [] },
    { text: `REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA ${ns} FROM ${role}`, values: [] },
  ]);
  // Sessions that began a write before the revocation finish it or fail; ending them makes every
  // later statement of the role run under the new privileges.
  const ended = endRoleSessions(appRole);
  const { rows } = await client.query<{ ended: string }>(ended.text, [...ended.values]);
  const still = await writableTables(client, appRole, schema);
  if (still.length > 0) throw new Error(`the fence did not bind: ${appRole} may still write to ${still.join(', ')} (through PUBLIC or a role it belongs to)`);
  return { sessionsEnded: endedSessions(rows[0]) };
}

/** Gives `appRole` its write path back (on a promoted database, whose catalog came from the fenced one). */
export async function restoreWritePath(client: pg.Client, appRole: string, schema = METADATA_SCHEMA): Promise<void> {
  const role = client.escapeIdentifier(appRole);
  const ns = client.escapeIdentifier(schema);
  await inReadWriteTransaction(client, [
    { text: `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${ns} TO ${role}`, values: [] },
    { text: `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${ns} TO ${role}`, values: [] },
  ]);
}
