/**
 * @module Claims of peer-call nonces in the cluster's shared store, sent together: up to
 * MAX_IN_FLIGHT batches travel at once (on separate pooled connections); the nonces of calls
 * arriving while that many are on their way wait and go as one batch when one returns (one
 * statement for many forwarded requests instead of one each). Each nonce is still recorded
 * before its call is accepted, exactly as when claimed alone; a node with a free slot sends a
 * claim at once, so batching adds no wait when there is nothing to share.
 */
import type { PeerNonceStore } from '../ports/peer-nonces.js';

interface Waiting {
  readonly nonce: string;
  readonly resolve: (claimed: boolean) => void;
  readonly reject: (error: unknown) => void;
}

type ClaimMany = (nonces: readonly string[], ttlMs: number) => Promise<ReadonlySet<string>>;

/** Batches on their way at once: two keep a claim from waiting out a whole round trip under load. */
const MAX_IN_FLIGHT = 2;

export class NonceClaims {
  readonly #store: PeerNonceStore;
  /** The store's batch claim; null when it only claims one nonce at a time. */
  readonly #claimMany: ClaimMany | null;
  readonly #ttlMs: number;
  #waiting: Waiting[] = [];
  #inFlight = 0;

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
      if (this.#inFlight < MAX_IN_FLIGHT) this.#send();
    });
  }

  #send(): void {
    const batch = this.#waiting;
    const claimMany = this.#claimMany;
    if (batch.length === 0 || claimMany === null) return;
    this.#waiting = [];
    this.#inFlight++;
    const settled = (): void => {
      this.#inFlight--;
      this.#send();
    };
    claimMany(
      batch.map((w) => w.nonce),
      this.#ttlMs,
    ).then(
      (claimed) => {
        for (const w of batch) w.resolve(claimed.has(w.nonce));
        settled();
      },
      (error: unknown) => {
        for (const w of batch) w.reject(error);
        settled();
      },
    );
  }
}
