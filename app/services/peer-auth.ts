/**
 * @module Verifies signed node-to-node requests (domain/peer-signature.ts): the signature must
 * match, the timestamp must be within `maxSkewMs` of now, and each nonce is accepted once
 * (remembered for twice the skew window, bounded in count).
 */
import { peerSignatureMatches, type SignedFields } from '../domain/peer-signature.js';

export interface PeerAuthOptions {
  readonly secret: string;
  readonly maxSkewMs?: number;
  readonly maxNonces?: number;
  readonly now?: () => number;
}

export type PeerVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: 'signature' | 'stale' | 'replay' };

export class PeerAuthenticator {
  readonly #secret: string;
  readonly #maxSkewMs: number;
  readonly #maxNonces: number;
  readonly #now: () => number;
  readonly #seen = new Map<string, number>();

  constructor(options: PeerAuthOptions) {
    this.#secret = options.secret;
    this.#maxSkewMs = options.maxSkewMs ?? 30_000;
    this.#maxNonces = options.maxNonces ?? 200_000;
    this.#now = options.now ?? Date.now;
  }

  get secret(): string {
    return this.#secret;
  }

  verify(fields: SignedFields, signature: string): PeerVerdict {
    if (!peerSignatureMatches(this.#secret, fields, signature)) return { ok: false, reason: 'signature' };
    const now = this.#now();
    if (Math.abs(now - fields.timeMs) > this.#maxSkewMs) return { ok: false, reason: 'stale' };
    this.#forgetOld(now);
    if (this.#seen.has(fields.nonce)) return { ok: false, reason: 'replay' };
    this.#seen.set(fields.nonce, now + 2 * this.#maxSkewMs);
    return { ok: true };
  }

  #forgetOld(now: number): void {
    for (const [nonce, expiresAt] of this.#seen) {
      if (expiresAt > now && this.#seen.size < this.#maxNonces) break;
      this.#seen.delete(nonce);
    }
  }
}
