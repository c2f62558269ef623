/**
 * @module The failover drill's scorecard (aws-geo-notes §4.2), computed from what the load agents
 * recorded (scripts/drill/load), the drill's own facts (fault time T0, step timings, the regions
 * withdrawn from DNS) and two checks run after the drill: `verifyAcknowledged` (is every
 * acknowledged write still there, with its bytes?) and an audit (does every metadata entry have
 * its bytes, and every blob its entry, in every region?). The audit is injected: the rehearsal's
 * is in audit.ts, another provider supplies its own.
 *
 * `computeScorecard` is pure (no clock, no I/O), so every number here is unit-tested.
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
import { isAcknowledgedWrite, sha256, type OpRecord } from './load/agent.js';

export type { OpRecord } from './load/agent.js';
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

/** An acknowledged write as the verification found it. */
export interface CheckedWrite {
  readonly path: string;
  readonly region: string;
  readonly seq: number;
  /** When the acknowledgement arrived (epoch ms). */
  readonly ackedAt: number;
  readonly sha: string;
  /** Status of the verification's GET (0: no answer). */
  readonly status: number;
  /** sha256 of what the GET returned, when it returned 2xx. */
  readonly foundSha?: string;
  readonly error?: string;
}

export interface VerificationResult {
  /** Acknowledged writes checked. */
  readonly checked: number;
  /** Answered 404: gone. */
  readonly lost: readonly CheckedWrite[];
  /** Answered 2xx with other bytes. */
  readonly stale: readonly CheckedWrite[];
  /** Could not be checked (no answer, or an error other than 404). */
  readonly unverified: readonly CheckedWrite[];
  /** Writes recorded `unknown` that turned out to exist afterwards (informational). */
  readonly unknownLanded: number;
  readonly unknownChecked: number;
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

/** A metadata entry whose bytes are not where they should be. */
export interface DanglingEntry {
  readonly path: string;
  readonly backend: 'localfs' | 's3';
  /** Bucket or node that lacks the bytes. */
  readonly where: string;
  /** e.g. `missing`, `older version 2 < 3`, `size 10 != 12`. */
  readonly reason: string;
}

/** Bytes stored with no entry pointing at them. */
export interface OrphanBlob {
  readonly key: string;
  readonly where: string;
  /**
   * For a versioned blob (`.callfs/blobs/…`, a key the node chose): the path the drill's load
   * writer named in the body's first line (`drill <run> <region> seq=<n>`), when it is one of its.
   */
  readonly writtenFor?: string;
  /** For a versioned blob that names no write: its size and first bytes. */
  readonly content?: string;
  /**
   * A copy of the current version of this entry (same blob key) on a node no replica row names:
   * an unrecorded replica (its row was not written, e.g. a replication cut by a failover); not
   * bytes without an entry, so not an orphan the cluster could lose data by.
   */
  readonly copyOf?: string;
}

export interface RegionAudit {
  /** Entries whose bytes were looked for in this region. */
  readonly checked: number;
  readonly dangling: readonly DanglingEntry[];
  /** Missing or older copies recent enough to be replication still under way. */
  readonly notYetReplicated: readonly DanglingEntry[];
  readonly orphans: readonly OrphanBlob[];
}

export interface AuditReport {
  /** What was audited, e.g. `rehearsal (primary: us)`. */
  readonly source: string;
  readonly at: number;
  readonly regions: Readonly<Record<string, RegionAudit>>;
  /** Set when the audit could not run (or only partly). */
  readonly error?: string;
}

/** An audit of the deployment, supplied by the provider. */
export type AuditFunction = () => Promise<AuditReport>;

/** An orphan blob and the write that left it, as far as the load's records tell. */
export interface OrphanFinding {
  readonly key: string;
  readonly where: string;
  /** Which write left it, or why that is unknown. */
  readonly cause: string;
  /** Left by a write that was never acknowledged (bytes stored, row never committed): expected debris. */
  readonly explained: boolean;
  /** Removed after the audit. */
  readonly cleaned: boolean;
}

/** A standby database server at the end of the drill (provider `standbys()`). */
export interface StandbyAtEnd {
  readonly name: string;
  readonly region: string;
  readonly streaming: boolean;
  readonly lagMs: number | null;
  readonly detail: string | null;
}

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

/** A successful operation: an acknowledged write or a read of the expected bytes. */
export function opSucceeded(op: OpRecord): boolean {
  return op.outcome === 'ok';
}

function byStart(ops: readonly OpRecord[]): OpRecord[] {
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

function failureKey(op: OpRecord): string {
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

/** The promotion window: given, or the span of the steps named like a promotion. */
export function promotionWindow(steps: readonly StepTiming[], given?: TimeWindow | null): TimeWindow | null {
  if (given !== undefined) return given;
  const promotions = steps.filter((s) => /promot/i.test(s.name));
  if (promotions.length === 0) return null;
  return { start: Math.min(...promotions.map((s) => s.start)), end: Math.max(...promotions.map((s) => s.end)) };
}

export function rpoOf(verification: VerificationResult | null, faultAt: number): RpoResult {
  const v: VerificationResult = verification ?? { checked: 0, lost: [], stale: [], unverified: [], unknownLanded: 0, unknownChecked: 0 };
  const gone = [...v.lost, ...v.stale];
  const earliest = gone.length === 0 ? null : Math.min(...gone.map((w) => w.ackedAt));
  const ms = earliest === null ? 0 : Math.max(0, faultAt - earliest);
  return { lost: v.lost, stale: v.stale, unverified: v.unverified, count: gone.length, ms, seconds: ms / 1000, checked: v.checked, unknownLanded: v.unknownLanded, unknownChecked: v.unknownChecked };
}

function auditTotals(audit: AuditReport): { dangling: number; pending: number; orphans: number; checked: number } {
  const regions = Object.values(audit.regions);
  return {
    dangling: regions.reduce((n, r) => n + r.dangling.length, 0),
    pending: regions.reduce((n, r) => n + r.notYetReplicated.length, 0),
    orphans: regions.reduce((n, r) => n + r.orphans.length, 0),
    checked: regions.reduce((n, r) => n + r.checked, 0),
  };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Names the write that left each orphan of `audit`: a load write to the same path that was never
 * acknowledged stored its bytes but not its row. The path is the orphan's key without the leading
 * slash (bytes stored at their path), or, for a versioned blob, the path its body names
 * (`writtenFor`); drill probes are the drill's own. Anything else is unexplained.
 */
export function explainOrphans(audit: AuditReport | null, ops: OpsByRegion, earlierWrites: readonly OpRecord[] = []): OrphanFinding[] {
  if (audit === null) return [];
  const writes = new Map([...earlierWrites, ...Object.values(ops).flat()].filter((o) => o.op === 'write').map((o) => [o.path, o]));
  const findings: OrphanFinding[] = [];
  for (const region of Object.values(audit.regions)) {
    for (const orphan of region.orphans) {
      if (orphan.copyOf !== undefined) {
        findings.push({ key: orphan.key, where: orphan.where, cause: `an unrecorded copy of the current version of ${orphan.copyOf} (no replica row names this node; the entry itself is whole)`, explained: true, cleaned: false });
        continue;
      }
      const write = writes.get(orphan.writtenFor ?? `/${orphan.key}`);
      if (write !== undefined) {
        const answered = write.status === 0 ? 'no answer' : `${write.status}${write.error === undefined ? '' : ` ${write.error}`}`;
        const at = new Date(write.t).toISOString().slice(11, 23);
        findings.push({
          key: orphan.key,
          where: orphan.where,
          cause: `load write seq ${write.seq} from ${write.region} at ${at} (${write.outcome}: ${answered})`,
          explained: write.outcome !== 'ok',
          cleaned: false,
        });
      } else if (orphan.key.startsWith('drill-probes/') || orphan.writtenFor?.startsWith('/drill-probes/') === true) {
        findings.push({ key: orphan.key, where: orphan.where, cause: 'a drill probe write whose row did not commit or whose delete did not finish', explained: true, cleaned: false });
      } else {
        findings.push({ key: orphan.key, where: orphan.where, cause: orphan.writtenFor === undefined ? `no write of the drill names this key${orphan.content === undefined ? '' : ` (${orphan.content})`}` : `its body names ${orphan.writtenFor}, a write of no load run on record`, explained: false, cleaned: false });
      }
    }
  }
  return findings;
}

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

// ---- verification ------------------------------------------------------------------------------

export interface FetchedFile {
  /** 0 when no answer came. */
  readonly status: number;
  readonly body: Buffer;
  readonly error?: string;
}

/** GETs one file by its path (`/drill/...`), from wherever the caller decides (a namespace, AWS). */
export type FetchFile = (path: string) => Promise<FetchedFile>;

export interface VerifyOptions {
  /** Requests in flight at once (default 8). */
  readonly concurrency?: number;
  /** A write found missing or stale is asked again after this long before it counts (default 2000; replicas may lag). */
  readonly recheckDelayMs?: number;
  /** Also look up the writes recorded `unknown` (default true). */
  readonly checkUnknown?: boolean;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, action: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await action(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * Looks up every acknowledged write of `ops` with `fetchFile` and compares its sha256: 404 → lost,
 * other bytes → stale, anything else that is not 2xx → unverified. Missing or stale ones are
 * asked once more after `recheckDelayMs` before they count.
 */
export async function verifyAcknowledged(ops: OpsByRegion, fetchFile: FetchFile, options: VerifyOptions = {}): Promise<VerificationResult> {
  const acked = Object.values(ops).flat().filter(isAcknowledgedWrite);
  const check = async (op: OpRecord): Promise<CheckedWrite> => {
    const answer = await fetchFile(op.path);
    const base = { path: op.path, region: op.region, seq: op.seq, ackedAt: op.t + op.ms, sha: op.sha ?? '', status: answer.status };
    if (answer.status >= 200 && answer.status < 300) return { ...base, foundSha: sha256(answer.body) };
    return answer.error === undefined ? base : { ...base, error: answer.error };
  };
  const classify = (w: CheckedWrite): 'ok' | 'lost' | 'stale' | 'unverified' =>
    w.status === 404 ? 'lost' : w.status >= 200 && w.status < 300 ? (w.foundSha === w.sha ? 'ok' : 'stale') : 'unverified';
  const concurrency = options.concurrency ?? 8;
  let checked = await mapLimited(acked, concurrency, check);
  const doubtful = checked.map((w, i) => ({ w, i })).filter(({ w }) => classify(w) === 'lost' || classify(w) === 'stale');
  if (doubtful.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, options.recheckDelayMs ?? 2000));
    const again = await mapLimited(doubtful, concurrency, ({ i }) => check(acked[i] as OpRecord));
    checked = [...checked];
    doubtful.forEach(({ i }, k) => {
      const second = again[k];
      if (second !== undefined) checked[i] = second;
    });
  }
  let unknownLanded = 0;
  const unknown = options.checkUnknown === false ? [] : Object.values(ops).flat().filter((o) => o.op === 'write' && o.outcome === 'unknown');
  const unknownAnswers = await mapLimited(unknown, concurrency, (op) => fetchFile(op.path));
  unknownAnswers.forEach((a) => {
    if (a.status >= 200 && a.status < 300) unknownLanded++;
  });
  return {
    checked: checked.length,
    lost: checked.filter((w) => classify(w) === 'lost'),
    stale: checked.filter((w) => classify(w) === 'stale'),
    unverified: checked.filter((w) => classify(w) === 'unverified'),
    unknownLanded,
    unknownChecked: unknown.length,
  };
}

// ---- everything together -----------------------------------------------------------------------

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
