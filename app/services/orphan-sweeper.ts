/**
 * @module The sweeper that cleans up after crashes, and only what it can prove the cluster wrote:
 * - versioned blobs under `.callfs/blobs/` that no entry names (`inodes.blob_key`): the bytes of
 *   a write that crashed before its commit, or of a version nobody released;
 * - the stores' own temporary upload files;
 * - spent and expired single-use links.
 * Files outside `.callfs/` (a user's files in the root or bucket, bytes of the legacy layout at a
 * path's key) are never candidates. A store is swept only while its marker names the cluster of
 * the database asked (services/storage-identity.ts). Only bytes older than a grace period are
 * touched, so in-flight writes are never mistaken for orphans. Orphans are not deleted but moved
 * to `.callfs/quarantine/<time>/…` and deleted once they have been there for the retention
 * period, so a restore or a lost commit can still be repaired by hand. A dry run reports what a
 * sweep would do and changes nothing.
 */
import type { Logger } from '../observability/logger.js';
import type { ListFilesOptions } from '../ports/blob-store.js';
import type { MetadataStore } from '../ports/metadata-store.js';
import type { StorageCatalog } from '../ports/storage-catalog.js';
import { hasCode } from '../errors/app-error.js';
import { readClusterMarker, type NamedStore } from './storage-identity.js';

/** Versioned content (D1): the only bytes the sweeper may judge orphans. */
export const BLOB_PREFIX = '.callfs/blobs/';
export const QUARANTINE_PREFIX = '.callfs/quarantine/';

export type SweepActionKind = 'remove-temporary' | 'quarantine' | 'purge';

export interface SweepAction {
  /** The store, as named in logs (`local disk /var/lib/callfs`, `bucket files-eu`). */
  readonly store: string;
  readonly action: SweepActionKind;
  /** The key acted on (for a quarantine: the orphan's key before the move). */
  readonly key: string;
}

export interface SweepReport {
  readonly dryRun: boolean;
  readonly temporaries: number;
  /** Orphans moved to the quarantine (or, in a dry run, that would be). */
  readonly quarantined: number;
  /** Quarantined bytes deleted after the retention period. */
  readonly purged: number;
  /** Links deleted (a dry run deletes none and reports 0). */
  readonly links: number;
  /** Stores not swept, with the reason (no marker of this cluster). */
  readonly skipped: ReadonlyArray<{ readonly store: string; readonly reason: string }>;
  /** Every action taken (or, in a dry run, that would be taken). */
  readonly actions: readonly SweepAction[];
}

export interface OrphanSweeperOptions {
  /** Bytes younger than this are never considered orphans. */
  readonly graceMs: number;
  /** Most keys examined per store and prefix per sweep (a sweep continues where the last one stopped). */
  readonly batchSize: number;
  /** How long used links are kept (CallFS: 24 h). */
  readonly usedLinkRetentionMs: number;
  /** How long an orphan stays in the quarantine before it is deleted. */
  readonly quarantineRetentionMs: number;
}

/** Counted per action (metrics). */
export interface SweepTelemetry {
  sweptObjects(action: SweepActionKind, count: number): void;
}

export interface SweepOptions {
  /** Report what would be done, change nothing; examines every key, not one batch. */
  readonly dryRun?: boolean;
  /** The sweep's notion of now (tests move it forward to pass a grace or retention period). */
  readonly now?: Date;
}

export class OrphanSweeper {
  /** Per store, the last blob key examined: the next sweep continues after it. */
  readonly #cursors = new Map<string, string>();

  constructor(
    private readonly catalog: StorageCatalog,
    private readonly links: Pick<MetadataStore, 'deleteStaleLinks'>,
    private readonly stores: readonly NamedStore[],
    private readonly options: OrphanSweeperOptions,
    private readonly telemetry: SweepTelemetry | null = null,
    private readonly logger: Logger | null = null,
  ) {}

  async sweep(options: SweepOptions = {}): Promise<SweepReport> {
    const dryRun = options.dryRun === true;
    const now = options.now ?? new Date();
    const cutoff = new Date(now.getTime() - this.options.graceMs);
    const { clusterId } = await this.catalog.cluster();
    const actions: SweepAction[] = [];
    const skipped: Array<{ store: string; reason: string }> = [];
    for (const named of this.stores) {
      const marker = await readClusterMarker(named.store);
      if (marker !== clusterId) {
        const reason = marker === null ? 'it has no cluster marker' : `its marker names ${marker === 'unreadable' ? 'no readable cluster' : `cluster ${marker}`}, the database cluster ${clusterId}`;
        skipped.push({ store: named.name, reason });
        continue;
      }
      for (const key of await named.store.removeStaleTemporaries(cutoff, { dryRun })) actions.push({ store: named.name, action: 'remove-temporary', key });
      for (const key of await this.#quarantineOrphans(named, cutoff, now, dryRun)) actions.push({ store: named.name, action: 'quarantine', key });
      for (const key of await this.#purgeQuarantine(named, now, dryRun)) actions.push({ store: named.name, action: 'purge', key });
    }
    const links = dryRun ? 0 : await this.links.deleteStaleLinks(this.options.usedLinkRetentionMs);
    const count = (kind: SweepActionKind): number => actions.filter((a) => a.action === kind).length;
    const report: SweepReport = { dryRun, temporaries: count('remove-temporary'), quarantined: count('quarantine'), purged: count('purge'), links, skipped, actions };
    if (!dryRun) this.#record(report);
    return report;
  }

  #record(report: SweepReport): void {
    this.telemetry?.sweptObjects('remove-temporary', report.temporaries);
    this.telemetry?.sweptObjects('quarantine', report.quarantined);
    this.telemetry?.sweptObjects('purge', report.purged);
    const counts = { temporaries: report.temporaries, quarantined: report.quarantined, purged: report.purged, links: report.links };
    for (const skip of report.skipped) this.logger?.warn('sweeper: store skipped', { store: skip.store, reason: skip.reason });
    if (report.quarantined > 0 || report.purged > 0) {
      const byStore = new Map<string, number>();
      for (const action of report.actions) if (action.action === 'quarantine') byStore.set(action.store, (byStore.get(action.store) ?? 0) + 1);
      this.logger?.warn('sweeper: orphaned blobs moved to the quarantine, or deleted after its retention', { ...counts, quarantinedByStore: Object.fromEntries(byStore) });
    } else {
      this.logger?.debug('sweep finished', counts);
    }
  }

  /** Moves unreferenced blobs older than the cutoff to this sweep's quarantine directory. */
  async #quarantineOrphans(named: NamedStore, cutoff: Date, now: Date, dryRun: boolean): Promise<string[]> {
    const { store, name } = named;
    const moved: string[] = [];
    let after = dryRun ? '' : (this.#cursors.get(name) ?? '');
    for (;;) {
      const listing: ListFilesOptions = { olderThan: cutoff, limit: this.options.batchSize, startAfter: after };
      const keys = await store.listFiles(BLOB_PREFIX, listing);
      const orphans = await this.catalog.unreferencedBlobKeys(keys);
      for (const key of orphans) {
        if (dryRun) {
          moved.push(key);
          continue;
        }
        const target = quarantineKeyOf(key, now);
        try {
          await store.move(key, target);
        } catch (error) {
          if (hasCode(error, 'FILE_NOT_FOUND')) continue; // released or swept by another node meanwhile
          throw error;
        }
        // A commit naming it after all (a write slower than the grace period): put it back.
        if ((await this.catalog.unreferencedBlobKeys([key])).length === 0) {
          await store.move(target, key);
          continue;
        }
        moved.push(key);
      }
      const complete = keys.length < this.options.batchSize;
      after = complete ? '' : (keys.at(-1) ?? '');
      if (complete || !dryRun) break;
    }
    if (!dryRun) this.#cursors.set(name, after);
    return moved;
  }

  /** Deletes quarantined bytes whose retention is over; returns their keys. */
  async #purgeQuarantine(named: NamedStore, now: Date, dryRun: boolean): Promise<string[]> {
    const { store } = named;
    const purged: string[] = [];
    // Every quarantined key, however old its bytes: its age is in the name of its directory.
    const keys = await store.listFiles(QUARANTINE_PREFIX, { olderThan: new Date(8.64e15), limit: this.options.batchSize });
    for (const key of keys) {
      const movedAt = quarantineTimeOf(key);
      if (movedAt === null || movedAt.getTime() + this.options.quarantineRetentionMs > now.getTime()) continue;
      purged.push(key);
      if (dryRun) continue;
      await store.delete(key);
      // Empty directories of the quarantine go too (local disk; S3 has none).
      if (store.backendType !== 'localfs') continue;
      const names = key.split('/');
      for (let depth = names.length - 1; depth > QUARANTINE_PREFIX.split('/').length - 1; depth--) {
        await store.removeDirectory(names.slice(0, depth).join('/')).catch(() => undefined);
      }
    }
    return purged;
  }
}

/** `.callfs/blobs/ab/cd/x` quarantined at `now` → `.callfs/quarantine/20261203T232844123Z/blobs/ab/cd/x`. */
export function quarantineKeyOf(key: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${QUARANTINE_PREFIX}${stamp}/${key.slice('.callfs/'.length)}`;
}

/** When a quarantined key was moved there, from its directory name; null when it is not one of ours. */
export function quarantineTimeOf(key: string): Date | null {
  const match = /^\.callfs\/quarantine\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z\//.exec(key);
  if (match === null) return null;
  const [, year, month, day, hour, minute, second, ms] = match;
  const time = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), Number(ms));
  return Number.isNaN(time) ? null : new Date(time);
}
