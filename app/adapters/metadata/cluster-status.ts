/**
 * @module ClusterStatus read straight from the metadata database: every host of the DSN is asked
 * whether it is the primary or a replica (and how far behind), the primary for its streaming
 * standbys (pg_stat_replication), members, the epoch row and the replication backlog. Each host
 * gets one short-lived connection with a connect and statement timeout.
 */
import pg from 'pg';
import type { ClusterStatus, ClusterStatusSource, DatabaseServerStatus, EpochStatus, MemberStatus, StreamingReplicaStatus } from '../../ports/cluster-status.js';
import { epochStateFromRow, READ_EPOCH_STATE, type EpochStateRow } from '../../fencing/index.js';
import type { EpochState } from '../../ports/fencing.js';
import { parseMultiHostDsn, type PostgresHost } from './multi-host-dsn.js';

const TIMEOUT_MS = 5000;

function reason(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name does not resolve';
  if (code === '28P01' || code === '28000') return 'authentication failed';
  const message = error instanceof Error ? error.message : String(error);
  return /timeout|timed out/i.test(message) ? 'timed out' : (message.split('\n')[0] ?? message).replace(/:\/\/[^@\s]*@/g, '://');
}

async function withClient<T>(host: PostgresHost, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: host.dsn, connectionTimeoutMillis: TIMEOUT_MS, statement_timeout: TIMEOUT_MS, query_timeout: TIMEOUT_MS + 1000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function label(host: PostgresHost): string {
  return /^(\[.*\]|[^:]*)$/.test(host.label) ? `${host.label}:5432` : host.label;
}

export class PostgresClusterStatus implements ClusterStatusSource {
  readonly #hosts: PostgresHost[];
  readonly #source: string;

  /** `dsn` may list several hosts (libpq style); `readDsns` adds replicas the DSN does not name. */
  constructor(dsn: string, options: { readonly readDsns?: readonly string[]; readonly source?: string } = {}) {
    const hosts = [...parseMultiHostDsn(dsn), ...(options.readDsns ?? []).flatMap((d) => parseMultiHostDsn(d))];
    this.#hosts = hosts.filter((h, i) => hosts.findIndex((o) => label(o) === label(h)) === i);
    this.#source = options.source ?? 'postgres';
  }

  async read(options: { readonly replicationFactor: number }): Promise<ClusterStatus> {
    const probes = await Promise.all(
      this.#hosts.map(async (host): Promise<{ host: PostgresHost; server: DatabaseServerStatus }> => {
        try {
          const row = await withClient(host, async (c) => (await c.query<{ recovery: boolean; lag: number | null }>(`SELECT pg_is_in_recovery() AS recovery, CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag`)).rows[0]);
          return { host, server: { address: label(host), role: row?.recovery === true ? 'replica' : 'primary', error: null, replay_lag_s: row?.lag ?? null } };
        } catch (error) {
          return { host, server: { address: label(host), role: 'unreachable', error: reason(error), replay_lag_s: null } };
        }
      }),
    );
    // Members, epoch and backlog from the primary (or, when none answers, the first replica that does).
    const reader = probes.find((p) => p.server.role === 'primary') ?? probes.find((p) => p.server.role === 'replica');
    if (reader === undefined) {
      const detail = probes.map((p) => `${p.server.address}: ${p.server.error ?? 'unreachable'}`).join('; ');
      throw new Error(`no database server of the DSN answers (${detail})`);
    }
    const fromDb = await withClient(reader.host, async (client) => {
      const members = await client.query<{ instance_id: string; region: string; internal_url: string; version: string; started_at: Date; uptime: number; age: number }>(
        `SELECT instance_id, region, internal_url, version, started_at,
                extract(epoch FROM now() - started_at)::float8 AS uptime, extract(epoch FROM now() - last_seen)::float8 AS age
           FROM cluster_members ORDER BY region, instance_id`,
      );
      const epochRows = await client.query<EpochStateRow>(READ_EPOCH_STATE).catch(() => ({ rows: [] as EpochStateRow[] }));
      const streaming =
        reader.server.role === 'primary'
          ? await client.query<{ name: string; client_addr: string | null; state: string | null; sync_state: string | null; lag_bytes: string | null; replay_lag_ms: number | null }>(
              `SELECT application_name AS name, client_addr::text, state, sync_state,
                      pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS lag_bytes,
                      (extract(epoch FROM replay_lag) * 1000)::float8 AS replay_lag_ms
                 FROM pg_stat_replication ORDER BY application_name`,
            )
          : { rows: [] };
      const backlog = await client.query<{ local_files: string; below: string }>(
        `SELECT count(*)::text AS local_files,
                count(*) FILTER (WHERE 1 + (SELECT count(*) FROM replicas r WHERE r.path = i.path AND r.version = i.version AND r.instance_id IS DISTINCT FROM i.callfs_instance_id) < $1)::text AS below
           FROM inodes i WHERE i.type = 'file' AND i.backend_type = 'localfs'`,
        [options.replicationFactor],
      );
      const epochRow = epochRows.rows[0];
      return { members: members.rows, epoch: epochRow === undefined ? null : epochStateFromRow(epochRow), streaming: streaming.rows, backlog: backlog.rows[0] };
    });
    const members: MemberStatus[] = fromDb.members.map((m) => ({
      instance_id: m.instance_id,
      region: m.region,
      internal_url: m.internal_url,
      version: m.version,
      started_at: m.started_at.toISOString(),
      uptime_s: Math.round(m.uptime),
      last_heartbeat_age_s: Math.round(m.age * 10) / 10,
    }));
    const streaming: StreamingReplicaStatus[] = fromDb.streaming.map((r) => ({
      name: r.name,
      client_addr: r.client_addr,
      state: r.state,
      sync_state: r.sync_state,
      lag_bytes: r.lag_bytes === null ? null : Number(r.lag_bytes),
      replay_lag_ms: r.replay_lag_ms === null ? null : Math.round(r.replay_lag_ms),
    }));
    return {
      generated_at: new Date().toISOString(),
      source: this.#source,
      members,
      database: { servers: probes.map((p) => p.server), streaming },
      epoch: epochOf(fromDb.epoch),
      replication: { factor: options.replicationFactor, files_below_factor: options.replicationFactor <= 1 ? 0 : Number(fromDb.backlog?.below ?? 0), local_files: Number(fromDb.backlog?.local_files ?? 0) },
    };
  }
}

function epochOf(state: EpochState | null): EpochStatus | null {
  if (state === null) return null;
  return { epoch: state.epoch, fenced: state.fenced, primary_region: state.primaryRegion, lock_home: state.lockHome, primary_host: state.primaryHost };
}
