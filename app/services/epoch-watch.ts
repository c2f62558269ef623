/**
 * @module EpochWatch: the node's view of the fencing epoch (ports/fencing.ts). It re-reads the
 * epoch row from the metadata primary every heartbeat, right after a write was refused as FENCED,
 * and on every readiness check; when the row names another lock home than the one the lock
 * manager uses, it moves the lock manager there (no restart). When the primary cannot take
 * writes, it reads the row from the region's replica and adds the primary named there to the
 * hosts the node searches (a node whose DSN predates the failover). Readiness fails while the primary
 * is fenced or read-only, or no writable primary answers, so health checks withdraw the node.
 */
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../observability/logger.js';
import type { EpochSource, EpochState, LockHomeControl, PrimaryCandidates } from '../ports/fencing.js';

/**
 * Longest wait for the epoch row. A primary cut off by a partition does not refuse connections,
 * it swallows them: without this bound the node would learn of a home outage only from the
 * database client's own timeouts, seconds later, with writes hanging meanwhile.
 */
const DEFAULT_READ_TIMEOUT_MS = 2000;

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('METADATA_UNAVAILABLE', `the metadata primary did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** A blocked node looks at the primary again at most this often, prompted by writes. */
const RECHECK_BLOCKED_MS = 250;

export interface EpochView {
  /** Last epoch read from the primary; null before the first successful read. */
  readonly epoch: number | null;
  /** Redis address the node takes its locks from; null when not a single address (in-process, Sentinel). */
  readonly lockHome: string | null;
}

export interface EpochWatchOptions {
  readonly intervalMs: number;
  /** Absent when the lock manager cannot move (in-process locks, Redis Sentinel). */
  readonly lockHome: LockHomeControl | null;
  /** Why `lock_home` is ignored without a LockHomeControl, for the one log line. */
  readonly lockHomeIgnoredBecause?: string;
  /**
   * Where to read the epoch row when the primary cannot be used (unreachable, fenced): the
   * region's read replica, which a failover re-points at the new primary. With `candidates`, the
   * primary that row names is added to the hosts the node searches, so a node whose DSN does not
   * list the new primary still finds it.
   */
  readonly fallback?: { readonly source: EpochSource; readonly candidates: PrimaryCandidates } | null;
  /** Longest wait for one read of the epoch row (default 2 s); a read that takes longer counts as unreachable. */
  readonly readTimeoutMs?: number;
}

export class EpochWatch {
  readonly #source: EpochSource;
  readonly #options: EpochWatchOptions;
  readonly #logger: Logger;
  #state: EpochState | null = null;
  /** The last read failed: no writable primary answered. */
  #unreachable: AppError | null = null;
  #reading: Promise<void> | null = null;
  #moving: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #ignoredLogged = false;
  /** When the last read ended (performance.now()), successful or not. */
  #readAt = 0;

  constructor(source: EpochSource, options: EpochWatchOptions, logger: Logger) {
    this.#source = source;
    this.#options = options;
    this.#logger = logger;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => void this.refresh(), Math.max(100, this.#options.intervalMs));
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#reading;
    await this.#moving;
  }

  /** At start: the first read, and the move to the row's lock home if it names another one. */
  async settle(): Promise<void> {
    await this.refresh();
    await this.#moving;
  }

  view(): EpochView {
    return { epoch: this.#state?.epoch ?? null, lockHome: this.#options.lockHome?.current() ?? null };
  }

  /** A write was refused as FENCED: look at the epoch row again now. */
  fenced(): void {
    void this.refresh();
  }

  /** Reads the epoch row (concurrent callers share one read) and follows its lock home. Never throws. */
  refresh(): Promise<void> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }

  /**
   * Why no write can commit now, judged from the last read of the epoch row without waiting for a
   * new one: `unreachable` (no writable primary answered: a home outage, or a failover under way),
   * `fenced` (the primary is a fenced former one, or read-only), or null. While blocked, the row is
   * read again in the background at most every `RECHECK_BLOCKED_MS`, so writes resume soon after
   * the primary is back or the node has followed a new one.
   */
  writeBlocker(): 'unreachable' | 'fenced' | null {
    const blocker = this.#unreachable !== null ? 'unreachable' : this.#state?.fenced === true || this.#state?.readOnly === true ? 'fenced' : null;
    if (blocker !== null && performance.now() - this.#readAt > RECHECK_BLOCKED_MS) void this.refresh();
    return blocker;
  }

  /** For readiness: throws FENCED while the primary is fenced or read-only, or the read's error when no primary answers. */
  async assertWritable(): Promise<void> {
    await this.refresh();
    if (this.#unreachable !== null) throw this.#unreachable;
    const state = this.#state;
    if (state?.fenced === true || state?.readOnly === true) {
      throw new AppError('FENCED', `the metadata primary is ${state.fenced ? 'fenced by a failover' : 'read-only'} (epoch ${state.epoch})`);
    }
  }

  async #read(): Promise<void> {
    let state: EpochState;
    try {
      state = await withDeadline(this.#source.readEpoch(), this.#options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS);
    } catch (error) {
      this.#unreachable = error instanceof AppError ? error : new AppError('METADATA_UNAVAILABLE', 'the epoch row could not be read', { cause: error });
      await this.#lookForNewPrimary();
      return;
    } finally {
      this.#readAt = performance.now();
    }
    if (state.fenced || state.readOnly) await this.#lookForNewPrimary();
    const before = this.#state;
    this.#state = state;
    this.#unreachable = null;
    if (before !== null && (before.epoch !== state.epoch || before.fenced !== state.fenced)) {
      this.#logger.warn('fencing epoch changed', { epoch: state.epoch, fenced: state.fenced, previousEpoch: before.epoch, primaryRegion: state.primaryRegion });
    }
    this.#followLockHome(state.lockHome);
  }

  /** The primary can't take writes: ask the fallback which host the current epoch's primary is. */
  async #lookForNewPrimary(): Promise<void> {
    const fallback = this.#options.fallback;
    if (fallback === undefined || fallback === null) return;
    let named: string | null;
    try {
      named = (await fallback.source.readEpoch()).primaryHost;
    } catch {
      return; // the replica is unreachable too: nothing to learn now
    }
    if (named !== null && fallback.candidates.addPrimaryCandidate(named)) {
      this.#logger.warn('searching the primary named by the epoch row, which metadata_store.dsn does not list', { primaryHost: named });
    }
  }

  /** Moves the locks in the background: a slow or dead new Redis must not hold up readiness. */
  #followLockHome(wanted: string | null): void {
    const control = this.#options.lockHome;
    if (control === null) {
      if (wanted !== null && !this.#ignoredLogged) {
        this.#ignoredLogged = true;
        this.#logger.warn('lock_home on the epoch row is ignored', { lockHome: wanted, reason: this.#options.lockHomeIgnoredBecause ?? 'locks are not a relocatable Redis address' });
      }
      return;
    }
    if (this.#moving !== null) return;
    const from = control.current();
    this.#moving = control
      .moveTo(wanted)
      .then(() => {
        const to = control.current();
        if (to !== from) this.#logger.warn('lock home moved', { from, to });
      })
      .catch((error: unknown) => this.#logger.warn('could not move to the new lock home; will retry', { lockHome: wanted, error: String(error) }))
      .finally(() => {
        this.#moving = null;
      });
  }
}
