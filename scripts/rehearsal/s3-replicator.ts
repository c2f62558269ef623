/**
 * @module The rehearsal's stand-in for S3 cross-region replication. One replicator per region runs
 * inside that region's namespace and pushes the objects written to its bucket to every other
 * region's bucket, across the delayed WAN: asynchronous, so a copy arrives after a lag that can be
 * measured (and made longer with `--extra-lag-ms`, to rehearse a slow replication). Like S3, it
 * marks the copies it makes (user metadata `rehearsal-replica-of`) and never replicates a copy
 * again, keeps the object's metadata and content type, and does not replicate deletions.
 * Each round copies what its stand-in logged as stored since the last round; the whole bucket is
 * listed only at start, every 30 s, and whenever the log cannot be read (s3rver stats every object
 * of a listing, and a listing every 250 ms of a bucket that only grows had become most of its load).
 * Each round's counters go to a JSON file that `status` shows.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type _Object } from '@aws-sdk/client-s3';
import { closeSync, openSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { S3_ACCESS_KEY, S3_SECRET_KEY } from './node-config.js';

/** User-metadata key (x-amz-meta-…) that marks an object as a copy made by replication. */
export const REPLICA_MARKER = 'rehearsal-replica-of';

export interface BucketAddress {
  readonly region: string;
  readonly endpoint: string;
  readonly bucket: string;
}

export interface ReplicationStats {
  readonly source: string;
  readonly at: string;
  /** Objects copied to every destination since start. */
  readonly replicated: number;
  /** Objects seen in the bucket and not yet copied everywhere. */
  readonly pending: number;
  readonly failures: number;
  readonly lastError: string | null;
  /** Time from the object's LastModified to the end of its last copy, for recent objects. */
  readonly lagMs: { readonly last: number | null; readonly p50: number | null; readonly max: number | null };
}

function client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
    // s3rver stores aws-chunked framing as object bytes when the SDK adds streaming checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function listAll(s3: S3Client, bucket: string): Promise<_Object[]> {
  const objects: _Object[] = [];
  let token: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const answer = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token, MaxKeys: 1000 }), { abortSignal: AbortSignal.timeout(10_000) });
    objects.push(...(answer.Contents ?? []));
    if (answer.IsTruncated !== true || answer.NextContinuationToken === undefined) break;
    token = answer.NextContinuationToken;
  }
  return objects;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
}

export interface ReplicatorOptions {
  readonly source: BucketAddress;
  readonly destinations: readonly BucketAddress[];
  readonly statsFile: string;
  readonly intervalMs: number;
  /** Added before each copy, on top of the WAN's delay. */
  readonly extraLagMs: number;
  /**
   * The source stand-in's log of stored objects (one JSON line {bucket, key} each, see
   * s3rver-main.mjs): read from where the last round stopped, so a round costs what was written
   * since, not a listing of the whole bucket. Absent or unreadable: every round lists the bucket.
   */
  readonly createdLog?: string;
  readonly shouldStop: () => boolean;
}

/** A full listing at least this often even with the log (a restarted stand-in may have missed lines). */
const FULL_LISTING_MS = 30_000;

/** Keys logged for `bucket` after byte `offset` (complete lines only), and where to read next; null when the log cannot be used. */
export function loggedKeys(file: string, offset: number, bucket: string): { keys: string[]; offset: number } | null {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return null;
  }
  if (size < offset) return null; // truncated or replaced: start over with a listing
  if (size === offset) return { keys: [], offset };
  const fd = openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(size - offset);
    const read = readSync(fd, bytes, 0, bytes.length, offset);
    const end = bytes.subarray(0, read).lastIndexOf(0x0a);
    if (end < 0) return { keys: [], offset };
    const keys = new Set<string>();
    for (const line of bytes.subarray(0, end).toString('utf8').split('\n')) {
      try {
        const entry = JSON.parse(line) as { bucket?: unknown; key?: unknown };
        if (entry.bucket === bucket && typeof entry.key === 'string') keys.add(entry.key);
      } catch {
        // not a line the stand-in wrote: the next full listing covers whatever it was
      }
    }
    return { keys: [...keys], offset: offset + end + 1 };
  } finally {
    closeSync(fd);
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export async function runReplicator(options: ReplicatorOptions): Promise<void> {
  const source = client(options.source.endpoint);
  const targets = options.destinations.map((d) => ({ address: d, s3: client(d.endpoint) }));
  /** key → ETag already handled (copied everywhere, or a copy itself). */
  const done = new Map<string, string>();
  const lags: number[] = [];
  let replicated = 0;
  let failures = 0;
  let lastError: string | null = null;
  let pending = 0;
  let logOffset = 0;
  let lastListing = 0;
  const writeStats = (): void => {
    const sorted = [...lags].sort((a, b) => a - b);
    const stats: ReplicationStats = {
      source: options.source.region,
      at: new Date().toISOString(),
      replicated,
      pending,
      failures,
      lastError,
      lagMs: { last: lags[lags.length - 1] ?? null, p50: percentile(sorted, 50), max: sorted[sorted.length - 1] ?? null },
    };
    writeFileSync(`${options.statsFile}.tmp`, JSON.stringify(stats, null, 2) + '\n');
    renameSync(`${options.statsFile}.tmp`, options.statsFile);
  };
  /** Copies `key` to every destination unless it is a copy itself, is gone, or this version was copied already. */
  const replicate = async (key: string): Promise<void> => {
    let head;
    try {
      head = await source.send(new HeadObjectCommand({ Bucket: options.source.bucket, Key: key }), { abortSignal: AbortSignal.timeout(10_000) });
    } catch (error) {
      if (isNotFound(error)) return; // deleted since (a released version): nothing to copy
      throw error;
    }
    const etag = head.ETag ?? '';
    if (done.get(key) === etag) return;
    if (head.Metadata?.[REPLICA_MARKER] !== undefined) {
      done.set(key, etag);
      return;
    }
    if (options.extraLagMs > 0) await new Promise((r) => setTimeout(r, options.extraLagMs));
    let got;
    try {
      got = await source.send(new GetObjectCommand({ Bucket: options.source.bucket, Key: key }), { abortSignal: AbortSignal.timeout(60_000) });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const body = Buffer.from((await got.Body?.transformToByteArray()) ?? new Uint8Array());
    await Promise.all(
      targets.map(({ address, s3 }) =>
        s3.send(
          new PutObjectCommand({
            Bucket: address.bucket,
            Key: key,
            Body: body,
            ContentType: got.ContentType,
            Metadata: { ...(got.Metadata ?? {}), [REPLICA_MARKER]: options.source.region },
          }),
          { abortSignal: AbortSignal.timeout(60_000) },
        ),
      ),
    );
    done.set(key, etag);
    replicated++;
    const written = head.LastModified?.getTime();
    if (written !== undefined) {
      lags.push(Math.max(0, Date.now() - written));
      if (lags.length > 1000) lags.shift();
    }
    writeStats();
  };
  while (!options.shouldStop()) {
    const round = Date.now();
    try {
      const logged = options.createdLog === undefined ? null : loggedKeys(options.createdLog, logOffset, options.source.bucket);
      let keys: string[];
      if (logged === null || round - lastListing >= FULL_LISTING_MS) {
        // Everything stored before the listing is in it: the log counts as read up to here too.
        const objects = await listAll(source, options.source.bucket);
        keys = objects.filter((o) => o.Key !== undefined && done.get(o.Key) !== o.ETag).map((o) => o.Key ?? '');
        lastListing = round;
        logOffset = logged?.offset ?? 0;
      } else {
        keys = logged.keys;
        logOffset = logged.offset;
      }
      pending = keys.length;
      for (const key of keys) {
        if (options.shouldStop()) break;
        await replicate(key);
        pending--;
      }
      lastError = null;
    } catch (error) {
      failures++;
      lastError = error instanceof Error ? error.message : String(error);
    }
    writeStats();
    const wait = options.intervalMs - (Date.now() - round);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  source.destroy();
  for (const t of targets) t.s3.destroy();
}
