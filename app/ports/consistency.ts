/**
 * @module Consistency positions of the metadata store: where the primary's write-ahead log is
 * (a write's consistency token is the position after it committed), and how far a read replica
 * has replayed it. Positions are Postgres LSNs in their text form (`16/B374D848`). Adapter:
 * Postgres (`adapters/metadata/postgres/positions.ts`; memory twin `memory/positions.ts`).
 */
export interface WalPosition {
  /** The primary's current WAL position: at or after every write committed before the call. */
  currentLsn(): Promise<string>;
}

export interface ReplicaProgress {
  /** The position this replica has replayed up to (a primary: its own insert position). */
  replayLsn(): Promise<string | null>;
  /** How far behind the primary this replica's data is, in ms (0 when it has replayed all it received). */
  lagMs(): Promise<number>;
}
