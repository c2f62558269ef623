/**
 * @module Fencing across a region failover. The metadata database holds one epoch row
 * (`callfs_epoch`): its `epoch`, whether the database is a `fenced` former primary, and the
 * `lock_home` Redis of that epoch. A failover drill fences the old primary, promotes a replica,
 * bumps the epoch there and on the new lock home. Lock-protected writes carry their lock home's
 * epoch and the database refuses them (FENCED) when it is fenced or at another epoch, so two
 * writable primaries, or two lock homes, cannot both take writes.
 */

/** The epoch row as the node's metadata primary holds it. */
export interface EpochState {
  readonly epoch: number;
  /** True: this database is a fenced former primary; writes are refused. */
  readonly fenced: boolean;
  /** The session is read-only (a fenced primary made read-only, or a standby). */
  readonly readOnly: boolean;
  /** Region of the primary of this epoch (informative). */
  readonly primaryRegion: string | null;
  /** `host:port` of the lock home Redis; null = the node's configured `dlm.redis_addr`. */
  readonly lockHome: string | null;
  /** `host:port` of the writable primary of this epoch, as the failover recorded it; null when not recorded. */
  readonly primaryHost: string | null;
}

/** Implemented by the metadata store: more hosts to search for the primary than its DSN names. */
export interface PrimaryCandidates {
  /** Adds `host:port` (same user, database and options as the DSN); false when known already or not usable. */
  addPrimaryCandidate(hostPort: string): boolean;
}

/** Implemented by the metadata store: reads the epoch row from the current primary. */
export interface EpochSource {
  /** Throws METADATA_UNAVAILABLE when no writable primary answers. */
  readEpoch(): Promise<EpochState>;
}

/** The lock manager's address, when it can be moved to another Redis without a restart. */
export interface LockHomeControl {
  /** `host:port` the lock manager uses now; null when it is not a relocatable address (in-process, Sentinel). */
  current(): string | null;
  /**
   * Moves new acquires to `address` (null = the configured one). Resolves once the new Redis
   * answers; throws LOCK_UNAVAILABLE (and keeps the old address) when it does not.
   */
  moveTo(address: string | null): Promise<void>;
}
