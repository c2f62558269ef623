/**
 * @module `computeScorecard`: the card from its input, pure (no clock, no I/O), so every number
 * on it is unit-tested.
 */
import { DEFAULT_BUDGETS, type ScorecardBudgets, type ScorecardInput } from './facts.js';
import { byStart, dnsConvergence, opSucceeded, promotionWindow, recoveryTime, type RegionRecovery, rpoOf } from './recovery.js';
import { errorsByPhase, type LoadSummary, loadSummary, type Phase, type PhaseCounts } from './load-phases.js';
import { auditTotals, explainOrphans, seconds } from './orphans.js';
import { OUTAGE_READ_SUCCESS, outageResult } from './outage.js';
import type { Scorecard, Verdict } from './card.js';

export function computeScorecard(input: ScorecardInput): Scorecard {
  const budgets: ScorecardBudgets = { ...DEFAULT_BUDGETS, ...input.budgets };
  const T0 = input.faultAt;
  const allOps = Object.values(input.ops).flat();
  const endedAt = input.endedAt ?? (allOps.length === 0 ? T0 : Math.max(...allOps.map((o) => o.t + o.ms)));
  const withdrawn = new Set(input.withdrawnRegions);
  const rto: Record<string, RegionRecovery> = {};
  const errors: Record<string, Record<Phase, PhaseCounts>> = {};
  const load: Record<string, LoadSummary> = {};
  for (const [region, ops] of Object.entries(input.ops)) {
    const recoveredAt = recoveryTime(ops, T0, budgets.steadyMs, endedAt);
    const failures = byStart(ops.filter((o) => o.t >= T0 && !opSucceeded(o)));
    const dns = dnsConvergence(ops, T0, withdrawn, input.ipRegions);
    rto[region] = {
      rtoMs: recoveredAt === null ? null : recoveredAt - T0,
      recoveredAt,
      dnsMs: dns.dnsMs,
      dnsAffected: dns.affected,
      failuresAfterFault: failures.length,
      firstFailureAt: failures[0]?.t ?? null,
      lastFailureAt: failures[failures.length - 1]?.t ?? null,
    };
    errors[region] = errorsByPhase(ops, T0, recoveredAt);
    load[region] = loadSummary(ops);
  }
  const isolated = new Set(input.isolatedRegions ?? []);
  const rtos = Object.entries(rto).filter(([name]) => !isolated.has(name)).map(([, r]) => r.rtoMs);
  const rtoMaxMs = rtos.length === 0 || rtos.some((r) => r === null) ? null : Math.max(...(rtos as number[]));
  const dbPromotion = promotionWindow(input.steps, input.dbPromotion);
  const rpo = rpoOf(input.verification, T0);

  const verdicts: Verdict[] = [];
  const regions = Object.keys(input.ops);
  const idle = regions.filter((r) => (input.ops[r] ?? []).filter((o) => o.t >= T0).length === 0 || (input.ops[r] ?? []).filter((o) => o.t < T0).length === 0);
  verdicts.push({
    check: 'load ran before and after the fault in every client region',
    ok: regions.length > 0 && idle.length === 0,
    detail: regions.length === 0 ? 'no client region' : idle.length === 0 ? `${regions.length} region(s), ${allOps.length} operations` : `no operations on one side of T0 in: ${idle.join(', ')}`,
  });
  const notRecovered = Object.entries(rto).filter(([name, r]) => r.rtoMs === null && !isolated.has(name)).map(([name]) => name);
  const isolatedNote = isolated.size > 0 ? ` (not judged: ${[...isolated].join(', ')}, cut off by the fault)` : '';
  verdicts.push({
    check: `RTO ≤ ${seconds(budgets.rtoBudgetMs)} in every client region (steady ${seconds(budgets.steadyMs)})`,
    ok: regions.length > isolated.size && rtoMaxMs !== null && rtoMaxMs <= budgets.rtoBudgetMs,
    detail: (notRecovered.length > 0 ? `not recovered: ${notRecovered.join(', ')}` : rtoMaxMs === null ? 'no region' : `max ${seconds(rtoMaxMs)}`) + isolatedNote,
  });
  verdicts.push({
    check: `RPO ≤ ${budgets.rpoBudget} lost acknowledged write(s)`,
    ok: input.verification === null ? null : rpo.count <= budgets.rpoBudget,
    detail: input.verification === null ? 'not verified' : `${rpo.lost.length} missing, ${rpo.stale.length} stale of ${rpo.checked} (${rpo.seconds.toFixed(1)} s)`,
  });
  if (input.verification !== null) {
    verdicts.push({ check: 'every acknowledged write could be checked', ok: rpo.unverified.length === 0, detail: `${rpo.unverified.length} unverified` });
  }
  const mismatches = Object.values(load).reduce((n, l) => n + l.mismatches, 0);
  verdicts.push({ check: 'reads returned the bytes written', ok: mismatches === 0, detail: `${mismatches} read(s) with other bytes` });
  if (input.audit === null) verdicts.push({ check: 'audit: every entry has its bytes', ok: null, detail: 'no audit' });
  else {
    const totals = auditTotals(input.audit);
    verdicts.push({
      check: 'audit: every entry has its bytes',
      ok: input.audit.error === undefined && totals.dangling === 0,
      detail: `${totals.dangling} dangling, ${totals.pending} not yet replicated, ${totals.orphans} orphan blob(s) in ${totals.checked} checks${input.audit.error === undefined ? '' : `; error: ${input.audit.error}`}`,
    });
  }
  const orphans = input.orphans ?? explainOrphans(input.audit, input.ops, input.earlierWrites);
  if (orphans.length > 0) {
    const unexplained = orphans.filter((o) => !o.explained);
    verdicts.push({
      check: 'audit: every orphan blob was left by an unacknowledged write (and cleaned)',
      ok: unexplained.length === 0,
      detail: `${orphans.length} orphan(s): ${orphans.filter((o) => o.explained).length} explained, ${orphans.filter((o) => o.cleaned).length} cleaned${unexplained.length === 0 ? '' : `; unexplained: ${unexplained.slice(0, 5).map((o) => `${o.key} (${o.where}: ${o.cause})`).join(', ')}`}`,
    });
  }
  const lagBound = input.replicaLagBoundMs ?? 5000;
  const standbys = input.standbysAtEnd ?? null;
  if (standbys !== null) {
    const behind = standbys.filter((st) => !st.streaming || (st.lagMs ?? 0) > lagBound);
    verdicts.push({
      check: `every replica streams from the primary with lag ≤ ${seconds(lagBound)} at the end`,
      ok: standbys.length > 0 && behind.length === 0,
      detail: standbys.length === 0 ? 'no replica found' : behind.length === 0 ? `${standbys.length} replica(s) streaming` : behind.map((st) => `${st.name}: ${st.streaming ? `lag ${st.lagMs ?? '?'} ms` : (st.detail ?? 'not streaming')}`).join(', '),
    });
  }
  const outage = input.outage === undefined || input.outage === null ? null : outageResult(input.ops, input.outage, input.ipRegions);
  if (outage !== null) {
    const low = Object.entries(outage.reads).filter(([, r]) => r.ratio === null || r.ratio < OUTAGE_READ_SUCCESS);
    verdicts.push({
      check: `reads from every region but ${outage.region} ≥ ${(OUTAGE_READ_SUCCESS * 100).toFixed(1)} % successful during the outage`,
      ok: Object.keys(outage.reads).length > 0 && low.length === 0,
      detail: Object.entries(outage.reads).map(([region, r]) => `${region} ${r.ok}/${r.total}`).join(', ') || 'no other client region',
    });
    verdicts.push({
      check: `no read routed to ${outage.region} after the DNS TTL`,
      ok: outage.readsRoutedToDeadRegion === 0,
      detail: `${outage.readsRoutedToDeadRegion} read(s) resolved to ${outage.region}`,
    });
    verdicts.push({
      check: 'writes during the outage refused cleanly (503, an error code, Retry-After)',
      ok: outage.writesAfterDetection > 0 && outage.uncleanRefusals.length === 0,
      detail:
        `${outage.writesAfterDetection - outage.uncleanRefusals.length}/${outage.writesAfterDetection} after detection` +
        (outage.uncleanRefusals.length === 0 ? '' : `; not clean: ${outage.uncleanRefusals.slice(0, 5).map((w) => `${w.region}#${w.seq} ${w.status} ${w.error ?? ''}`.trim()).join(', ')}`) +
        (outage.unknownBeforeDetection > 0 ? `; ${outage.unknownBeforeDetection} write(s) started before detection had no answer` : ''),
    });
  }
  const failedSteps = input.steps.filter((s) => !s.ok);
  verdicts.push({ check: 'every drill step succeeded', ok: failedSteps.length === 0, detail: failedSteps.length === 0 ? `${input.steps.length} step(s)` : `failed: ${failedSteps.map((s) => s.name).join(', ')}` });

  return {
    drill: input.drill,
    provider: input.provider,
    runId: input.runId,
    startedAt: new Date(input.startedAt).toISOString(),
    faultAt: T0,
    endedAt,
    steps: input.steps,
    budgets,
    withdrawnRegions: input.withdrawnRegions,
    rto,
    rtoMaxMs,
    dbPromotion,
    dbPromotionMs: dbPromotion === null ? null : dbPromotion.end - dbPromotion.start,
    dbPromotedAfterMs: dbPromotion === null ? null : dbPromotion.end - T0,
    rpo,
    errors,
    load,
    lagBeforeFaultMs: input.lagBeforeFaultMs,
    audit: input.audit,
    orphans,
    standbysAtEnd: standbys,
    replicaLagBoundMs: lagBound,
    outage,
    verdicts,
    pass: verdicts.every((v) => v.ok !== false),
  };
}
