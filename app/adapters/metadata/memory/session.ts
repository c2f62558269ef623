/**
 * @module MemorySession: one store's connection to a `MemoryMetadataDatabase`, shared by the
 * memory repositories of that store: a closed store, or a database made unavailable, fails every
 * call with METADATA_UNAVAILABLE, and a lock-protected write first checks the fencing epoch, as
 * the Postgres statements do.
 */
import { AppError } from '../../../errors/app-error.js';
import type { Fence } from '../../../ports/metadata-store.js';
import type { MemoryMetadataDatabase } from './database.js';

export class MemorySession {
  closed = false;

  constructor(readonly database: MemoryMetadataDatabase) {}

  /** The database, for one call. */
  open(): MemoryMetadataDatabase {
    if (this.closed) throw new AppError('METADATA_UNAVAILABLE', 'the metadata store is closed');
    this.database.requireAvailable();
    return this.database;
  }

  /** The database, for a write carrying `fence` (FENCED when its epoch may not write here). */
  write(fence: Fence): MemoryMetadataDatabase {
    const db = this.open();
    db.assertEpoch(fence.epoch);
    return db;
  }
}
