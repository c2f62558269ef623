/**
 * @module PostgresMembers: the ClusterRegistry port on Postgres (`cluster_members`). Ages are
 * measured by the database's clock, so nodes' clocks need not agree.
 */
import type { ClusterRegistry, MemberAnnouncement, MemberRecord } from '../../../ports/cluster-registry.js';
import type { PostgresDatabase } from './database.js';

export class PostgresMembers implements ClusterRegistry {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async heartbeat(member: MemberAnnouncement, forgetAfterMs: number): Promise<void> {
    await this.#db.query(
      `WITH forgotten AS (DELETE FROM cluster_members WHERE last_seen < now() - make_interval(secs => $6::double precision / 1000) AND instance_id <> $1)
       INSERT INTO cluster_members (instance_id, internal_url, region, version, started_at, last_seen, tls_certificates)
       VALUES ($1, $2, $3, $4, $5, now(), $7)
       ON CONFLICT (instance_id) DO UPDATE SET internal_url = EXCLUDED.internal_url, region = EXCLUDED.region,
         version = EXCLUDED.version, started_at = EXCLUDED.started_at, last_seen = now(), tls_certificates = EXCLUDED.tls_certificates`,
      [member.instanceId, member.internalUrl, member.region, member.version, member.startedAt, forgetAfterMs, member.tlsCertificates],
    );
  }

  async deregister(instanceId: string): Promise<void> {
    await this.#db.query('DELETE FROM cluster_members WHERE instance_id = $1', [instanceId]);
  }

  async listMembers(): Promise<MemberRecord[]> {
    const result = await this.#db.query<{ instance_id: string; internal_url: string; region: string; version: string; started_at: Date; last_seen: Date; age_ms: number; tls_certificates: string | null }>(
      `SELECT instance_id, internal_url, region, version, started_at, last_seen, tls_certificates,
              (EXTRACT(EPOCH FROM (now() - last_seen)) * 1000)::float8 AS age_ms
         FROM cluster_members ORDER BY instance_id COLLATE "C"`,
    );
    return result.rows.map((r) => ({
      instanceId: r.instance_id,
      internalUrl: r.internal_url,
      region: r.region,
      version: r.version,
      startedAt: r.started_at,
      tlsCertificates: r.tls_certificates,
      lastSeen: r.last_seen,
      ageMs: Math.max(0, Number(r.age_ms)),
    }));
  }
}
