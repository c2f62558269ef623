/**
 * @module Time in the stand-in. AWS operations take minutes (a promotion, a rename) to hours (a
 * cross-region replica of a large database); the stand-in keeps their order and their relative
 * lengths but compresses them: a documented second lasts `msPerSecond` real milliseconds. Every
 * duration is given in documented seconds next to the page it comes from, so a reader can compare
 * it with AWS's and a test can stretch or shrink all of them at once.
 */

/** A documented duration range in seconds (the stand-in picks within it). */
export interface DurationRange {
  readonly min: number;
  readonly max: number;
}

export class StandinClock {
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(
    /** Real milliseconds per documented second. */
    readonly msPerSecond: number,
    /** [0, 1) source choosing inside a range. */
    private readonly random: () => number = Math.random,
  ) {}

  now(): number {
    return Date.now();
  }

  /** Real milliseconds of a duration picked in `range`. */
  pick(range: DurationRange): number {
    const seconds = range.min + (range.max - range.min) * this.random();
    return Math.max(1, Math.round(seconds * this.msPerSecond));
  }

  /** Real milliseconds of `seconds` documented seconds. */
  of(seconds: number): number {
    return Math.max(1, Math.round(seconds * this.msPerSecond));
  }

  /** Runs `work` after `ms` (errors are reported, never thrown into the event loop). */
  after(ms: number, work: () => void | Promise<void>, onError: (error: unknown) => void): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed) return;
      Promise.resolve()
        .then(work)
        .catch(onError);
    }, ms);
    this.#timers.add(timer);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

/** A token bucket: `capacity` requests at once, refilled at `perSecond` (real seconds: rates are not compressed). */
export class TokenBucket {
  #tokens: number;
  #at = Date.now();
  constructor(
    readonly capacity: number,
    readonly perSecond: number,
  ) {
    this.#tokens = capacity;
  }
  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
