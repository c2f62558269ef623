/**
 * @module PostgresChangeFeed: `subscribe()` and `syncChanges()` of the MetadataStore port over one
 * dedicated LISTEN connection per store. Every mutating statement of the repositories publishes
 * the changed path with `pg_notify` in its own transaction (database.ts); this connection
 * reconnects by itself, telling listeners to drop everything since changes may have been missed
 * meanwhile, and moves to a new primary as soon as the pool does (`followPrimary`).
 */
import type pg from 'pg';
import type { MetadataChange } from '../../../ports/metadata-store.js';
import { CHANNEL, type PostgresDatabase } from './database.js';

/** Longest wait for a change-feed sync before the reader falls back to the database. */
const SYNC_TIMEOUT_MS = 1000;

export class PostgresChangeFeed {
  readonly #db: PostgresDatabase;
  readonly #listeners = new Set<(change: MetadataChange) => void>();
  #listener: pg.Client | null = null;
  #listening = false;
  /** The sync query in flight on the LISTEN connection, and the one queued behind it. */
  #syncInFlight: Promise<boolean> | null = null;
  #syncQueued: Promise<boolean> | null = null;
  #listenTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  /**
   * Resolves once every change committed before the call has reached the subscribers (true), or
   * with false when the feed cannot vouch for that (not connected, slow): then the caller must read
   * the database. It is a round trip on the LISTEN connection: Postgres delivers pending
   * notifications to a session before it answers that session's next query. Concurrent callers
   * share round trips: a caller arriving while one is in flight waits for the next one (only a
   * query sent after the call covers changes committed just before it).
   */
  syncChanges(): Promise<boolean> {
    if (this.#syncInFlight === null) return this.#sendSync();
    this.#syncQueued ??= this.#syncInFlight.then(() => {
      this.#syncQueued = null;
      return this.#sendSync();
    });
    return this.#syncQueued;
  }

  #sendSync(): Promise<boolean> {
    const client = this.#listener;
    if (!this.#listening || client === null) return Promise.resolve(false);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), SYNC_TIMEOUT_MS);
      timer.unref();
    });
    const query = client.query('SELECT 1').then(
      () => this.#listener === client && this.#listening,
      () => false,
    );
    const sync: Promise<boolean> = Promise.race([query, timeout]).finally(() => {
      clearTimeout(timer);
      if (this.#syncInFlight === sync) this.#syncInFlight = null;
    });
    this.#syncInFlight = sync;
    return sync;
  }

  subscribe(listener: (change: MetadataChange) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listener === null && this.#listenTimer === null) this.#startListening(false);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #emit(change: MetadataChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  /** Opens the LISTEN connection; on loss, tells listeners to drop everything and retries. */
  #startListening(isReconnect: boolean, delayMs = 250): void {
    if (this.#closed) return;
    const client = this.#db.pool.dedicatedClient();
    let failed = false;
    const retry = (): void => {
      // A client replaced by followPrimary was already closed there.
      if (failed || this.#closed || this.#listener !== client) return;
      failed = true;
      this.#db.pool.suspect();
      if (this.#listener === client) this.#listener = null;
      this.#listening = false;
      client.end().catch(() => undefined);
      this.#emit({ path: '/', subtree: true });
      this.#listenTimer = setTimeout(() => {
        this.#listenTimer = null;
        this.#startListening(true, Math.min(delayMs * 2, 5000));
      }, delayMs);
      this.#listenTimer.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (message) => {
      if (message.payload === undefined) return;
      try {
        const parsed = JSON.parse(message.payload) as { p?: unknown; s?: unknown };
        if (typeof parsed.p === 'string' && parsed.p !== '') this.#emit({ path: parsed.p, subtree: parsed.s === true });
      } catch {
        this.#emit({ path: '/', subtree: true });
      }
    });
    this.#listener = client;
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANNEL}`))
      .then(() => {
        this.#listening = true;
        if (isReconnect) this.#emit({ path: '/', subtree: true });
      })
      .catch(retry);
  }

  /** The pool moved to a new primary: move the LISTEN connection there now, not after a backoff. */
  followPrimary(): void {
    if (this.#closed || (this.#listener === null && this.#listenTimer === null)) return;
    if (this.#listenTimer !== null) clearTimeout(this.#listenTimer);
    this.#listenTimer = null;
    const stale = this.#listener;
    this.#listener = null;
    this.#listening = false;
    stale?.end().catch(() => undefined);
    this.#emit({ path: '/', subtree: true });
    this.#startListening(true);
  }

  /** Ends the LISTEN connection for good (the pool is the facade's to end). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#listenTimer !== null) clearTimeout(this.#listenTimer);
    const listener = this.#listener;
    this.#listener = null;
    await listener?.end().catch(() => undefined);
  }
}
