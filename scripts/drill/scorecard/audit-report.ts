/**
 * @module What a provider's audit reports after a drill: metadata entries without their bytes
 * (dangling), bytes without an entry (orphans), per region. The audit itself is the provider's
 * (the rehearsal's is drill/local/audit.ts); the scorecard only reads this shape.
 */

/** A metadata entry whose bytes are not where they should be. */
export interface DanglingEntry {
  readonly path: string;
  readonly backend: 'localfs' | 's3';
  /** Bucket or node that lacks the bytes. */
  readonly where: string;
  /** e.g. `missing`, `older version 2 < 3`, `size 10 != 12`. */
  readonly reason: string;
}

/** Bytes stored with no entry pointing at them. */
export interface OrphanBlob {
  readonly key: string;
  readonly where: string;
  /**
   * For a versioned blob (`.callfs/blobs/…`, a key the node chose): the path the drill's load
   * writer named in the body's first line (`drill <run> <region> seq=<n>`), when it is one of its.
   */
  readonly writtenFor?: string;
  /** For a versioned blob that names no write: its size and first bytes. */
  readonly content?: string;
  /**
   * A copy of the current version of this entry (same blob key) on a node no replica row names:
   * an unrecorded replica (its row was not written, e.g. a replication cut by a failover); not
   * bytes without an entry, so not an orphan the cluster could lose data by.
   */
  readonly copyOf?: string;
}

export interface RegionAudit {
  /** Entries whose bytes were looked for in this region. */
  readonly checked: number;
  readonly dangling: readonly DanglingEntry[];
  /** Missing or older copies recent enough to be replication still under way. */
  readonly notYetReplicated: readonly DanglingEntry[];
  readonly orphans: readonly OrphanBlob[];
}

export interface AuditReport {
  /** What was audited, e.g. `rehearsal (primary: us)`. */
  readonly source: string;
  readonly at: number;
  readonly regions: Readonly<Record<string, RegionAudit>>;
  /** Set when the audit could not run (or only partly). */
  readonly error?: string;
}

/** An audit of the deployment, supplied by the provider. */
export type AuditFunction = () => Promise<AuditReport>;
