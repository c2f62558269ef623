/**
 * @module ShardService: CallFS's internal erasure-shard endpoint (`/v1/internal/shards/<hash
 * prefix>/<index>`), kept so that peers and tools speaking CallFS's internal API find it. Shards
 * are opaque blobs stored under the reserved `.callfs-shards/` key of this node's local disk (or
 * S3 when it has no disk), out of reach of user paths and ignored by the orphan sweeper.
 */
import type { Readable } from 'node:stream';
import { AppError } from '../errors/app-error.js';
import type { BlobStore } from '../ports/blob-store.js';

const SHARD_ROOT = '.callfs-shards';
const PREFIX = /^[0-9a-fA-F]{1,128}$/;
const INDEX = /^(0|[1-9][0-9]{0,3})$/;

export class ShardService {
  constructor(private readonly store: BlobStore | null) {}

  /** The key of a shard; INVALID_PATH unless the prefix is hex and the index a small integer. */
  keyOf(prefix: string, index: string): string {
    if (!PREFIX.test(prefix) || !INDEX.test(index)) throw new AppError('INVALID_PATH', 'a shard is addressed by a hex prefix and a numeric index');
    return `${SHARD_ROOT}/${prefix.toLowerCase()}/${index}`;
  }

  async put(prefix: string, index: string, body: Readable, length: number | undefined, signal?: AbortSignal): Promise<void> {
    await this.#store().write(this.keyOf(prefix, index), body, { exclusive: false, expectedSize: length, signal });
  }

  /** The shard's bytes, or FILE_NOT_FOUND. */
  async get(prefix: string, index: string): Promise<{ stream: Readable; size: number }> {
    return this.#store().read(this.keyOf(prefix, index));
  }

  /** Removes a shard; a missing one is not an error. */
  async delete(prefix: string, index: string): Promise<void> {
    await this.#store().delete(this.keyOf(prefix, index));
  }

  #store(): BlobStore {
    if (this.store === null) throw new AppError('STORAGE_UNAVAILABLE', 'this node has no storage for shards');
    return this.store;
  }
}
