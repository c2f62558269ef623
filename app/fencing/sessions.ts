/**
 * @module The session half of a fence: what a failover does to the sessions of a former primary
 * besides marking its epoch row. New sessions start read-only by default, the sessions opened
 * before are ended (a session keeps the settings it began with), and a promoted server's default
 * is reset. The local drill provider sends these through psql, the AWS one through `pg`; both
 * take the text from here, as they take the epoch row's statements from epoch-row.ts.
 */
import type { SqlStatement } from './sql-text.js';

/** Every new session of the server starts read-only (takes effect at the reload below). */
export const SET_READ_ONLY_DEFAULT = 'alter system set default_transaction_read_only = on';

/** A promoted server's sessions are writable by default again. */
export const RESET_READ_ONLY_DEFAULT = 'alter system reset default_transaction_read_only';

/** Makes ALTER SYSTEM changes take effect without a restart. */
export const RELOAD_CONFIGURATION = 'select pg_reload_conf()';

/** Whether new sessions start read-only: one row, `default_transaction_read_only` = `on` or `off`. */
export const SHOW_READ_ONLY_DEFAULT = 'SHOW default_transaction_read_only';

/** What `SHOW_READ_ONLY_DEFAULT` returned means. */
export function readOnlyByDefault(row: { readonly default_transaction_read_only?: string } | undefined): boolean {
  return row?.default_transaction_read_only === 'on';
}

/** Ends every other client session of the server (all users); one row, the count. */
export const END_CLIENT_SESSIONS = "select count(pg_terminate_backend(pid)) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()";

/** Ends the other sessions of the connected user (the nodes', when the drill connects as they do); one row, `ended` as text. */
export const END_OWN_USER_SESSIONS =
  'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::text AS ended FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid()';

/** Ends the sessions of `role` (the nodes' application role, when the drill connects as the administrator); one row, `ended` as text. */
export function endRoleSessions(role: string): SqlStatement {
  return { text: 'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::text AS ended FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', values: [role] };
}

/** The `ended` count `END_OWN_USER_SESSIONS` and `endRoleSessions` return. */
export function endedSessions(row: { readonly ended?: string } | undefined): number {
  return Number(row?.ended ?? 0);
}

/** Opens a transaction that may write even on a server whose sessions are read-only by default (a fenced one). */
export const BEGIN_READ_WRITE = 'BEGIN TRANSACTION READ WRITE';
