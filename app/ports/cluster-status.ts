/**
 * @module What `npm run admin -- status` shows of a cluster, read from its metadata database:
 * members and their heartbeats, the database servers (primary, replicas with lag and streaming
 * state), the fencing epoch and lock home, and the replication backlog. The same shape comes
 * from a node (`GET /v1/admin/status`, admin keys only) and from Postgres directly (`--dsn`).
 */
export interface MemberStatus {
  readonly instance_id: string;
  readonly region: string;
  readonly internal_url: string;
  readonly version: string;
  readonly started_at: string;
  readonly uptime_s: number;
  readonly last_heartbeat_age_s: number;
}

export interface DatabaseServerStatus {
  /** host:port as the DSN names it. */
  readonly address: string;
  readonly role: 'primary' | 'replica' | 'unreachable';
  /** Why it is unreachable (refused, timeout, ...). */
  readonly error: string | null;
  /** Replicas: how far behind the last replayed transaction is (null on an idle or unreachable server). */
  readonly replay_lag_s: number | null;
}

export interface StreamingReplicaStatus {
  /** `application_name` of the standby. */
  readonly name: string;
  readonly client_addr: string | null;
  /** `streaming`, `catchup`, ... (null when the database user may not see it: grant pg_monitor). */
  readonly state: string | null;
  readonly sync_state: string | null;
  /** WAL the standby has not replayed yet. */
  readonly lag_bytes: number | null;
  readonly replay_lag_ms: number | null;
}

export interface EpochStatus {
  readonly epoch: number;
  readonly fenced: boolean;
  readonly primary_region: string | null;
  readonly lock_home: string | null;
  /** host:port of the primary recorded by the last failover (null: the DSN's). */
  readonly primary_host: string | null;
}

export interface ClusterStatus {
  readonly generated_at: string;
  /** Where it was read: `postgres` (a DSN) or `node <id>`. */
  readonly source: string;
  readonly members: readonly MemberStatus[];
  readonly database: { readonly servers: readonly DatabaseServerStatus[]; readonly streaming: readonly StreamingReplicaStatus[] };
  readonly epoch: EpochStatus | null;
  readonly replication: {
    /** Copies wanted of each local-disk file, the holder's included. */
    readonly factor: number;
    /** Local-disk files with fewer current copies than `factor`. */
    readonly files_below_factor: number;
    readonly local_files: number;
  };
}

export interface ClusterStatusSource {
  read(options: { readonly replicationFactor: number }): Promise<ClusterStatus>;
}
