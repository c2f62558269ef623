/**
 * @module Claims of peer-call nonces in the cluster's shared store, sent together: while one
 * claim is on its way, the nonces of calls arriving meanwhile wait and go as one batch when it
 * returns (one statement for many forwarded requests instead of one each). Each nonce is still
 * recorded before its call is accepted, exactly as when claimed alone; an idle node sends a
 * claim at once, so batching adds no wait when there is nothing to share.
 */
import type { PeerNonceStore } from '../ports/peer-nonces.js';

interface Waiting {
  readonly nonce: string;
  readonly resolve: (claimed: boolean) => void;
  readonly reject: (error: unknown) => void;
}

type ClaimMany = (nonces: readonly string[], ttlMs: number) => Promise<ReadonlySet<string>>;

export class NonceClaims {
  readonly #store: PeerNonceStore;
  /** The store's batch claim; null when it only claims one nonce at a time. */
  readonly #claimMany: ClaimMany | null;
  readonly #ttlMs: number;
  #waiting: Waiting[] = [];
  #inFlight = false;

  constructor(store: PeerNonceStore, ttlMs: number) {
    this.#store = store;
    this.#claimMany = store.claimPeerNonces?.bind(store) ?? null;
    this.#ttlMs = ttlMs;
  }

  /** True when `nonce` was not seen before in the cluster (and is now recorded for the time to live). */
  claim(nonce: string): Promise<boolean> {
    if (this.#claimMany === null) return this.#store.claimPeerNonce(nonce, this.#ttlMs);
    return new Promise<boolean>((resolve, reject) => {
      this.#waiting.push({ nonce, resolve, reject });
      if (!this.#inFlight) this.#send();
    });
  }

  #send(): void {
    const batch = this.#waiting;
    this.#waiting = [];
    const claimMany = this.#claimMany;
    if (batch.length === 0 || claimMany === null) {
      this.#inFlight = false;
      return;
    }
    this.#inFlight = true;
    claimMany(
      batch.map((w) => w.nonce),
      this.#ttlMs,
    ).then(
      (claimed) => {
        for (const w of batch) w.resolve(claimed.has(w.nonce));
        this.#send();
      },
      (error: unknown) => {
        for (const w of batch) w.reject(error);
        this.#send();
      },
    );
  }
}
