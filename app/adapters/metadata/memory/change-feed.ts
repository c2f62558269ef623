/**
 * @module MemoryChangeFeed: `subscribe()` and `syncChanges()` of the memory metadata twin. Every
 * store opened on one database relays the database's changes to its own subscribers; a change is
 * published before the write that made it returns, so nothing is ever pending.
 */
import type { MetadataChange } from '../../../ports/metadata-store.js';
import type { ChangeFeed } from '../composed-store.js';
import type { MemorySession } from './session.js';

export class MemoryChangeFeed implements ChangeFeed {
  readonly #session: MemorySession;
  readonly #listeners = new Set<(change: MetadataChange) => void>();
  readonly #relay = (change: MetadataChange): void => {
    for (const listener of this.#listeners) listener(change);
  };

  constructor(session: MemorySession) {
    this.#session = session;
    session.database.listeners.add(this.#relay);
  }

  subscribe(listener: (change: MetadataChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Changes are published before the write that made them returns: nothing is ever pending. */
  async syncChanges(): Promise<boolean> {
    return !this.#session.closed;
  }

  /** Stops relaying: the store is closing. */
  close(): void {
    this.#listeners.clear();
    this.#session.database.listeners.delete(this.#relay);
  }
}
