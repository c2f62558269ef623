/**
 * @module CircuitBreaker: what this node believes about one peer's health, as a small state
 * machine fed by outcomes (passive: real calls; active: probes). Pure: time is passed in.
 *
 * closed ──(failureThreshold consecutive failures)──▶ open ──(openMs elapsed)──▶ half-open
 * half-open: one trial call is let through; success closes, failure re-opens.
 * A successful probe closes the breaker from any state (the peer answers again).
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  readonly failureThreshold: number;
  readonly openMs: number;
}

export interface BreakerSnapshot {
  readonly state: BreakerState;
  readonly consecutiveFailures: number;
  /** Epoch ms of the last success / failure, or null. */
  readonly lastSuccessAt: number | null;
  readonly lastFailureAt: number | null;
  /** Short reason of the last failure (an error code), or null. */
  readonly lastError: string | null;
  /** Epoch ms since which the peer has been down without a success in between, or null. */
  readonly downSince: number | null;
}

export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #trialInFlight = false;
  #lastSuccessAt: number | null = null;
  #lastFailureAt: number | null = null;
  #lastError: string | null = null;
  #downSince: number | null = null;

  constructor(private readonly options: BreakerOptions) {}

  /**
   * Whether a call may go out now. In half-open, only one trial at a time is admitted.
   * Returns the seconds to wait (≥ 1) when refused.
   */
  admit(nowMs: number): { ok: true } | { ok: false; retryAfterSec: number } {
    if (this.#state === 'open' && nowMs - this.#openedAt >= this.options.openMs) {
      this.#state = 'half-open';
      this.#trialInFlight = false;
    }
    if (this.#state === 'closed') return { ok: true };
    if (this.#state === 'half-open' && !this.#trialInFlight) {
      this.#trialInFlight = true;
      return { ok: true };
    }
    const remaining = this.#state === 'open' ? this.options.openMs - (nowMs - this.#openedAt) : this.options.openMs;
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil(remaining / 1000)) };
  }

  succeeded(nowMs: number): void {
    this.#state = 'closed';
    this.#failures = 0;
    this.#trialInFlight = false;
    this.#lastSuccessAt = nowMs;
    this.#downSince = null;
  }

  failed(nowMs: number, reason: string): void {
    this.#failures += 1;
    this.#lastFailureAt = nowMs;
    this.#lastError = reason;
    if (this.#state === 'half-open' || this.#failures >= this.options.failureThreshold) {
      this.#state = 'open';
      this.#openedAt = nowMs;
      this.#downSince ??= nowMs;
      this.#trialInFlight = false;
    }
  }

  snapshot(nowMs: number): BreakerSnapshot {
    const state = this.#state === 'open' && nowMs - this.#openedAt >= this.options.openMs ? 'half-open' : this.#state;
    return {
      state,
      consecutiveFailures: this.#failures,
      lastSuccessAt: this.#lastSuccessAt,
      lastFailureAt: this.#lastFailureAt,
      lastError: this.#lastError,
      downSince: this.#downSince,
    };
  }
}
