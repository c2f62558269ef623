/**
 * @module The sweeper that cleans up after crashes: temporary upload files left behind, bytes
 * whose metadata row never got written (crash between "bytes" and "row") or was deleted
 * (crash between "row deleted" and "bytes deleted"), and spent or expired links. Only bytes
 * older than a grace period are touched, so in-flight writes are never mistaken for orphans.
 */
import type { BlobStore } from '../ports/blob-store.js';
import type { LockManager } from '../ports/lock-manager.js';
import type { MetadataStore } from '../ports/metadata-store.js';

export interface SweepReport {
  readonly temporaries: number;
  readonly orphans: number;
  readonly links: number;
}

export interface OrphanSweeperOptions {
  /** Bytes younger than this are never considered orphans. */
  readonly graceMs: number;
  /** Most keys examined per store per sweep. */
  readonly batchSize: number;
  /** How long used links are kept (CallFS: 24 h). */
  readonly usedLinkRetentionMs: number;
}

export class OrphanSweeper {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly stores: readonly BlobStore[],
    private readonly locks: LockManager,
    private readonly options: OrphanSweeperOptions,
  ) {}

  async sweep(now = new Date()): Promise<SweepReport> {
    const cutoff = new Date(now.getTime() - this.options.graceMs);
    let temporaries = 0;
    let orphans = 0;
    for (const store of this.stores) {
      temporaries += await store.removeStaleTemporaries(cutoff);
      const keys = await store.listFiles(cutoff, this.options.batchSize);
      if (keys.length === 0) continue;
      const missing = await this.metadata.findMissing(keys.map((key) => `/${key}`));
      for (const path of missing) if (await this.#removeIfStillOrphan(store, path)) orphans++;
    }
    const links = await this.metadata.deleteStaleLinks(this.options.usedLinkRetentionMs);
    return { temporaries, orphans, links };
  }

  /** Re-checks under the path's lock (a write may have claimed the key since it was listed). */
  async #removeIfStillOrphan(store: BlobStore, path: string): Promise<boolean> {
    let lock;
    try {
      lock = await this.locks.acquire([path], { waitMs: 1000 });
    } catch {
      return false; // busy: someone is writing it; look again next sweep
    }
    try {
      if ((await this.metadata.getEntry(path)) !== null) return false;
      await store.delete(path.slice(1));
      return true;
    } finally {
      await lock.release();
    }
  }
}
