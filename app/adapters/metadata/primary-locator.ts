/**
 * @module Finds the primary among the hosts of a DSN: connects to every host at once, with the
 * connect timeout, and picks the first writable one in the DSN's order that answers in time: not in recovery, its sessions not read-only
 * (a former primary fenced by a failover drill is made read-only), and its epoch row not marked
 * fenced. Every probe is bounded (connect timeout, then a query timeout) and its connection is
 * always closed.
 */
import pg from 'pg';
import { READ_FENCED, type FencedRow } from '../../fencing/index.js';
import type { PostgresHost } from './multi-host-dsn.js';

export interface ProbeTimeouts {
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
}

export interface PrimaryLocation {
  /** The host that accepted a connection and is writable and not fenced, or null. */
  readonly primary: PostgresHost | null;
  /** What each probed host answered, e.g. `h1:5432 unreachable (ECONNREFUSED), h2:5433 read-only, h3:5432 standby`. */
  readonly summary: string;
}

/** A short, credential-free reason for a failed probe: the error's code when it has one. */
function reasonOf(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (/^[A-Z0-9_]{2,32}$/.test(code)) return code;
  return error instanceof Error && /timeout/i.test(error.message) ? 'timeout' : 'error';
}

async function probe(host: PostgresHost, timeouts: ProbeTimeouts): Promise<string> {
  const client = new pg.Client({
    connectionString: host.dsn,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    query_timeout: timeouts.queryTimeoutMs,
    statement_timeout: timeouts.queryTimeoutMs,
  });
  // A connection that breaks after the probe finished must not become an unhandled 'error'.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ recovering: boolean; read_only: boolean }>(
      "SELECT pg_is_in_recovery() AS recovering, current_setting('transaction_read_only') = 'on' AS read_only",
    );
    const row = result.rows[0];
    if (row?.recovering !== false) return 'standby';
    if (row.read_only) return 'read-only';
    return (await isFenced(client)) ? 'fenced' : 'primary';
  } catch (error) {
    return `unreachable (${reasonOf(error)})`;
  } finally {
    // Not awaited: closing must never hold up the search.
    client.end().catch(() => undefined);
  }
}

/** The epoch row says fenced; a database not migrated yet (no table) is not. */
async function isFenced(client: pg.Client): Promise<boolean> {
  try {
    const result = await client.query<FencedRow>(READ_FENCED);
    return result.rows[0]?.fenced === true;
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === '42P01') return false;
    throw error;
  }
}

/**
 * How long, once a host has answered primary, the hosts listed before it may still take to
 * answer: among primaries that answer, the DSN's order wins (as with libpq), but a host that
 * does not answer at all (a lost region, packets dropped) holds nobody up for its connect timeout.
 */
const ORDER_GRACE_MS = 250;

/** Probes every host at once; the first primary in DSN order that answered in time wins. */
export async function locatePrimary(hosts: readonly PostgresHost[], timeouts: ProbeTimeouts): Promise<PrimaryLocation> {
  const answers: Array<string | null> = hosts.map(() => null);
  const summary = (): string => hosts.map((host, i) => `${host.label} ${answers[i] ?? 'no answer yet'}`).join(', ');
  const probes = hosts.map((host, i) =>
    probe(host, timeouts).then((answer) => {
      answers[i] = answer;
      return answer;
    }),
  );
  const firstPrimary = await new Promise<number | null>((resolve) => {
    let pending = probes.length;
    if (pending === 0) resolve(null);
    probes.forEach((answered, i) => {
      void answered.then((answer) => {
        pending--;
        if (answer === 'primary') resolve(i);
        else if (pending === 0) resolve(null);
      });
    });
  });
  if (firstPrimary === null) return { primary: null, summary: summary() };
  await Promise.race([Promise.all(probes), new Promise((resolve) => setTimeout(resolve, ORDER_GRACE_MS).unref())]);
  const chosen = answers.findIndex((answer) => answer === 'primary');
  return { primary: hosts[chosen === -1 ? firstPrimary : chosen] ?? null, summary: summary() };
}
