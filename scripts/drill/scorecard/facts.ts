/**
 * @module What a scorecard is computed from: the load agents' operations by client region, the
 * drill's step timings and windows, the budgets it is judged against, and `ScorecardInput`, which
 * gathers them with the checks' results for `computeScorecard`.
 */
import { type OpRecord } from '../load/agent.js';
import type { AuditReport } from './audit-report.js';
import type { OrphanFinding } from './orphans.js';
import type { OutageWindow } from './outage.js';
import type { StandbyAtEnd } from './card.js';
import type { VerificationResult } from './verify.js';

export type OpsByRegion = Readonly<Record<string, readonly OpRecord[]>>;

export interface StepTiming {
  readonly name: string;
  /** Epoch ms. */
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

export interface ScorecardBudgets {
  /** Largest acceptable RTO of any client region. */
  readonly rtoBudgetMs: number;
  /** Largest acceptable number of lost or stale acknowledged writes. */
  readonly rpoBudget: number;
  /** How long every operation must succeed for a region to count as recovered. */
  readonly steadyMs: number;
}

export const DEFAULT_BUDGETS: ScorecardBudgets = { rtoBudgetMs: 60_000, rpoBudget: 0, steadyMs: 60_000 };

export interface ScorecardInput {
  readonly drill: string;
  readonly provider: string;
  readonly runId: string;
  /** Epoch ms. */
  readonly startedAt: number;
  /** T0, epoch ms. */
  readonly faultAt: number;
  /** When the load stopped; default: the end of the last operation. */
  readonly endedAt?: number;
  readonly steps: readonly StepTiming[];
  /** The database promotion; default: the span of the steps whose name mentions "promot". */
  readonly dbPromotion?: TimeWindow | null;
  readonly withdrawnRegions: readonly string[];
  /**
   * Client regions the fault itself cut off (a partitioned region's own clients): their recovery
   * is reported but not judged, since no failover can reach them until the partition heals.
   */
  readonly isolatedRegions?: readonly string[];
  /** Address → region of every node (rehearsal: `plan.regions[].nodes[].ip`). */
  readonly ipRegions: Readonly<Record<string, string>>;
  readonly ops: OpsByRegion;
  /**
   * Writes of earlier drill runs on the same system (their load logs): they only explain orphans,
   * e.g. a write cut off by a failover whose row an earlier drill's rebuild took away.
   */
  readonly earlierWrites?: readonly OpRecord[];
  readonly verification: VerificationResult | null;
  readonly lagBeforeFaultMs: Readonly<Record<string, number | null>>;
  readonly audit: AuditReport | null;
  readonly budgets?: Partial<ScorecardBudgets>;
  /** The audit's orphans with their causes (default: explained from `ops`, none cleaned). */
  readonly orphans?: readonly OrphanFinding[];
  /** Every standby at the end (null or absent: not checked). */
  readonly standbysAtEnd?: readonly StandbyAtEnd[] | null;
  /** A standby further behind than this at the end fails the card (default 5 s). */
  readonly replicaLagBoundMs?: number;
  /** A home outage (home-outage drill): judged by the other regions' reads and write refusals. */
  readonly outage?: OutageWindow | null;
}
