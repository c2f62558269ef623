/**
 * @module Storage identity: every blob store the cluster uses carries a marker,
 * `.callfs/cluster.json`, naming the cluster whose identity the metadata database holds
 * (`callfs_cluster`). A node checks each of its stores at start and refuses to start, with one
 * line saying what it found and what to do, when a store belongs to another cluster, or holds
 * files without a marker while nothing says they are this cluster's. A store that holds no file
 * yet is marked on first use. The orphan sweeper checks the marker again before each sweep, so
 * it never destroys bytes in a store it cannot tie to the database it asks.
 */
import { Readable } from 'node:stream';
import { hasCode } from '../errors/app-error.js';
import type { Logger } from '../observability/logger.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { ClusterRecord, StorageCatalog } from '../ports/storage-catalog.js';

/** The store key of the marker (D1: inside the reserved `.callfs/` namespace). */
export const CLUSTER_MARKER_KEY = '.callfs/cluster.json';

/** A blob store and how an operator would name it (`local disk /var/lib/callfs`, `bucket files-eu`). */
export interface NamedStore {
  readonly name: string;
  readonly store: BlobStore;
  /** The setting that chose this store, named in refusals (`backend.localfs_root_path`). */
  readonly setting: string;
}

/** The node must not start: the message is the one line the operator sees. */
export class StorageIdentityError extends Error {
  override readonly name = 'StorageIdentityError';
}

export interface StorageIdentityOptions {
  /**
   * Mark stores that hold files but no marker as this cluster's (`backend.adopt_existing_storage`):
   * the operator says those files are not another cluster's. Never overrides another cluster's marker.
   */
  readonly adoptExisting: boolean;
  readonly logger: Logger;
}

/** The cluster id a store's marker names; null without a marker; 'unreadable' when it is not one. */
export async function readClusterMarker(store: BlobStore): Promise<string | null | 'unreadable'> {
  let text: string;
  try {
    const { stream } = await store.read(CLUSTER_MARKER_KEY);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      size += buffer.length;
      if (size > 64 * 1024) {
        stream.destroy();
        return 'unreadable';
      }
      chunks.push(buffer);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    if (hasCode(error, 'FILE_NOT_FOUND')) return null;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && 'cluster_id' in parsed && typeof parsed.cluster_id === 'string' && parsed.cluster_id !== '') return parsed.cluster_id;
  } catch {
    // not JSON: reported as unreadable below
  }
  return 'unreadable';
}

async function writeClusterMarker(store: BlobStore, clusterId: string): Promise<void> {
  const body = `${JSON.stringify({ cluster_id: clusterId, written_at: new Date().toISOString(), note: 'geo-callfs cluster marker: this store holds files of that cluster' })}\n`;
  try {
    await store.write(CLUSTER_MARKER_KEY, Readable.from([Buffer.from(body)]), { exclusive: true });
  } catch (error) {
    // Another node of the cluster sharing this store wrote it first: checked by the caller.
    if (!hasCode(error, 'FILE_ALREADY_EXISTS')) throw error;
  }
}

/**
 * Checks (and on first use marks) every store against the database's cluster identity. Resolves
 * with the cluster id; throws StorageIdentityError when the node must not start.
 */
export async function verifyStorageIdentity(catalog: StorageCatalog, stores: readonly NamedStore[], options: StorageIdentityOptions): Promise<string> {
  const cluster = await catalog.cluster();
  for (const named of stores) await verifyStore(cluster, named, options);
  return cluster.clusterId;
}

async function verifyStore(cluster: ClusterRecord, named: NamedStore, options: StorageIdentityOptions): Promise<void> {
  const { name, store, setting } = named;
  const marker = await readClusterMarker(store);
  const database = cluster.holdsEntries ? `the database (cluster ${cluster.clusterId})` : `the database (cluster ${cluster.clusterId}) holds no files`;
  if (marker === 'unreadable') {
    throw new StorageIdentityError(
      `storage identity: ${name} has a ${CLUSTER_MARKER_KEY} that is not a cluster marker; restore it from a backup of that store, or delete it if the store is this cluster's (${database})`,
    );
  }
  if (marker === cluster.clusterId) return;
  if (marker !== null) {
    const fix = cluster.holdsEntries
      ? `check metadata_store.dsn and ${setting}: a node's database and storage must be of one cluster`
      : `point metadata_store.dsn at cluster ${marker}'s database (or restore it from a backup); to start a new cluster over these files instead, delete ${CLUSTER_MARKER_KEY} in ${name}`;
    throw new StorageIdentityError(`storage identity: ${name} belongs to cluster ${marker}, but ${database}; refusing to start: ${fix}`);
  }
  if (await store.isEmpty()) {
    await writeClusterMarker(store, cluster.clusterId);
  } else if (cluster.predatesMarkers || options.adoptExisting) {
    await writeClusterMarker(store, cluster.clusterId);
    options.logger.warn('storage identity: a store holding files without a cluster marker was marked as this cluster\'s', {
      store: name,
      clusterId: cluster.clusterId,
      because: cluster.predatesMarkers ? 'the cluster predates storage markers' : 'backend.adopt_existing_storage is set',
    });
  } else {
    throw new StorageIdentityError(
      `storage identity: ${name} holds files but no cluster marker, and ${database}; refusing to start: point metadata_store.dsn at the database these files belong to, or give ${setting} an empty location; if the files are not a cluster's (other data sharing it), set backend.adopt_existing_storage: true once`,
    );
  }
  // Two nodes sharing a store may both have tried: whichever marker won must be ours.
  const written = await readClusterMarker(store);
  if (written !== cluster.clusterId) {
    throw new StorageIdentityError(`storage identity: ${name} was marked for cluster ${String(written)} while this node marked it for cluster ${cluster.clusterId}; check metadata_store.dsn on every node sharing it`);
  }
}
