/**
 * @module A per-node cache of metadata entries for the read path, kept coherent across the
 * cluster: every node subscribes to the store's change feed (Postgres LISTEN/NOTIFY) and drops
 * what changed; a writer answers only after its own notification came back (so the others have
 * it too), and a cache hit first lets already-arrived notifications run. This node also drops its
 * own writes synchronously before answering. A lookup that raced with an invalidation is not stored. `ttlMs` bounds how long an entry is trusted even if a
 * notification were lost; a feed reconnect clears everything.
 */
import { entryFingerprint, type Entry } from '../domain/entry.js';
import { isWithin } from '../domain/path.js';
import type { MetadataChange, MetadataStore } from '../ports/metadata-store.js';
import type { Telemetry } from '../ports/telemetry.js';

interface Slot {
  readonly entry: Entry | null;
  readonly storedAtMs: number;
}

export interface EntryCacheOptions {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly now?: () => number;
}

export class EntryCache {
  readonly #store: MetadataStore;
  readonly #slots = new Map<string, Slot>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #telemetry: Telemetry;
  #generation = 0;
  #unsubscribe: (() => void) | null = null;

  constructor(store: MetadataStore, telemetry: Telemetry, options: EntryCacheOptions) {
    this.#store = store;
    this.#telemetry = telemetry;
    this.#maxEntries = options.maxEntries;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** Starts following the store's change feed. */
  start(): void {
    this.#unsubscribe ??= this.#store.subscribe((change) => {
      this.invalidate(change);
    });
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#slots.clear();
  }

  /**
   * The entry at `path`, from the cache when fresh, else from the store. `vouched` is the
   * fingerprint of the entry a forwarding node read after syncing its own changes: a cached entry
   * with that fingerprint is the one the forwarder saw, so it is served without waiting for this
   * node's change feed (the read takes effect at the forwarder's lookup, after the request began).
   */
  async get(path: string, vouched?: string): Promise<Entry | null> {
    const cached = this.#maxEntries > 0 ? this.#fresh(path) : undefined;
    if (vouched !== undefined && cached !== undefined && cached.entry !== null && entryFingerprint(cached.entry) === vouched) {
      this.#telemetry.cacheLookup(true);
      return cached.entry;
    }
    if (cached !== undefined) {
      // Trust the slot only once every change committed before this request has been applied:
      // a change made through another node just before cannot be missed.
      const synced = await this.#store.syncChanges();
      const slot = synced ? this.#fresh(path) : undefined;
      if (slot !== undefined) {
        this.#telemetry.cacheLookup(true);
        return slot.entry;
      }
    }
    this.#telemetry.cacheLookup(false);
    const generation = this.#generation;
    const entry = await this.#store.getEntry(path);
    if (this.#maxEntries > 0 && generation === this.#generation) this.#remember(path, entry);
    return entry;
  }

  #fresh(path: string): Slot | undefined {
    const slot = this.#slots.get(path);
    return slot !== undefined && this.#now() - slot.storedAtMs < this.#ttlMs ? slot : undefined;
  }

  /** Forgets `change.path` (and its subtree when asked); any in-flight lookup is not stored. */
  invalidate(change: MetadataChange): void {
    this.#generation++;
    if (!change.subtree) {
      this.#slots.delete(change.path);
      return;
    }
    if (change.path === '/') {
      this.#slots.clear();
      return;
    }
    for (const key of this.#slots.keys()) if (isWithin(key, change.path)) this.#slots.delete(key);
  }

  #remember(path: string, entry: Entry | null): void {
    if (this.#slots.size >= this.#maxEntries) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.#slots.keys().next();
      if (oldest.done !== true) this.#slots.delete(oldest.value);
    }
    this.#slots.set(path, { entry, storedAtMs: this.#now() });
  }
}
