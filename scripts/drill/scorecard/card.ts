/**
 * @module The scorecard itself: per region recovery, the load by phase, RPO, the audit, the
 * standbys at the end and the verdict against the budgets, as `computeScorecard` returns it and
 * report.ts prints it.
 */
import type { ScorecardBudgets, StepTiming, TimeWindow } from './facts.js';
import type { RegionRecovery, RpoResult } from './recovery.js';
import type { LoadSummary, Phase, PhaseCounts } from './load-phases.js';
import type { AuditReport } from './audit-report.js';
import type { OrphanFinding } from './orphans.js';
import type { OutageResult } from './outage.js';

/** A standby database server at the end of the drill (provider `standbys()`). */
export interface StandbyAtEnd {
  readonly name: string;
  readonly region: string;
  readonly streaming: boolean;
  readonly lagMs: number | null;
  readonly detail: string | null;
}

export interface Verdict {
  readonly check: string;
  /** null: not evaluated (e.g. no audit for this provider). */
  readonly ok: boolean | null;
  readonly detail: string;
}

export interface Scorecard {
  readonly drill: string;
  readonly provider: string;
  readonly runId: string;
  /** ISO time the drill started. */
  readonly startedAt: string;
  /** T0, epoch ms. */
  readonly faultAt: number;
  /** When the load stopped, epoch ms. */
  readonly endedAt: number;
  readonly steps: readonly StepTiming[];
  readonly budgets: ScorecardBudgets;
  readonly withdrawnRegions: readonly string[];
  readonly rto: Readonly<Record<string, RegionRecovery>>;
  /** Largest RTO of any client region; null when one did not recover. */
  readonly rtoMaxMs: number | null;
  readonly dbPromotion: TimeWindow | null;
  readonly dbPromotionMs: number | null;
  /** From T0 to the end of the promotion. */
  readonly dbPromotedAfterMs: number | null;
  readonly rpo: RpoResult;
  readonly errors: Readonly<Record<string, Readonly<Record<Phase, PhaseCounts>>>>;
  readonly load: Readonly<Record<string, LoadSummary>>;
  readonly lagBeforeFaultMs: Readonly<Record<string, number | null>>;
  readonly audit: AuditReport | null;
  readonly orphans: readonly OrphanFinding[];
  readonly standbysAtEnd: readonly StandbyAtEnd[] | null;
  readonly replicaLagBoundMs: number;
  readonly outage: OutageResult | null;
  readonly verdicts: readonly Verdict[];
  readonly pass: boolean;
}
