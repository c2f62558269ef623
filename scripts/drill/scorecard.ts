/**
 * @module The failover drill's scorecard (aws-geo-notes §4.2), computed from what the load agents
 * recorded (scripts/drill/load), the drill's own facts (fault time T0, step timings, the regions
 * withdrawn from DNS) and two checks run after the drill: `verifyAcknowledged` (is every
 * acknowledged write still there, with its bytes?) and an audit (does every metadata entry have
 * its bytes, and every blob its entry, in every region?). The audit is injected: the rehearsal's
 * is in audit.ts, another provider supplies its own.
 *
 * `computeScorecard` is pure (no clock, no I/O), so every number here is unit-tested. Each part
 * is its own module under scorecard/ (facts, recovery, load phases, audit and orphans, outage, the
 * card, verification); this one runs the checks and computes the card (`scoreDrill`), and is
 * where the rest of the drill imports all of it from.
 *
 * Definitions, per client region:
 * - RTO: from T0 to the start of the first window of `steadyMs` (at or after T0, and ending before
 *   the load stopped) in which that region made operations and every one succeeded; null when no
 *   such window exists.
 * - DNS time: from T0 to the first operation after which the global name no longer resolved to a
 *   withdrawn region (resolutions that failed are ignored); 0 when the region's clients were not
 *   pointed at a withdrawn region to begin with; null when they still were at the end.
 * - RPO: acknowledged writes that are missing or hold other bytes after the drill (count and list),
 *   and in time T0 minus the acknowledgement of the earliest of them.
 */
import type { ScorecardInput } from './scorecard/facts.js';
import type { AuditFunction, AuditReport } from './scorecard/audit-report.js';
import { explainOrphans } from './scorecard/orphans.js';
import type { Scorecard } from './scorecard/card.js';
import { computeScorecard } from './scorecard/compute.js';
import { type FetchFile, verifyAcknowledged, type VerifyOptions } from './scorecard/verify.js';
export type { OpRecord } from './load/agent.js';
export * from './scorecard/audit-report.js';
export * from './scorecard/card.js';
export * from './scorecard/compute.js';
export * from './scorecard/facts.js';
export * from './scorecard/load-phases.js';
export * from './scorecard/orphans.js';
export * from './scorecard/outage.js';
export * from './scorecard/recovery.js';
export * from './scorecard/verify.js';

export interface ScoreDrillChecks {
  /** For `verifyAcknowledged`; null skips the verification (RPO not evaluated). */
  readonly fetchFile: FetchFile | null;
  /** The provider's audit; null skips it. */
  readonly audit: AuditFunction | null;
  readonly verify?: VerifyOptions;
  /** Removes an explained orphan (bytes of a write that never committed); absent: orphans are reported only. */
  readonly cleanOrphan?: (orphan: { readonly key: string; readonly where: string }) => Promise<boolean>;
}

/** Runs the verification and the audit after a drill, then computes the scorecard. An audit that throws is reported in the card, not thrown. */
export async function scoreDrill(input: Omit<ScorecardInput, 'verification' | 'audit'>, checks: ScoreDrillChecks): Promise<Scorecard> {
  const verification = checks.fetchFile === null ? null : await verifyAcknowledged(input.ops, checks.fetchFile, checks.verify);
  let audit: AuditReport | null = null;
  if (checks.audit !== null) {
    try {
      audit = await checks.audit();
    } catch (error) {
      audit = { source: 'audit', at: Date.now(), regions: {}, error: error instanceof Error ? error.message : String(error) };
    }
  }
  const clean = checks.cleanOrphan;
  const found = explainOrphans(audit, input.ops, input.earlierWrites);
  const orphans = clean === undefined ? found : await Promise.all(found.map(async (o) => (o.explained ? { ...o, cleaned: await clean(o).catch(() => false) } : o)));
  return computeScorecard({ ...input, verification, audit, orphans });
}
