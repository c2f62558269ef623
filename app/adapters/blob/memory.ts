/**
 * @module MemoryBlobStore: the BlobStore port over buffers held in the process, laid out like a
 * disk (files and directories, a file cannot stand where a directory is needed). A write becomes
 * visible only once its whole body has arrived at the expected size, so readers see the old
 * bytes or all the new ones, as with the real stores. It runs through the same contract suite
 * (test/contract/blob-store.contract.ts) as the local-disk and S3 stores, for in-process tests.
 *
 * Every write is atomic here, so `WriteOptions.fresh` (in-place writes to a new key) changes nothing.
 * `setAvailable(false)` makes every call fail with STORAGE_UNAVAILABLE, as an unreachable backend.
 */
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { BackendType } from '../../domain/entry.js';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { BlobReadResult, BlobStore, ListFilesOptions, ReadOptions, WriteOptions } from '../../ports/blob-store.js';

interface StoredBlob {
  readonly bytes: Buffer;
  readonly modified: Date;
  readonly version: number | undefined;
}

export interface MemoryBlobStoreOptions {
  /** Which backend this store stands in for (default `localfs`). */
  readonly backendType?: BackendType;
}

export class MemoryBlobStore implements BlobStore {
  readonly backendType: BackendType;
  readonly #files = new Map<string, StoredBlob>();
  readonly #directories = new Set<string>();
  #available = true;

  constructor(options: MemoryBlobStoreOptions = {}) {
    this.backendType = options.backendType ?? 'localfs';
  }

  setAvailable(available: boolean): void {
    this.#available = available;
  }

  #check(): void {
    if (!this.#available) throw new AppError('STORAGE_UNAVAILABLE', 'the storage backend is unavailable', { retryAfterSec: 1 });
  }

  /** The keys of every directory above `key`. */
  #parents(key: string): string[] {
    const parts = key.split('/');
    return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    this.#check();
    const sink = new CollectingSink(options.expectedSize);
    sink.on('error', () => undefined);
    // Piped rather than consumed: a failed write must not destroy the request body, so the HTTP
    // layer can still answer on the same connection.
    const onSourceError = (error: Error): void => {
      sink.destroy(isAppError(error) ? error : new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: error }));
    };
    body.on('error', onSourceError);
    body.pipe(sink);
    try {
      await finished(sink, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      if (options.signal?.aborted) throw isAppError(options.signal.reason) ? options.signal.reason : new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: error });
      throw isAppError(error) ? error : new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: error });
    } finally {
      body.off('error', onSourceError);
      body.on('error', () => undefined);
      body.unpipe(sink);
    }
    this.#check();
    for (const parent of this.#parents(key)) if (this.#files.has(parent)) throw new AppError('PARENT_NOT_DIRECTORY', `a parent of /${key} is a file`);
    if (this.#directories.has(key)) throw new AppError('IS_A_DIRECTORY', `/${key} is a directory`);
    if (options.exclusive && this.#files.has(key)) throw new AppError('FILE_ALREADY_EXISTS', `bytes already stored for /${key}`);
    for (const parent of this.#parents(key)) this.#directories.add(parent);
    const bytes = Buffer.concat(sink.chunks);
    this.#files.set(key, { bytes, modified: new Date(), version: options.version });
    return { size: bytes.length };
  }

  async read(key: string, options: ReadOptions = {}): Promise<BlobReadResult> {
    this.#check();
    if (this.#directories.has(key)) throw new AppError('IS_A_DIRECTORY', `/${key} is a directory`);
    const stored = this.#files.get(key);
    if (stored === undefined) throw new AppError('FILE_NOT_FOUND', `no bytes stored for /${key}`);
    if (options.expectVersion !== undefined && stored.version !== undefined && stored.version < options.expectVersion) {
      throw new AppError('FILE_NOT_FOUND', `the copy of /${key} here is version ${stored.version}, not ${options.expectVersion}`, { details: { stale: true } });
    }
    const range = options.range;
    const bytes = range === undefined ? stored.bytes : range.end < range.start ? Buffer.alloc(0) : stored.bytes.subarray(range.start, range.end + 1);
    return { stream: Readable.from(bytes.length === 0 ? [] : [bytes]), size: stored.bytes.length };
  }

  async delete(key: string): Promise<void> {
    this.#check();
    this.#files.delete(key);
  }

  async makeDirectory(key: string): Promise<void> {
    this.#check();
    if (this.#files.has(key)) throw new AppError('FILE_ALREADY_EXISTS', `a file is stored at /${key}`);
    for (const parent of [...this.#parents(key), key]) this.#directories.add(parent);
  }

  async removeDirectory(key: string): Promise<void> {
    this.#check();
    if (key === '') return;
    const prefix = `${key}/`;
    for (const k of [...this.#files.keys(), ...this.#directories]) if (k.startsWith(prefix)) return;
    this.#directories.delete(key);
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    this.#check();
    const prefix = `${fromKey}/`;
    const file = this.#files.get(fromKey);
    if (file === undefined && !this.#directories.has(fromKey)) throw new AppError('FILE_NOT_FOUND', `no bytes stored for /${fromKey}`);
    const rename = (key: string): string => toKey + key.slice(fromKey.length);
    for (const parent of this.#parents(toKey)) this.#directories.add(parent);
    if (file !== undefined) {
      this.#files.delete(fromKey);
      this.#files.set(toKey, file);
      return;
    }
    for (const [key, blob] of [...this.#files]) {
      if (!key.startsWith(prefix)) continue;
      this.#files.delete(key);
      this.#files.set(rename(key), blob);
    }
    for (const key of [...this.#directories]) {
      if (key !== fromKey && !key.startsWith(prefix)) continue;
      this.#directories.delete(key);
      this.#directories.add(rename(key));
    }
  }

  /** Files under `prefix` (as a directory, like the disk store) in key order; never directories. */
  async listFiles(prefix: string, options: ListFilesOptions): Promise<string[]> {
    this.#check();
    const under = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    const after = options.startAfter ?? '';
    return [...this.#files]
      .filter(([key, blob]) => key.startsWith(under) && key > after && blob.modified < options.olderThan)
      .map(([key]) => key)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, options.limit);
  }

  /** Nothing temporary is ever stored (a write keeps its bytes in memory until it commits): none to find. */
  async removeStaleTemporaries(): Promise<string[]> {
    this.#check();
    return [];
  }

  async isEmpty(): Promise<boolean> {
    this.#check();
    return this.#files.size === 0;
  }

  async ping(): Promise<void> {
    this.#check();
  }

  async close(): Promise<void> {}
}

/** Keeps what arrives, and refuses a body longer or shorter than `expectedSize`. */
class CollectingSink extends Writable {
  readonly chunks: Buffer[] = [];
  #size = 0;

  constructor(private readonly expectedSize: number | undefined) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#size += chunk.length;
    if (this.expectedSize !== undefined && this.#size > this.expectedSize) {
      callback(new AppError('INCOMPLETE_BODY', `body is longer than its Content-Length (${this.expectedSize})`));
      return;
    }
    this.chunks.push(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.expectedSize !== undefined && this.#size !== this.expectedSize) {
      callback(new AppError('INCOMPLETE_BODY', `body ended after ${this.#size} of ${this.expectedSize} bytes`));
      return;
    }
    callback();
  }
}
