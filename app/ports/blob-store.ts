/**
 * @module BlobStore: where file bytes live. Keys are versioned content keys under the reserved
 * namespace (`.callfs/blobs/…`, `domain/blob-key.ts`), other keys of the store's own data under
 * `.callfs/` (the cluster marker, the sweeper's quarantine), which no API path can name, or, for
 * the legacy layout, canonical paths without the leading `/` (`domain/path.ts` `toBlobKey`).
 * Adapters: local filesystem, S3 (any S3-compatible endpoint).
 * Contract: `test/contract/blob-store.contract.ts`.
 *
 * Failure translation:
 * - key missing                          → AppError FILE_NOT_FOUND
 * - no space left / quota                → AppError INSUFFICIENT_STORAGE
 * - body stream failed or was aborted    → AppError CLIENT_CLOSED_REQUEST (nothing left visible)
 * - body shorter/longer than expectedSize → AppError INCOMPLETE_BODY (nothing left visible)
 * - backend unreachable / timeout        → AppError STORAGE_UNAVAILABLE
 * - key longer than the store can hold   → AppError INVALID_PATH
 */
import type { Readable } from 'node:stream';
import type { BackendType } from '../domain/entry.js';

export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
}

export interface WriteOptions {
  /** Fail with FILE_ALREADY_EXISTS if bytes already exist at the key (create). */
  readonly exclusive: boolean;
  /** When known (Content-Length), the write fails with INCOMPLETE_BODY unless exactly this many bytes arrive. */
  readonly expectedSize?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Content version of the entry these bytes belong to; stores that can keep it with the object do. */
  readonly version?: number | undefined;
  /**
   * The key is new (a fresh `newBlobKey()`): no reader knows it and nothing else writes it, so
   * the store may write in place without a temporary name. Still: the call resolves only once
   * the bytes are durable, a failure removes what was written, and a crash may leave a partial
   * object at that unreferenced key (the sweeper's). Port change of the versioned write path.
   */
  readonly fresh?: boolean | undefined;
}

export interface ReadOptions {
  readonly range?: ByteRange | undefined;
  readonly signal?: AbortSignal | undefined;
  /**
   * The version the reader expects. A store that recorded the object's version answers
   * FILE_NOT_FOUND (details.stale = true) when its copy is older (a lagging replica bucket).
   */
  readonly expectVersion?: number | undefined;
}

export interface ListFilesOptions {
  readonly olderThan: Date;
  readonly limit: number;
  readonly startAfter?: string | undefined;
}

/**
 * A read stream whose chunks may be handed back once the consumer is completely done with them
 * (for a socket: its write callback fired without error), so the next reads fill them again
 * instead of allocating: a large file then streams through a few buffers, and the garbage
 * collector is not woken by every 64 KiB read. A consumer that never hands chunks back is
 * served as by any stream.
 */
export interface RecyclingReadable extends Readable {
  recycle(chunk: Buffer): void;
}

export function isRecyclingReadable(stream: Readable): stream is RecyclingReadable {
  return typeof (stream as Partial<RecyclingReadable>).recycle === 'function';
}

export interface BlobReadResult {
  readonly stream: Readable;
  /** Total size of the stored object (not of the range). */
  readonly size: number;
}

export interface BlobStore {
  readonly backendType: BackendType;
  /**
   * Streams `body` to `key` atomically: readers see either the old bytes or all the new bytes,
   * never a partial file. Parent "directories" are created as needed. Returns the byte count.
   */
  write(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }>;
  /** Opens the bytes (or a range of them) as a stream. Throws FILE_NOT_FOUND. */
  read(key: string, options?: ReadOptions): Promise<BlobReadResult>;
  /** Removes the bytes; missing keys are not an error. */
  delete(key: string): Promise<void>;
  /** Creates a directory (local disk) or a `key/` marker object (S3). Idempotent. */
  makeDirectory(key: string): Promise<void>;
  /** Removes an empty directory / its marker; missing is not an error. */
  removeDirectory(key: string): Promise<void>;
  /** Moves a file or a whole directory subtree. Missing source → FILE_NOT_FOUND. */
  move(fromKey: string, toKey: string): Promise<void>;
  /**
   * Lists stored file keys (not directories) under `prefix` (a key prefix such as `.callfs/blobs/`)
   * last modified before `olderThan`, in ascending key order, after `startAfter` when given, at
   * most `limit` of them; for the orphan sweeper. The store's temporary files are left out.
   */
  listFiles(prefix: string, options: ListFilesOptions): Promise<string[]>;
  /**
   * Removes the store's own temporary leftovers older than `olderThan` (with `dryRun`, only
   * finds them); returns their keys.
   */
  removeStaleTemporaries(olderThan: Date, options?: { readonly dryRun?: boolean }): Promise<string[]>;
  /** True when the store holds no file at all (empty directories and directory markers do not count). */
  isEmpty(): Promise<boolean>;
  /** Throws STORAGE_UNAVAILABLE when the backend cannot be used. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
