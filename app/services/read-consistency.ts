/**
 * @module ReadConsistency: read-your-writes across regions. Every write answers with a
 * consistency token, the primary's WAL position after the write. A read carrying a token is
 * served from this region's replica once the replica has replayed past the token (waiting up to
 * `maxWaitMs`), otherwise from the primary; a read without one is served from the replica, as
 * stale as its lag. The choice is kept for the whole request (AsyncLocalStorage), so every
 * metadata read of that request comes from the same place.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { lsnReached, parseLsn } from '../domain/lsn.js';
import type { ReplicaProgress, WalPosition } from '../ports/consistency.js';

export type ReadSource = 'replica' | 'primary';

export interface ReadDecision {
  readonly source: ReadSource;
  /** Time spent waiting for the replica to reach the token. */
  readonly waitedMs: number;
  /** The replica's lag when the decision was made. */
  readonly lagMs: number;
  /** The replica had not reached the read's token when the wait ended (so the primary must answer). */
  readonly replicaBehind?: boolean;
}

export interface ReadConsistencyOptions {
  readonly maxWaitMs: number;
  /** Interval between replay checks while waiting. */
  readonly pollMs?: number;
}

const LAG_TTL_MS = 200;

export class ReadConsistency {
  readonly #context = new AsyncLocalStorage<ReadSource>();
  #lagCache: { at: number; value: Promise<number> } | null = null;

  constructor(
    private readonly primary: WalPosition,
    private readonly replica: ReplicaProgress,
    private readonly options: ReadConsistencyOptions,
  ) {}

  /** True while running a request that must read from the primary. */
  prefersPrimary(): boolean {
    return this.#context.getStore() === 'primary';
  }

  /** The token to hand out after a write committed. */
  tokenAfterWrite(): Promise<string> {
    return this.primary.currentLsn();
  }

  /** Where a read with `token` (possibly none or malformed) is served from; waits at most `maxWaitMs`. */
  async decide(token: string | undefined, maxWaitMs = this.options.maxWaitMs): Promise<ReadDecision> {
    const wanted = token === undefined ? null : parseLsn(token);
    if (wanted === null) return { source: 'replica', waitedMs: 0, lagMs: await this.#lag() };
    const started = performance.now();
    const deadline = started + maxWaitMs;
    for (;;) {
      let reached = false;
      try {
        reached = lsnReached(await this.replica.replayLsn(), wanted);
      } catch {
        // The replica does not answer: the primary serves this read.
        return { source: 'primary', waitedMs: Math.round(performance.now() - started), lagMs: 0 };
      }
      if (reached) return { source: 'replica', waitedMs: Math.round(performance.now() - started), lagMs: await this.#lag() };
      if (performance.now() >= deadline) return { source: 'primary', waitedMs: Math.round(performance.now() - started), lagMs: await this.#lag(), replicaBehind: true };
      await new Promise((r) => setTimeout(r, Math.min(this.options.pollMs ?? 10, Math.max(1, deadline - performance.now()))));
    }
  }

  /** The replica's replay lag now (throws when the replica does not answer). */
  replicaLagMs(): Promise<number> {
    return this.replica.lagMs();
  }

  /** Runs `work` with every metadata read of it going to `source`. */
  run<T>(source: ReadSource, work: () => Promise<T>): Promise<T> {
    return this.#context.run(source, work);
  }

  /** The replica's lag, measured at most every LAG_TTL_MS (one query shared by concurrent reads). */
  #lag(): Promise<number> {
    const now = performance.now();
    if (this.#lagCache === null || now - this.#lagCache.at > LAG_TTL_MS) {
      this.#lagCache = { at: now, value: this.replica.lagMs().catch(() => -1) };
    }
    return this.#lagCache.value;
  }
}
