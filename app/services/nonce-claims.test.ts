import { describe, expect, it } from 'vitest';
import type { PeerNonceStore } from '../ports/peer-nonces.js';
import { NonceClaims } from './nonce-claims.js';

/** A shared store that answers when told to, counting its round trips. */
class SlowStore implements PeerNonceStore {
  readonly seen = new Set<string>();
  readonly batches: string[][] = [];
  failNext = false;
  #release: Array<() => void> = [];

  async claimPeerNonce(nonce: string): Promise<boolean> {
    return (await this.claimPeerNonces([nonce])).has(nonce);
  }

  async claimPeerNonces(nonces: readonly string[]): Promise<ReadonlySet<string>> {
    this.batches.push([...nonces]);
    await new Promise<void>((resolve) => this.#release.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('primary unreachable');
    }
    const claimed = new Set<string>();
    for (const nonce of nonces) {
      if (this.seen.has(nonce)) continue;
      this.seen.add(nonce);
      claimed.add(nonce);
    }
    return claimed;
  }

  /** Lets the oldest round trip answer. */
  async answer(): Promise<void> {
    this.#release.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
}

describe('NonceClaims', () => {
  it('sends claims at once while two are on their way, and the ones arriving meanwhile as one batch', async () => {
    const store = new SlowStore();
    const claims = new NonceClaims(store, 60_000);
    const first = claims.claim('n1');
    const second = claims.claim('n2');
    const rest = ['n3', 'n4', 'n1'].map((n) => claims.claim(n));
    expect(store.batches).toEqual([['n1'], ['n2']]);
    await store.answer();
    expect(await first).toBe(true);
    expect(store.batches).toEqual([['n1'], ['n2'], ['n3', 'n4', 'n1']]);
    await store.answer();
    expect(await second).toBe(true);
    await store.answer();
    // n1 was claimed by the first round trip: its second use is a replay.
    expect(await Promise.all(rest)).toEqual([true, true, false]);
  });

  it('fails every claim of a batch the store could not record, and carries on with the next', async () => {
    const store = new SlowStore();
    const claims = new NonceClaims(store, 60_000);
    const first = claims.claim('a');
    const second = claims.claim('b');
    const third = claims.claim('c');
    store.failNext = true;
    const refused = expect(first).rejects.toThrow('primary unreachable');
    await store.answer();
    await refused;
    await store.answer();
    expect(await second).toBe(true);
    await store.answer();
    expect(await third).toBe(true);
  });

  it('claims one nonce at a time from a store without batches', async () => {
    const seen = new Set<string>();
    const store: PeerNonceStore = {
      claimPeerNonce: async (nonce) => !seen.has(nonce) && seen.add(nonce) !== undefined,
    };
    const claims = new NonceClaims(store, 60_000);
    expect(await Promise.all([claims.claim('x'), claims.claim('y'), claims.claim('x')])).toEqual([true, true, false]);
  });
});
