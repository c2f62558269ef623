/**
 * @module StorageCatalog: what the metadata database knows about the bytes of the cluster, for
 * the checks that decide whether bytes may be destroyed and for fencing tokens that survive a
 * restart. The cluster has one identity (`callfs_cluster`), recorded in every blob store too as
 * `.callfs/cluster.json` (services/storage-identity.ts); versioned content lives under
 * `.callfs/blobs/` and the row of an entry names its current bytes in `inodes.blob_key`.
 * Adapter: Postgres (`adapters/metadata/postgres/catalog.ts`; memory twin `memory/catalog.ts`).
 */

export interface ClusterRecord {
  /** The cluster's identity, created with the schema. */
  readonly clusterId: string;
  /**
   * The identity was created in a database that already held entries (a cluster upgraded from
   * a version without storage markers): its stores may hold its files without a marker yet.
   */
  readonly predatesMarkers: boolean;
  /** The database holds at least one entry besides the root. */
  readonly holdsEntries: boolean;
}

export interface StorageCatalog {
  /** The cluster's identity as the metadata primary holds it. Throws METADATA_UNAVAILABLE. */
  cluster(): Promise<ClusterRecord>;
  /**
   * The subset of `keys` (store keys such as `.callfs/blobs/ab/cd/…`) that no entry names as its
   * bytes (`inodes.blob_key`), read from the primary.
   */
  unreferencedBlobKeys(keys: readonly string[]): Promise<string[]>;
  /** The highest fencing token stored on any entry (0 when none): new tokens must be above it. */
  highestFence(): Promise<number>;
}
