/**
 * @module SelfSignedIdentity: the TLS identity of a node with `server.tls_self_signed`. A key
 * pair and certificate made at start (never stored), renewed while the node runs so a long-lived
 * node never serves an expired certificate:
 *
 *   age < ½ validity     serve A, announce A
 *   ½ ≤ age < ¾ validity serve A, announce A + B   (B made at ½; peers learn it long before use)
 *   age ≥ ¾ validity     serve B, announce B       (B, already ¼ old, is now "A": the cycle goes on)
 *
 * Peers trust exactly the announced certificates (see UndiciPeerClient's `certificatesOf`), so
 * what is announced must always include what is served.
 */
import { createSelfSignedCertificate, type SelfSignedCertificate } from './certificate.js';

export interface SelfSignedIdentityOptions {
  /** The IP or DNS name peers use (the host of the node's internal URL). */
  readonly host: string;
  /** Lifetime of each certificate. */
  readonly validityMs: number;
  readonly now?: () => Date;
}

export type IdentityChange = 'none' | 'announced-next' | 'switched';

/** Seven days: short enough that a certificate outlives no deployment by long, long enough to never race a heartbeat. */
export const SELF_SIGNED_VALIDITY_MS = 7 * 86_400_000;

export class SelfSignedIdentity {
  readonly #options: SelfSignedIdentityOptions;
  readonly #now: () => Date;
  #serving: SelfSignedCertificate;
  #servingSince: number;
  #next: SelfSignedCertificate | null = null;
  #nextSince = 0;

  constructor(options: SelfSignedIdentityOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#serving = this.#make();
    this.#servingSince = this.#now().getTime();
  }

  get host(): string {
    return this.#options.host;
  }

  /** What the listener presents now. */
  serving(): { readonly cert: string; readonly key: string; readonly fingerprint256: string } {
    return { cert: this.#serving.certPem, key: this.#serving.keyPem, fingerprint256: this.#serving.fingerprint256 };
  }

  /** The PEM bundle announced to peers: the served certificate, and its successor once made. */
  announced(): string {
    return this.#serving.certPem + (this.#next?.certPem ?? '');
  }

  /** Moves the rotation on to the current time; the caller re-announces and/or reloads the listener. */
  tick(): IdentityChange {
    const age = this.#now().getTime() - this.#servingSince;
    const validity = this.#options.validityMs;
    if (this.#next !== null && age >= (validity * 3) / 4) {
      this.#serving = this.#next;
      this.#servingSince = this.#nextSince;
      this.#next = null;
      return 'switched';
    }
    if (this.#next === null && age >= validity / 2) {
      this.#next = this.#make();
      this.#nextSince = this.#now().getTime();
      return 'announced-next';
    }
    return 'none';
  }

  #make(): SelfSignedCertificate {
    return createSelfSignedCertificate({ host: this.#options.host, validityMs: this.#options.validityMs, now: this.#now() });
  }
}
