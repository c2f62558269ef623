/**
 * @module PostgresPeerNonces: the PeerNonceStore port on Postgres (`callfs_peer_nonces`, on the
 * primary). Nonces claimed together go in one statement; expired rows are purged now and then,
 * off the claiming call's path.
 */
import type { PeerNonceStore } from '../../../ports/peer-nonces.js';
import type { PostgresDatabase } from './database.js';

export class PostgresPeerNonces implements Required<PeerNonceStore> {
  readonly #db: PostgresDatabase;
  #noncesPurgedAt = 0;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean> {
    return (await this.claimPeerNonces([nonce], ttlMs)).has(nonce);
  }

  async claimPeerNonces(nonces: readonly string[], ttlMs: number): Promise<ReadonlySet<string>> {
    // A row whose time to live has passed may be claimed again (it is about to be purged anyway).
    // RETURNING names the rows inserted or reclaimed: exactly the nonces not seen before.
    const result = await this.#db.query<{ nonce: string }>(
      `INSERT INTO callfs_peer_nonces (nonce, expires_at) SELECT DISTINCT n, now() + make_interval(secs => $2) FROM unnest($1::text[]) AS n
       ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE callfs_peer_nonces.expires_at < now() RETURNING nonce`,
      [nonces, ttlMs / 1000],
    );
    if (Date.now() - this.#noncesPurgedAt > 60_000) {
      this.#noncesPurgedAt = Date.now();
      void this.#db.query('DELETE FROM callfs_peer_nonces WHERE expires_at < now()').catch(() => undefined);
    }
    return new Set(result.rows.map((row) => row.nonce));
  }
}
