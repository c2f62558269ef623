/**
 * @module The rehearsal's stand-in for S3 cross-region replication. One replicator per region runs
 * inside that region's namespace and pushes the objects written to its bucket to every other
 * region's bucket, across the delayed WAN: asynchronous, so a copy arrives after a lag that can be
 * measured (and made longer with `--extra-lag-ms`, to rehearse a slow replication). Like S3, it
 * marks the copies it makes (user metadata `rehearsal-replica-of`) and never replicates a copy
 * again, keeps the object's metadata and content type, and does not replicate deletions.
 * Each round's counters go to a JSON file that `status` shows.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type _Object } from '@aws-sdk/client-s3';
import { renameSync, writeFileSync } from 'node:fs';
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
  readonly shouldStop: () => boolean;
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
  while (!options.shouldStop()) {
    const round = Date.now();
    try {
      const objects = await listAll(source, options.source.bucket);
      const fresh = objects.filter((o) => o.Key !== undefined && done.get(o.Key) !== o.ETag);
      pending = fresh.length;
      for (const object of fresh) {
        if (options.shouldStop()) break;
        const key = object.Key ?? '';
        const head = await source.send(new HeadObjectCommand({ Bucket: options.source.bucket, Key: key }), { abortSignal: AbortSignal.timeout(10_000) });
        if (head.Metadata?.[REPLICA_MARKER] !== undefined) {
          done.set(key, object.ETag ?? '');
          pending--;
          continue;
        }
        if (options.extraLagMs > 0) await new Promise((r) => setTimeout(r, options.extraLagMs));
        const got = await source.send(new GetObjectCommand({ Bucket: options.source.bucket, Key: key }), { abortSignal: AbortSignal.timeout(60_000) });
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
        done.set(key, object.ETag ?? '');
        replicated++;
        pending--;
        const written = object.LastModified?.getTime();
        if (written !== undefined) {
          lags.push(Math.max(0, Date.now() - written));
          if (lags.length > 1000) lags.shift();
        }
        writeStats();
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
