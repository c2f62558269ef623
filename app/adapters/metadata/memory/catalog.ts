/**
 * @module MemoryStorageCatalog and MemoryPeerNonces: the storage catalog and the nonces of signed
 * peer calls of the memory metadata twin, mirroring their Postgres repositories.
 */
import type { PeerNonceStore } from '../../../ports/peer-nonces.js';
import type { ClusterRecord, StorageCatalog } from '../../../ports/storage-catalog.js';
import type { MemorySession } from './session.js';

export class MemoryStorageCatalog implements StorageCatalog {
  readonly #session: MemorySession;

  constructor(session: MemorySession) {
    this.#session = session;
  }

  /** The identity is made with the database, before any entry: it never predates markers. */
  async cluster(): Promise<ClusterRecord> {
    const db = this.#session.open();
    return { clusterId: db.clusterId, predatesMarkers: false, holdsEntries: db.entries.size > 1 };
  }

  async unreferencedBlobKeys(keys: readonly string[]): Promise<string[]> {
    const referenced = new Set<string>();
    for (const { entry } of this.#session.open().entries.values()) if (entry.blobKey !== null) referenced.add(entry.blobKey);
    return keys.filter((key) => !referenced.has(key));
  }

  async highestFence(): Promise<number> {
    let highest = 0;
    for (const { fence } of this.#session.open().entries.values()) highest = Math.max(highest, fence);
    return highest;
  }
}

export class MemoryPeerNonces implements Required<PeerNonceStore> {
  readonly #session: MemorySession;

  constructor(session: MemorySession) {
    this.#session = session;
  }

  async claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean> {
    const nonces = this.#session.open().peerNonces;
    const now = Date.now();
    const until = nonces.get(nonce);
    // A nonce past its time to live may be claimed again (Postgres purges such rows too).
    if (until !== undefined && until >= now) return false;
    for (const [seen, expires] of nonces) if (expires < now) nonces.delete(seen);
    nonces.set(nonce, now + ttlMs);
    return true;
  }

  async claimPeerNonces(nonces: readonly string[], ttlMs: number): Promise<ReadonlySet<string>> {
    const claimed = new Set<string>();
    for (const nonce of nonces) if (await this.claimPeerNonce(nonce, ttlMs)) claimed.add(nonce);
    return claimed;
  }
}
