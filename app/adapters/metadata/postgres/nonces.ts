/**
 * @module PostgresPeerNonces: the PeerNonceStore port on Postgres (`callfs_peer_nonces`, on the
 * primary). Expired rows are purged now and then, off the claiming call's path.
 */
import type { PeerNonceStore } from '../../../ports/peer-nonces.js';
import type { PostgresDatabase } from './database.js';

export class PostgresPeerNonces implements PeerNonceStore {
  readonly #db: PostgresDatabase;
  #noncesPurgedAt = 0;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean> {
    // A row whose time to live has passed may be claimed again (it is about to be purged anyway).
    const result = await this.#db.query(
      `INSERT INTO callfs_peer_nonces (nonce, expires_at) VALUES ($1, now() + make_interval(secs => $2))
       ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE callfs_peer_nonces.expires_at < now()`,
      [nonce, ttlMs / 1000],
    );
    if (Date.now() - this.#noncesPurgedAt > 60_000) {
      this.#noncesPurgedAt = Date.now();
      void this.#db.query('DELETE FROM callfs_peer_nonces WHERE expires_at < now()').catch(() => undefined);
    }
    return result.rowCount === 1;
  }
}
