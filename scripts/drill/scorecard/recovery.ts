/**
 * @module The recovery objectives, per client region: RTO (the first steady window of successful
 * operations after T0), the time DNS took to stop sending clients to a withdrawn region, the
 * promotion's window among the steps, and RPO from the verification of acknowledged writes.
 */
import { type OpRecord } from '../load/agent.js';
import type { StepTiming, TimeWindow } from './facts.js';
import type { CheckedWrite, VerificationResult } from './verify.js';

export interface RegionRecovery {
  /** T_recovered − T0; null when the region did not recover while the load ran. */
  readonly rtoMs: number | null;
  readonly recoveredAt: number | null;
  /** See the module comment; null when still resolving to a withdrawn region at the end. */
  readonly dnsMs: number | null;
  /** Its clients were pointed at a withdrawn region at the fault or after it. */
  readonly dnsAffected: boolean;
  /** Failed operations started at or after T0. */
  readonly failuresAfterFault: number;
  readonly firstFailureAt: number | null;
  readonly lastFailureAt: number | null;
}

/** A successful operation: an acknowledged write or a read of the expected bytes. */
export function opSucceeded(op: OpRecord): boolean {
  return op.outcome === 'ok';
}

export function byStart(ops: readonly OpRecord[]): OpRecord[] {
  return [...ops].sort((a, b) => a.t - b.t);
}

/**
 * Start of the first window of `steadyMs`, at or after `faultAt` and ending by `observedUntil`,
 * in which there were operations and all succeeded; null when there is none.
 */
export function recoveryTime(ops: readonly OpRecord[], faultAt: number, steadyMs: number, observedUntil: number): number | null {
  const after = byStart(ops.filter((o) => o.t >= faultAt));
  // nextFailure[i]: start of the first failed operation at index >= i (Infinity if none).
  const nextFailure = new Array<number>(after.length + 1).fill(Infinity);
  for (let i = after.length - 1; i >= 0; i--) {
    const op = after[i];
    nextFailure[i] = op !== undefined && !opSucceeded(op) ? op.t : (nextFailure[i + 1] ?? Infinity);
  }
  // A clean window starts at T0 or right after a failure: at the next operation's start.
  const candidates: Array<{ start: number; index: number }> = [{ start: faultAt, index: 0 }];
  after.forEach((op, i) => {
    const previous = after[i - 1];
    if (previous !== undefined && !opSucceeded(previous)) candidates.push({ start: op.t, index: i });
  });
  for (const { start, index } of candidates) {
    if (start + steadyMs > observedUntil) return null;
    const first = after[index];
    const hasOps = first !== undefined && first.t < start + steadyMs;
    if (hasOps && (nextFailure[index] ?? Infinity) >= start + steadyMs) return start;
  }
  return null;
}

/** DNS convergence of one client region; see the module comment. */
export function dnsConvergence(ops: readonly OpRecord[], faultAt: number, withdrawn: ReadonlySet<string>, ipRegions: Readonly<Record<string, string>>): { dnsMs: number | null; affected: boolean } {
  const resolved = byStart(ops.filter((o) => o.resolved !== null));
  const isWithdrawn = (op: OpRecord): boolean => withdrawn.has(ipRegions[op.resolved ?? ''] ?? '');
  const before = resolved.filter((o) => o.t < faultAt);
  const after = resolved.filter((o) => o.t >= faultAt);
  const lastBefore = before[before.length - 1];
  let lastBad = -1;
  after.forEach((op, i) => {
    if (isWithdrawn(op)) lastBad = i;
  });
  const affected = lastBad >= 0 || (lastBefore !== undefined && isWithdrawn(lastBefore));
  if (!affected) return { dnsMs: 0, affected: false };
  const firstGood = after[lastBad + 1];
  return { dnsMs: firstGood === undefined ? null : firstGood.t - faultAt, affected: true };
}

/** The promotion window: given, or the span of the steps named like a promotion. */
export function promotionWindow(steps: readonly StepTiming[], given?: TimeWindow | null): TimeWindow | null {
  if (given !== undefined) return given;
  const promotions = steps.filter((s) => /promot/i.test(s.name));
  if (promotions.length === 0) return null;
  return { start: Math.min(...promotions.map((s) => s.start)), end: Math.max(...promotions.map((s) => s.end)) };
}

export interface RpoResult {
  readonly lost: readonly CheckedWrite[];
  readonly stale: readonly CheckedWrite[];
  readonly unverified: readonly CheckedWrite[];
  /** lost + stale. */
  readonly count: number;
  /** T0 minus the acknowledgement of the earliest lost or stale write (0 when none). */
  readonly ms: number;
  readonly seconds: number;
  readonly checked: number;
  readonly unknownLanded: number;
  readonly unknownChecked: number;
}

export function rpoOf(verification: VerificationResult | null, faultAt: number): RpoResult {
  const v: VerificationResult = verification ?? { checked: 0, lost: [], stale: [], unverified: [], unknownLanded: 0, unknownChecked: 0 };
  const gone = [...v.lost, ...v.stale];
  const earliest = gone.length === 0 ? null : Math.min(...gone.map((w) => w.ackedAt));
  const ms = earliest === null ? 0 : Math.max(0, faultAt - earliest);
  return { lost: v.lost, stale: v.stale, unverified: v.unverified, count: gone.length, ms, seconds: ms / 1000, checked: v.checked, unknownLanded: v.unknownLanded, unknownChecked: v.unknownChecked };
}
