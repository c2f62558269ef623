/**
 * @module Fencing across a region failover, in one place: the epoch row in Postgres and its
 * write guard (epoch-row.ts), what a fence does to the server's sessions (sessions.ts), the lock
 * home's Redis keys and scripts (lock-home.ts), and the WAL positions a failover compares (LSNs,
 * from the domain). The node, the local (rehearsal) drill provider and the AWS drill provider all
 * import it; none of them spells a table, key or script of its own.
 */
export * from './epoch-row.js';
export * from './lock-home.js';
export * from './sessions.js';
export * from './sql-text.js';
export { formatLsn, lsnReached, parseLsn } from '../domain/lsn.js';
