/**
 * @module PostgresLinks: the single-use links of the MetadataStore port (`single_use_links`): a
 * link is consumed by one atomic update, released again when its bytes could not be sent, and
 * deleted once expired or spent for longer than the retention.
 */
import type { LinkRecord } from '../../../ports/metadata-store.js';
import type { PostgresDatabase } from './database.js';

export class PostgresLinks {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void> {
    await this.#db.query('INSERT INTO single_use_links (token, file_path, status, expires_at, hmac_signature) VALUES ($1, $2, $3, $4, $5)', [
      link.token,
      link.path,
      'active',
      link.expiresAt,
      link.signature,
    ]);
  }

  async getLink(token: string): Promise<LinkRecord | null> {
    const result = await this.#db.query<{ token: string; file_path: string; hmac_signature: string; expires_at: Date; status: string; created_at: Date }>(
      'SELECT token, file_path, hmac_signature, expires_at, status, created_at FROM single_use_links WHERE token = $1',
      [token],
    );
    const row = result.rows[0];
    if (row === undefined) return null;
    return { token: row.token, path: row.file_path, signature: row.hmac_signature, expiresAt: row.expires_at, status: row.status === 'active' ? 'active' : 'used', createdAt: row.created_at };
  }

  async consumeLink(token: string, usedByIp: string | null): Promise<boolean> {
    const ip = usedByIp?.replace(/^::ffff:/, '') ?? null;
    const result = await this.#db.query(
      "UPDATE single_use_links SET status = 'used', used_at = now(), used_by_ip = $2::inet WHERE token = $1 AND status = 'active' AND expires_at > now()",
      [token, ip !== null && /^[0-9a-fA-F:.]+$/.test(ip) ? ip : null],
    );
    return result.rowCount === 1;
  }

  async releaseLink(token: string): Promise<boolean> {
    const result = await this.#db.query(
      "UPDATE single_use_links SET status = 'active', used_at = NULL, used_by_ip = NULL WHERE token = $1 AND status = 'used' AND expires_at > now()",
      [token],
    );
    return result.rowCount === 1;
  }

  async deleteStaleLinks(usedRetentionMs: number): Promise<number> {
    const result = await this.#db.query(
      "DELETE FROM single_use_links WHERE (status = 'active' AND expires_at < now()) OR (status = 'used' AND used_at < now() - make_interval(secs => $1))",
      [usedRetentionMs / 1000],
    );
    return result.rowCount ?? 0;
  }
}
