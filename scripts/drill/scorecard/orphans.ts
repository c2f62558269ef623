/**
 * @module Explaining an audit's orphans: bytes no entry names are matched to the load write or
 * drill probe they came from (this run's or an earlier run's on the same deployment), so the card
 * says whether an orphan is a lost write or the leftover of one cut off by the fault.
 */
import { type OpRecord } from '../load/agent.js';
import type { OpsByRegion } from './facts.js';
import type { AuditReport } from './audit-report.js';

export function auditTotals(audit: AuditReport): { dangling: number; pending: number; orphans: number; checked: number } {
  const regions = Object.values(audit.regions);
  return {
    dangling: regions.reduce((n, r) => n + r.dangling.length, 0),
    pending: regions.reduce((n, r) => n + r.notYetReplicated.length, 0),
    orphans: regions.reduce((n, r) => n + r.orphans.length, 0),
    checked: regions.reduce((n, r) => n + r.checked, 0),
  };
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

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
