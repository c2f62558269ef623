/**
 * @module S3BlobStore: bytes as objects in one bucket of any S3-compatible service (path-style
 * addressing when a custom endpoint is set). Uploads stream through `@aws-sdk/lib-storage`
 * (multipart, bounded queue), so memory stays flat; an upload that fails, is aborted or does
 * not match its Content-Length is aborted before completion, so nothing becomes visible.
 * Reads always send an explicit `bytes=a-b` range (some local servers get suffix ranges wrong).
 */
import { Agent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { PassThrough, Transform, type Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ObjectCannedACL,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { BlobReadResult, BlobStore, ListFilesOptions, ReadOptions, WriteOptions } from '../../ports/blob-store.js';

/** Longest wait for one page of a bucket listing. */
const LIST_TIMEOUT_MS = 30_000;
/** User metadata key holding the entry version an object was written for. */
const VERSION_METADATA = 'callfs-version';

export interface S3BlobStoreOptions {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint: string | null;
  readonly accessKeyId: string | null;
  readonly secretAccessKey: string | null;
  readonly serverSideEncryption: string | null;
  readonly kmsKeyId: string | null;
  readonly acl: string | null;
  readonly requestTimeoutMs?: number;
  readonly partSizeBytes?: number;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return metadata?.httpStatusCode;
}

function nameOf(error: unknown): string {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : '';
}

function isClientAbort(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

function translate(error: unknown, key: string): unknown {
  if (isAppError(error)) return error;
  const name = nameOf(error);
  const status = statusOf(error);
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new AppError('FILE_NOT_FOUND', `no object stored for /${key}`, { cause: error });
  if (name === 'AbortError' || name === 'RequestAbortedError') return new AppError('CLIENT_CLOSED_REQUEST', 'the transfer was interrupted', { cause: error });
  if (name === 'EntityTooLarge' || name === 'QuotaExceeded') return new AppError('INSUFFICIENT_STORAGE', 'the object store refused the size', { cause: error });
  return new AppError('STORAGE_UNAVAILABLE', 'the object store is unavailable', { cause: error, retryAfterSec: 1 });
}

export class S3BlobStore implements BlobStore {
  readonly backendType = 's3' as const;
  readonly #client: S3Client;
  readonly #options: S3BlobStoreOptions;

  constructor(options: S3BlobStoreOptions) {
    this.#options = options;
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.#client = new S3Client({
      region: options.region,
      ...(options.endpoint !== null ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...(options.accessKeyId !== null && options.secretAccessKey !== null
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 2,
      requestHandler: new NodeHttpHandler({
        connectionTimeout: 3000,
        requestTimeout: options.requestTimeoutMs ?? 60_000,
        httpAgent: new HttpAgent(agentOptions),
        httpsAgent: new Agent(agentOptions),
      }),
    });
  }

  #putExtras(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string; ACL?: ObjectCannedACL } {
    const extras: { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string; ACL?: ObjectCannedACL } = {};
    if (this.#options.serverSideEncryption !== null) extras.ServerSideEncryption = this.#options.serverSideEncryption as ServerSideEncryption;
    if (this.#options.kmsKeyId !== null) extras.SSEKMSKeyId = this.#options.kmsKeyId;
    if (this.#options.acl !== null) extras.ACL = this.#options.acl as ObjectCannedACL;
    return extras;
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<{ size: number }> {
    // A fresh versioned key cannot exist yet: one PutObject (a multipart upload past one part), no HEAD first.
    if (options.exclusive && options.fresh !== true && (await this.#exists(key))) throw new AppError('FILE_ALREADY_EXISTS', `an object already exists for /${key}`);
    let size = 0;
    const expected = options.expectedSize;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (expected !== undefined && size > expected) callback(new AppError('INCOMPLETE_BODY', `body is longer than its Content-Length (${expected})`));
        else callback(null, chunk);
      },
      flush(callback) {
        if (expected !== undefined && size !== expected) callback(new AppError('INCOMPLETE_BODY', `body ended after ${size} of ${expected} bytes`));
        else callback();
      },
    });
    const passthrough = new PassThrough();
    let failure: unknown = null;
    const fail = (error: unknown): void => {
      failure ??= error;
      upload.abort().catch(() => undefined);
    };
    body.on('error', (error) => {
      counter.destroy(error);
      fail(error);
    });
    counter.on('error', fail);
    body.pipe(counter).pipe(passthrough);
    const upload = new Upload({
      client: this.#client,
      queueSize: 2,
      partSize: this.#options.partSizeBytes ?? 8 * 1024 * 1024,
      leavePartsOnError: false,
      params: {
        Bucket: this.#options.bucket,
        Key: key,
        Body: passthrough,
        ...this.#putExtras(),
        // Kept with the object (and copied by bucket replication): lets a reader tell a lagging copy.
        ...(options.version !== undefined ? { Metadata: { [VERSION_METADATA]: String(options.version) } } : {}),
      },
    });
    const onAbort = (): void => fail(options.signal?.reason ?? new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
      if (failure !== null) throw failure;
      return { size };
    } catch (error) {
      const cause: unknown = failure ?? error;
      throw translate(isClientAbort(cause) ? new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause }) : cause, key);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async read(key: string, options: ReadOptions = {}): Promise<BlobReadResult> {
    try {
      const response = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#options.bucket, Key: key, ...(options.range ? { Range: `bytes=${options.range.start}-${options.range.end}` } : {}) }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      const total = /\/(\d+)$/.exec(response.ContentRange ?? '')?.[1];
      const size = total !== undefined ? Number(total) : (response.ContentLength ?? 0);
      const stream = response.Body as Readable | undefined;
      if (stream === undefined) throw new AppError('STORAGE_UNAVAILABLE', 'the object store returned no body');
      const stored = Number(response.Metadata?.[VERSION_METADATA]);
      if (options.expectVersion !== undefined && Number.isSafeInteger(stored) && stored < options.expectVersion) {
        stream.destroy();
        throw new AppError('FILE_NOT_FOUND', `the copy of /${key} here is version ${stored}, not ${options.expectVersion}`, { details: { stale: true } });
      }
      return { stream, size };
    } catch (error) {
      if (nameOf(error) === 'InvalidRange') {
        const size = await this.#size(key);
        if (size === 0) return { stream: new PassThrough().end() as PassThrough, size: 0 };
      }
      throw translate(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: key }));
    } catch (error) {
      const translated = translate(error, key);
      if (!(isAppError(translated) && translated.code === 'FILE_NOT_FOUND')) throw translated;
    }
  }

  async makeDirectory(key: string): Promise<void> {
    if (key === '') return;
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#options.bucket, Key: `${key}/`, Body: '', ...this.#putExtras() }));
    } catch (error) {
      throw translate(error, key);
    }
  }

  async removeDirectory(key: string): Promise<void> {
    if (key === '') return;
    await this.delete(`${key}/`);
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    const objects = (await this.#exists(fromKey)) ? [''] : [];
    for await (const suffix of this.#list(`${fromKey}/`)) objects.push('/' + suffix);
    if (objects.length === 0) throw new AppError('FILE_NOT_FOUND', `no object stored for /${fromKey}`);
    for (const suffix of objects) {
      try {
        await this.#client.send(
          new CopyObjectCommand({ Bucket: this.#options.bucket, Key: toKey + suffix, CopySource: `${this.#options.bucket}/${encodeURI(fromKey + suffix)}`, ...this.#putExtras() }),
        );
        await this.#client.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: fromKey + suffix }));
      } catch (error) {
        throw translate(error, fromKey + suffix);
      }
    }
  }

  async listFiles(prefix: string, options: ListFilesOptions): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#client
        .send(
          new ListObjectsV2Command({
            Bucket: this.#options.bucket,
            Prefix: prefix,
            MaxKeys: 1000,
            ContinuationToken: token,
            ...(token === undefined && options.startAfter !== undefined && options.startAfter !== '' ? { StartAfter: options.startAfter } : {}),
          }),
          { abortSignal: AbortSignal.timeout(LIST_TIMEOUT_MS) },
        )
        .catch((error: unknown) => {
          throw translate(error, prefix);
        });
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || object.Key.endsWith('/')) continue;
        if (object.LastModified !== undefined && object.LastModified < options.olderThan) keys.push(object.Key);
        if (keys.length >= options.limit) return keys;
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys;
  }

  async removeStaleTemporaries(): Promise<string[]> {
    // Multipart uploads are aborted on failure; nothing else temporary is written.
    return [];
  }

  async isEmpty(): Promise<boolean> {
    let token: string | undefined;
    do {
      const page = await this.#client
        .send(new ListObjectsV2Command({ Bucket: this.#options.bucket, MaxKeys: 1000, ContinuationToken: token }), { abortSignal: AbortSignal.timeout(LIST_TIMEOUT_MS) })
        .catch((error: unknown) => {
          throw translate(error, '');
        });
      // Directory markers (`key/`) hold no bytes.
      if ((page.Contents ?? []).some((object) => object.Key !== undefined && !object.Key.endsWith('/'))) return false;
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return true;
  }

  async ping(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#options.bucket }), { abortSignal: AbortSignal.timeout(3000) });
    } catch (error) {
      throw new AppError('STORAGE_UNAVAILABLE', `bucket ${this.#options.bucket} is not reachable`, { cause: error });
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  async #exists(key: string): Promise<boolean> {
    return (await this.#size(key)) !== null;
  }

  async #size(key: string): Promise<number | null> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#options.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      const translated = translate(error, key);
      if (isAppError(translated) && translated.code === 'FILE_NOT_FOUND') return null;
      throw translated;
    }
  }

  async *#list(prefix: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#options.bucket, Prefix: prefix, ContinuationToken: token })).catch((error: unknown) => {
        throw translate(error, prefix);
      });
      for (const object of page.Contents ?? []) if (object.Key !== undefined) yield object.Key.slice(prefix.length);
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }
}
