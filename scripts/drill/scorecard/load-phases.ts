/**
 * @module The load as the scorecard reports it: operations and failures before, during and after
 * the fault (failures grouped by what went wrong), and the totals of the whole run.
 */
import { isAcknowledgedWrite, type OpRecord } from '../load/agent.js';
import { opSucceeded } from './recovery.js';

export type Phase = 'before' | 'during' | 'after';

export const PHASES: readonly Phase[] = ['before', 'during', 'after'];

export interface PhaseCounts {
  readonly ops: number;
  readonly failed: number;
  /** Failed operations by status (`0`: no answer; `200 mismatch`: a read with other bytes). */
  readonly byStatus: Readonly<Record<string, number>>;
  /** Writes whose outcome never came back. */
  readonly unknownWrites: number;
}

export interface LoadSummary {
  readonly writes: number;
  readonly acknowledged: number;
  readonly unknown: number;
  readonly conflicts: number;
  readonly reads: number;
  readonly readsOk: number;
  readonly mismatches: number;
}

export function failureKey(op: OpRecord): string {
  return op.outcome === 'mismatch' ? `${op.status} mismatch` : String(op.status);
}

/** Operations of one region by phase: before T0, during (until recovered), after recovery. */
export function errorsByPhase(ops: readonly OpRecord[], faultAt: number, recoveredAt: number | null): Record<Phase, PhaseCounts> {
  const phaseOf = (op: OpRecord): Phase => (op.t < faultAt ? 'before' : recoveredAt === null || op.t < recoveredAt ? 'during' : 'after');
  const counts = Object.fromEntries(PHASES.map((p) => [p, { ops: 0, failed: 0, byStatus: {} as Record<string, number>, unknownWrites: 0 }])) as Record<Phase, { ops: number; failed: number; byStatus: Record<string, number>; unknownWrites: number }>;
  for (const op of ops) {
    const c = counts[phaseOf(op)];
    c.ops++;
    if (op.op === 'write' && op.outcome === 'unknown') c.unknownWrites++;
    if (opSucceeded(op)) continue;
    c.failed++;
    const key = failureKey(op);
    c.byStatus[key] = (c.byStatus[key] ?? 0) + 1;
  }
  return counts;
}

export function loadSummary(ops: readonly OpRecord[]): LoadSummary {
  const writes = ops.filter((o) => o.op === 'write');
  const reads = ops.filter((o) => o.op === 'read');
  return {
    writes: writes.length,
    acknowledged: writes.filter(isAcknowledgedWrite).length,
    unknown: writes.filter((o) => o.outcome === 'unknown').length,
    conflicts: writes.filter((o) => o.outcome === 'conflict').length,
    reads: reads.length,
    readsOk: reads.filter(opSucceeded).length,
    mismatches: reads.filter((o) => o.outcome === 'mismatch').length,
  };
}
