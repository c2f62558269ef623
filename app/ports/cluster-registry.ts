/**
 * @module ClusterRegistry: the members of a cluster as they announce themselves, beside the static
 * `instance_discovery.peer_endpoints` map. Each node upserts its own row on a heartbeat and
 * deletes it on a graceful stop. Adapter: Postgres (`adapters/metadata/postgres/members.ts`,
 * table `cluster_members`; memory twin `memory/members.ts`), so every node sharing the metadata store sees the same membership.
 *
 * Failure translation: as MetadataStore (database down → METADATA_UNAVAILABLE).
 */
export interface MemberAnnouncement {
  readonly instanceId: string;
  /** Base URL peers use to reach this node, e.g. `http://10.0.1.7:8443`. */
  readonly internalUrl: string;
  readonly region: string;
  readonly version: string;
  readonly startedAt: Date;
  /**
   * PEM bundle of the self-signed certificate(s) this node's https listener may present
   * (`server.tls_self_signed`); peers trust exactly these for this member. Null: none announced
   * (plain http, or https verified with \`instance_discovery.peer_ca_file\` / the system's CAs).
   */
  readonly tlsCertificates: string | null;
}

export interface MemberRecord extends MemberAnnouncement {
  /** Time of the last heartbeat, by the database's clock. */
  readonly lastSeen: Date;
  /** Milliseconds since the last heartbeat, measured by the database (no clock skew between nodes). */
  readonly ageMs: number;
}

export interface ClusterRegistry {
  /** Inserts or refreshes this node's row; rows silent for longer than `forgetAfterMs` are removed. */
  heartbeat(member: MemberAnnouncement, forgetAfterMs: number): Promise<void>;
  /** Removes a node's row (graceful stop, or an operator removing a node for good). */
  deregister(instanceId: string): Promise<void>;
  listMembers(): Promise<MemberRecord[]>;
}
