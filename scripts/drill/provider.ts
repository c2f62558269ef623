/**
 * @module The operations a failover drill is built from, as one interface with two providers:
 * `local` drives the rehearsal (scripts/rehearsal) and `aws` drives Route 53, RDS, ElastiCache
 * and S3 through the AWS SDK. The drills (`drills.ts`) are written once over this interface, so
 * a drill on the rehearsal runs the same steps, in the same order, as a real incident on AWS.
 *
 * Every operation is idempotent: a resumed drill may run a step again that had partly happened
 * before it stopped. Operations return a short human-readable line for the progress output.
 */
import type { EpochRecord } from '../../app/fencing/index.js';

/**
 * A replica replaying further behind than this is not caught up: the bound the drills' last
 * steps and the scorecard hold every provider's replicas to. The rehearsal's `status` reports
 * its replicas against the same bound, so a drill and the status it leaves agree.
 */
export const REPLICA_LAG_BOUND_MS = 5000;

/** A region's metadata database as the drill sees it. */
export interface DatabaseStatus {
  readonly region: string;
  /** `primary` is writable; `fenced` is a former primary made read-only; `replica` streams from the primary. */
  readonly role: 'primary' | 'replica' | 'fenced' | 'down';
  /** Last WAL position replayed (replica) or written (primary), as `pg_lsn` text; null when down or unknown. */
  readonly lsn: string | null;
  /** Replay lag behind the primary in ms (0 for the primary), null when unknown. */
  readonly lagMs: number | null;
  /** Region whose database this one streams from (replicas only). */
  readonly upstream: string | null;
}

/** The fencing epoch as stored with the metadata primary's epoch row (app/fencing defines the row). */
export type { EpochRecord };

export interface NodeStatus {
  readonly id: string;
  readonly region: string;
  /** Answers `/ready` with 200. */
  readonly ready: boolean;
  /** Answers `/ready/read` with 200 (can serve reads); absent when the provider does not ask. */
  readonly readReady?: boolean;
  /** Answers `/ready/write` with 200 (can accept writes); absent when the provider does not ask. */
  readonly writeReady?: boolean;
  /** The fencing epoch the node reports (`GET /health?details` → `epoch`), null when unreachable. */
  readonly epoch: number | null;
}

/** A standby database server as its primary sees it (every one, not only one per region). */
export interface StandbyStatus {
  /** The server's name, e.g. `us` or `eu-replica`. */
  readonly name: string;
  readonly region: string;
  /** The primary streams WAL to it (`pg_stat_replication.state = 'streaming'`). */
  readonly streaming: boolean;
  /** Replay lag as the primary measures it, ms (0 when idle); null when not connected. */
  readonly lagMs: number | null;
  /** Why it is not streaming, when known. */
  readonly detail: string | null;
}

/** What a provider knows about the deployment, gathered once when a drill is planned. */
export interface Topology {
  /** Every region, home (current primary) first. */
  readonly regions: readonly string[];
  /** Region of the current writable primary. */
  readonly primaryRegion: string;
  /** Region of the current lock home. */
  readonly lockHomeRegion: string;
  /** Node ids by region. */
  readonly nodes: Readonly<Record<string, readonly string[]>>;
}

export interface DrillProvider {
  readonly name: 'local' | 'aws';
  /** Reads the deployment as it is now (does not change anything). */
  topology(): Promise<Topology>;

  // ---- traffic (DNS) ------------------------------------------------------------------------
  /**
   * Takes a region out of the global hostname's answers and keeps it out (sticky: the region's
   * health cannot bring it back by itself) until `restoreRegion`.
   */
  withdrawRegion(region: string): Promise<string>;
  restoreRegion(region: string): Promise<string>;
  /** Regions the global hostname currently answers with, as seen from clients of `fromRegion`. */
  answeringRegions(fromRegion: string): Promise<string[]>;

  // ---- metadata database --------------------------------------------------------------------
  databases(): Promise<DatabaseStatus[]>;
  /**
   * Fences the database of `region` (the old primary): marks its epoch row fenced and makes it
   * read-only, ends its client sessions. Resolves `unreachable` instead of throwing when the
   * database cannot be reached at all (the caller decides whether that is acceptable).
   */
  fenceDatabase(region: string): Promise<'fenced' | 'unreachable'>;
  /**
   * Planned switchovers only, after `fenceDatabase`: shuts the fenced primary of `region` down
   * cleanly, so every standby still streaming from it receives all of its WAL first and can follow
   * the promoted one without a rewind (absent: the provider has nothing to gain from it).
   */
  stopFencedPrimary?(region: string): Promise<string>;
  /** Promotes the replica of `region` to a writable primary and waits until it accepts writes. */
  promoteDatabase(region: string): Promise<string>;
  /**
   * Makes the database of `region` stream from the primary in `primaryRegion`: re-points a
   * replica, or rebuilds it (pg_rewind or a fresh copy) when it cannot follow.
   */
  followPrimary(region: string, primaryRegion: string): Promise<string>;
  /** Replication on the primary: which regions must acknowledge a commit (synchronous standbys). */
  setSynchronousRegions(primaryRegion: string, regions: readonly string[]): Promise<string>;
  /**
   * The region whose standby the primary in `primaryRegion` reports as synchronous now (the one
   * every commit waits for), null when none is (absent: the provider has no synchronous
   * replication).
   */
  synchronousRegion?(primaryRegion: string): Promise<string | null>;
  readEpoch(region: string): Promise<EpochRecord>;
  /** Writes the epoch row on the primary of `region` (unfenced, with the new lock home). */
  writeEpoch(region: string, record: EpochRecord): Promise<string>;
  /**
   * Every standby server of the current primary and whether it streams (absent: the provider
   * cannot tell; drills then judge the replicas by `databases()`).
   */
  standbys?(): Promise<StandbyStatus[]>;

  // ---- locks (Redis) ------------------------------------------------------------------------
  /** `host:port` of the Redis of `region`. */
  redisAddress(region: string): string;
  /**
   * Round trip from `fromRegion` to the Redis of `toRegion`, measured now, in ms; null when it
   * does not answer (absent: the provider cannot measure; drills then keep the regions' order).
   */
  measureRttMs?(fromRegion: string, toRegion: string): Promise<number | null>;
  /** Sets the lock home of `region` to `epoch` (Redis key the nodes' lock grants return). */
  armLockHome(region: string, epoch: number, fenceFloor: number): Promise<string>;
  stopRedis(region: string): Promise<string>;
  startRedis(region: string): Promise<string>;

  // ---- nodes --------------------------------------------------------------------------------
  nodeStatus(): Promise<NodeStatus[]>;
  stopNode(id: string): Promise<string>;
  startNode(id: string): Promise<string>;

  // ---- objects (S3) -------------------------------------------------------------------------
  /** Points object traffic and replication at `activeRegions` (MRAP routes, replication rules). */
  routeObjects(activeRegions: readonly string[]): Promise<string>;

  // ---- verification -------------------------------------------------------------------------
  /**
   * Writes a probe file through `region`'s own hostname, reads it back and deletes it; resolves
   * with a line naming the node that served it, rejects with the status and error code.
   */
  probeWrite(region: string): Promise<string>;
  /**
   * While the home region is out: a read through `region`'s hostname succeeds and a write is
   * refused cleanly (503 with an error code and `Retry-After`, not a timeout). Resolves with a line
   * saying so, rejects with what was answered instead.
   */
  probeHomeOutage?(region: string): Promise<string>;

  // ---- fault injection (drills only; absent where faults are declared, not injected) ---------
  /**
   * Makes `region` lost: `partition` cuts it off from every other region (it keeps running,
   * alone), `crash` kills every process of it at once.
   */
  injectRegionLoss?(region: string, how: RegionLoss): Promise<string>;
  /** Ends `injectRegionLoss`: heals the partition, or starts the region's services again (not its database). */
  healRegionLoss?(region: string): Promise<string>;
}

export type RegionLoss = 'partition' | 'crash';
