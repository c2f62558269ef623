/**
 * @module The one-off move of legacy-layout bytes (stored at their path, by CallFS or by earlier
 * versions of this node) to versioned blob keys (`.callfs/blobs/…`), run per node with
 * `npm run migrate-blobs`. For each legacy file this node can reach (local-disk files it holds;
 * S3 files, from any one node) the bytes are copied to a fresh blob key, then the entry adopts
 * that key if it is still the same version with no key (`MetadataStore.adoptBlobKey`: version,
 * ETag and times do not change), and only then are the bytes at the path removed. A write that
 * wins the race makes the adoption fail; the copy is removed and the file is left to that write.
 * A dry run lists what would move and changes nothing.
 */
import { newBlobKey } from '../domain/blob-key.js';
import type { BackendType, Entry } from '../domain/entry.js';
import { toBlobKey } from '../domain/path.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { MetadataStore } from '../ports/metadata-store.js';

export interface BlobMigrationDeps {
  readonly metadata: MetadataStore;
  readonly blobs: { readonly localfs: BlobStore | null; readonly s3: BlobStore | null };
  /** This node: local-disk files are migrated by the node holding them. */
  readonly instanceId: string;
}

export interface BlobMigrationOptions {
  readonly dryRun: boolean;
  /** Include S3 files (do it from one node only; any node with the bucket can). */
  readonly includeS3: boolean;
  /** Told about every file as it is handled. */
  readonly onFile?: (path: string, outcome: 'moved' | 'would-move' | 'skipped', detail?: string) => void;
  /** Waits before removing the S3 objects at their paths (reads in flight). Default: none. */
  readonly s3GraceMs?: number;
}

export interface BlobMigrationReport {
  readonly dryRun: boolean;
  /** Files found in the legacy layout, per backend. */
  readonly found: Record<BackendType, number>;
  readonly moved: number;
  readonly bytes: number;
  readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>;
}

const PAGE = 200;

export async function migrateLegacyBlobs(deps: BlobMigrationDeps, options: BlobMigrationOptions): Promise<BlobMigrationReport> {
  const found: Record<BackendType, number> = { localfs: 0, s3: 0 };
  const skipped: Array<{ path: string; reason: string }> = [];
  const s3Leftovers: string[] = [];
  let moved = 0;
  let bytes = 0;
  const plans: Array<{ backend: BackendType; store: BlobStore; holder: string | null }> = [];
  if (deps.blobs.localfs !== null) plans.push({ backend: 'localfs', store: deps.blobs.localfs, holder: deps.instanceId });
  if (deps.blobs.s3 !== null && options.includeS3) plans.push({ backend: 's3', store: deps.blobs.s3, holder: null });
  for (const plan of plans) {
    let after = '';
    for (;;) {
      const page = await deps.metadata.legacyFiles(plan.holder, plan.backend, after, PAGE);
      for (const entry of page) {
        found[plan.backend]++;
        if (options.dryRun) {
          bytes += entry.size;
          options.onFile?.(entry.path, 'would-move');
          continue;
        }
        const outcome = await moveOne(deps.metadata, plan.store, entry);
        if (outcome === 'moved') {
          moved++;
          bytes += entry.size;
          if (plan.backend === 's3' && (options.s3GraceMs ?? 0) > 0) s3Leftovers.push(toBlobKey(entry.path));
          else await plan.store.delete(toBlobKey(entry.path)).catch(() => undefined);
          options.onFile?.(entry.path, 'moved');
        } else {
          skipped.push({ path: entry.path, reason: outcome.reason });
          options.onFile?.(entry.path, 'skipped', outcome.reason);
        }
      }
      const last = page[page.length - 1];
      if (page.length < PAGE || last === undefined) break;
      after = last.path;
    }
  }
  if (s3Leftovers.length > 0 && deps.blobs.s3 !== null) {
    await new Promise((resolve) => setTimeout(resolve, options.s3GraceMs));
    for (const key of s3Leftovers) await deps.blobs.s3.delete(key).catch(() => undefined);
  }
  return { dryRun: options.dryRun, found, moved, bytes, skipped };
}

/** Copies one file's bytes to a fresh key and lets its entry adopt it. */
async function moveOne(metadata: MetadataStore, store: BlobStore, entry: Entry): Promise<'moved' | { reason: string }> {
  const key = newBlobKey();
  try {
    const read = await store.read(toBlobKey(entry.path));
    if (read.size !== entry.size) {
      read.stream.destroy();
      return { reason: `stored bytes (${read.size}) differ from the entry's size (${entry.size}); left as is` };
    }
    await store.write(key, read.stream, { exclusive: true, fresh: true, expectedSize: entry.size });
  } catch (error) {
    await store.delete(key).catch(() => undefined);
    return { reason: describe(error) };
  }
  let adopted: boolean;
  try {
    adopted = await metadata.adoptBlobKey(entry.path, entry.version, key);
  } catch (error) {
    // The outcome is unknown: the entry may name the copy now, so both copies stay; run again.
    return { reason: `recording the new key failed (${describe(error)}); both copies kept, run the migration again` };
  }
  if (adopted) return 'moved';
  await store.delete(key).catch(() => undefined);
  return { reason: 'the file changed while it was copied (a newer write already uses a blob key)' };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
