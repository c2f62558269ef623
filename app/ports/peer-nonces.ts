/**
 * @module PeerNonceStore: the nonces of signed node-to-node calls, remembered by the whole
 * cluster for the length of the signature time window, so a captured call is refused by every
 * node, before and after a restart. Adapter: Postgres (`callfs_peer_nonces`, on the primary).
 */
export interface PeerNonceStore {
  /**
   * Records `nonce` for `ttlMs`. True when it was not seen before (or only longer ago than its
   * time to live); false when it was: the call is a replay.
   */
  claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean>;
  /**
   * Records several nonces in one round trip, each as `claimPeerNonce` would; resolves with the
   * ones that were not seen before. Optional: a store without it is asked once per nonce.
   */
  claimPeerNonces?(nonces: readonly string[], ttlMs: number): Promise<ReadonlySet<string>>;
}
