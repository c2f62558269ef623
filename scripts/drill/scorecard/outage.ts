/**
 * @module A home outage's own result: while the home region is cut off, reads elsewhere must keep
 * succeeding (OUTAGE_READ_SUCCESS) and writes must be refused cleanly, not hang or be lost.
 */
import type { OpsByRegion } from './facts.js';
import { opSucceeded } from './recovery.js';

/** The home-outage window: the region cut off, and when the cut started, was noticed and ended. */
export interface OutageWindow {
  readonly region: string;
  /** T0: the partition. */
  readonly start: number;
  /** When every node outside the region reported it could not take writes (null: never). */
  readonly detectedAt: number | null;
  /** The heal. */
  readonly end: number;
  /** The global name's TTL: reads from other regions may still resolve to the cut-off one this long after T0. */
  readonly dnsTtlMs: number;
}

export interface OutageResult {
  readonly region: string;
  /** Per other client region: reads during the window and how many succeeded. */
  readonly reads: Readonly<Record<string, { readonly total: number; readonly ok: number; readonly ratio: number | null }>>;
  /** Reads from other regions answered through an address of the cut-off region after T0 + TTL. */
  readonly readsRoutedToDeadRegion: number;
  /** Writes from other regions started between detection and the heal. */
  readonly writesAfterDetection: number;
  /** Of those, the ones not refused cleanly (not 503, no code, no Retry-After, or no answer). */
  readonly uncleanRefusals: ReadonlyArray<{ readonly region: string; readonly seq: number; readonly status: number; readonly error: string | null }>;
  /** Writes started between T0 and detection that ended without an answer (informational). */
  readonly unknownBeforeDetection: number;
}

/** Reads from the other regions during a home outage must succeed at least this often. */
export const OUTAGE_READ_SUCCESS = 0.999;

/** The home-outage judgement over the client regions other than the cut-off one. */
export function outageResult(ops: OpsByRegion, window: OutageWindow, ipRegions: Readonly<Record<string, string>>): OutageResult {
  const reads: Record<string, { total: number; ok: number; ratio: number | null }> = {};
  let routed = 0;
  let writesAfterDetection = 0;
  let unknownBeforeDetection = 0;
  const unclean: Array<{ region: string; seq: number; status: number; error: string | null }> = [];
  const detected = window.detectedAt ?? window.end;
  for (const [region, regionOps] of Object.entries(ops)) {
    if (region === window.region) continue;
    const during = regionOps.filter((o) => o.t >= window.start && o.t < window.end);
    const regionReads = during.filter((o) => o.op === 'read');
    const ok = regionReads.filter(opSucceeded).length;
    reads[region] = { total: regionReads.length, ok, ratio: regionReads.length === 0 ? null : ok / regionReads.length };
    routed += regionOps.filter((o) => o.op === 'read' && o.t >= window.start + window.dnsTtlMs && o.t < window.end && ipRegions[o.resolved ?? ''] === window.region).length;
    for (const write of during.filter((o) => o.op === 'write')) {
      if (write.t < detected) {
        if (write.outcome === 'unknown') unknownBeforeDetection++;
        continue;
      }
      writesAfterDetection++;
      const clean = write.status === 503 && write.error !== undefined && /^[A-Z_]+$/.test(write.error) && write.retryAfter !== undefined && write.retryAfter !== null;
      if (!clean) unclean.push({ region, seq: write.seq, status: write.status, error: write.error ?? null });
    }
  }
  return { region: window.region, reads, readsRoutedToDeadRegion: routed, writesAfterDetection, uncleanRefusals: unclean, unknownBeforeDetection };
}
