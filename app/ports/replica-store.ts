/**
 * @module ReplicaStore: where copies of local-disk files live besides their holder. A replica row
 * (path, instance, version) says that instance has the bytes of that version of the file on its
 * own disk. A row whose version is older than the entry's is stale (never served, repaired by a
 * re-copy). Rows go away with their entry (delete, or a move: the copies stay at the old key; the
 * orphan sweeper collects copies stored as versioned blobs under `.callfs/blobs/`, never bytes at
 * a path's key). Adapter: Postgres (`adapters/metadata/postgres/replicas.ts`; memory twin `memory/replicas.ts`).
 */
export interface UnderReplicated {
  readonly path: string;
  readonly version: number;
  readonly size: number;
  /** Instances holding a current copy. */
  readonly replicas: readonly string[];
}

export interface ReplicaStore {
  /** Records a copy of `version`; false (nothing recorded) when the entry is no longer at that version. */
  recordReplica(path: string, instanceId: string, version: number): Promise<boolean>;
  /** Instances holding a copy of exactly `version` of `path`, provided that is still its current version. */
  currentReplicas(path: string, version: number): Promise<string[]>;
  /** Files held by `holder` with fewer than `wanted` current copies elsewhere, at most `limit`. */
  underReplicated(holder: string, wanted: number, limit: number): Promise<UnderReplicated[]>;
  /**
   * Makes `newHolder` the holder of every file of `oldHolder` of which it has a current copy (its
   * replica row is dropped: its copy is now the primary one). Returns the paths moved over.
   */
  promoteReplicas(oldHolder: string, newHolder: string): Promise<string[]>;
  /** Instances with a current copy of some file held by `holder`, most copies first. */
  replicaHoldersOf(holder: string): Promise<string[]>;
  /** Files of `holder` of which no other instance has a current copy. */
  countUnreplicated(holder: string): Promise<number>;
}
