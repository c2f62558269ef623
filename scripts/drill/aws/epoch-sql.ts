/**
 * @module The seam for the epoch row SQL of the AWS drill provider. By default the provider runs
 * that SQL (defined by app/fencing) as batches through its SQL reach (./sql-reach-epoch.ts,
 * ./sql-reach.ts); `EpochSql` lets tests, or a drill run through a tunnel of its own, substitute
 * it with their own sessions.
 */
import type { EpochRecord } from '../../../app/fencing/index.js';
import type { DatabaseTarget } from './database-session.js';

export interface EpochSql {
  /** The epoch row and the highest stored fence (READ_EPOCH_RECORD); epoch 0 when the row is missing. */
  readEpoch(target: DatabaseTarget): Promise<EpochRecord>;
  /** Writes the row with `record`, recording `target` as the primary of the epoch. */
  writeEpoch(target: DatabaseTarget, record: EpochRecord): Promise<void>;
  /** Marks the row fenced (MARK_FENCED) in an explicit READ WRITE transaction (works after the read-only default is on, so a resumed fence repeats it). */
  markFenced(target: DatabaseTarget): Promise<void>;
  /** `SHOW default_transaction_read_only` in a new session: true once the parameter group change has reached the server. */
  readOnlyByDefault(target: DatabaseTarget): Promise<boolean>;
  /** Ends the other sessions of the same user (the nodes'), so they reconnect read-only; returns how many. */
  endSessions(target: DatabaseTarget): Promise<number>;
}
