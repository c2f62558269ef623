/**
 * @module ShardService: CallFS's internal erasure-shard endpoint (`/v1/internal/shards/<name>/<index>`),
 * kept so that peers and tools speaking CallFS's internal API find it. A shard's name is any
 * valid path (CallFS tools send names like `some/file/path`, mixed case kept), canonicalised by
 * the same rules as file paths; its index is a small integer. Shards are opaque blobs under the
 * reserved `.callfs-shards/` key of this node's local disk (or S3 when it has no disk), out of
 * reach of user paths and ignored by the orphan sweeper.
 *
 * Layout: `.callfs-shards/<name>/.callfs-shard-<index>`. The index file carries the reserved
 * `.callfs-` prefix, which no name segment can have, so the shards of `a` and of `a/0` never
 * need the same key to be both a file and a directory. Shards stored by earlier versions (hex
 * names only, lowercased, at `.callfs-shards/<hex>/<index>`) are still read (when no shard was
 * stored under the new key) and deleted.
 */
import type { Readable } from 'node:stream';
import { RESERVED_NAME_PREFIX, toBlobKey } from '../domain/path.js';
import { AppError, hasCode } from '../errors/app-error.js';
import type { BlobStore } from '../ports/blob-store.js';

const SHARD_ROOT = '.callfs-shards';
const INDEX = /^(0|[1-9][0-9]{0,3})$/;
const LEGACY_NAME = /^[0-9a-fA-F]{1,128}$/;

export interface ShardAddress {
  /** Canonical shard name, e.g. `/some/file/path`. */
  readonly name: string;
  readonly index: string;
}

export class ShardService {
  constructor(private readonly store: BlobStore | null) {}

  /** A shard address from a canonical name (see domain/path.ts) and an index; INVALID_PATH unless the index is a small integer. */
  static address(path: string, index: string): ShardAddress {
    if (path === '/') throw new AppError('INVALID_PATH', 'a shard needs a name before its index');
    if (!INDEX.test(index)) throw new AppError('INVALID_PATH', 'a shard index is a number from 0 to 9999');
    return { name: path, index };
  }

  /** The key a shard is stored under. */
  static keyOf(address: ShardAddress): string {
    return `${SHARD_ROOT}/${toBlobKey(address.name)}/${RESERVED_NAME_PREFIX}shard-${address.index}`;
  }

  async put(address: ShardAddress, body: Readable, length: number | undefined, signal?: AbortSignal): Promise<void> {
    await this.#store().write(ShardService.keyOf(address), body, { exclusive: false, expectedSize: length, signal });
  }

  /** The shard's bytes, or FILE_NOT_FOUND. */
  async get(address: ShardAddress): Promise<{ stream: Readable; size: number }> {
    try {
      return await this.#store().read(ShardService.keyOf(address));
    } catch (error) {
      const legacy = legacyKeyOf(address);
      if (legacy === null || !hasCode(error, 'FILE_NOT_FOUND')) throw error;
      return this.#store().read(legacy);
    }
  }

  /** Removes a shard; a missing one is not an error. */
  async delete(address: ShardAddress): Promise<void> {
    await this.#store().delete(ShardService.keyOf(address));
    const legacy = legacyKeyOf(address);
    if (legacy !== null) await this.#store().delete(legacy);
  }

  #store(): BlobStore {
    if (this.store === null) throw new AppError('STORAGE_UNAVAILABLE', 'this node has no storage for shards');
    return this.store;
  }
}

/** Where a version before free-form names kept this shard (a single hex name), else null. */
function legacyKeyOf(address: ShardAddress): string | null {
  const name = address.name.slice(1);
  return LEGACY_NAME.test(name) ? `${SHARD_ROOT}/${name.toLowerCase()}/${address.index}` : null;
}
