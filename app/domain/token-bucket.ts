/**
 * @module Per-client token buckets (CallFS reference §5.6): `ratePerSec` tokens refill
 * continuously up to `burst`; a request takes one. Idle clients are forgotten after `idleMs`,
 * and the table never grows past `maxClients`.
 */
interface Bucket {
  tokens: number;
  updatedMs: number;
}

export interface TokenBucketOptions {
  readonly ratePerSec: number;
  readonly burst: number;
  readonly idleMs?: number;
  readonly maxClients?: number;
}

export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #idleMs: number;
  readonly #maxClients: number;

  constructor(options: TokenBucketOptions) {
    this.#rate = options.ratePerSec;
    this.#burst = Math.max(1, options.burst);
    this.#idleMs = options.idleMs ?? 10 * 60_000;
    this.#maxClients = options.maxClients ?? 100_000;
  }

  /** Takes a token for `client` at time `nowMs`; false when the client is over its rate. */
  take(client: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(client);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxClients) this.#evict(nowMs);
      bucket = { tokens: this.#burst, updatedMs: nowMs };
      this.#buckets.set(client, bucket);
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * this.#rate);
      bucket.updatedMs = nowMs;
      // Keep insertion order roughly "least recently used first" for eviction.
      this.#buckets.delete(client);
      this.#buckets.set(client, bucket);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(nowMs: number): void {
    for (const [client, bucket] of this.#buckets) if (nowMs - bucket.updatedMs > this.#idleMs) this.#buckets.delete(client);
    let excess = this.#buckets.size - this.#maxClients + 1;
    for (const client of this.#buckets.keys()) {
      if (excess-- <= 0) break;
      this.#buckets.delete(client);
    }
  }
}
