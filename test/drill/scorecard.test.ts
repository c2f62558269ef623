/**
 * The drill scorecard over synthetic agent logs: RTO windows, DNS convergence, acknowledged vs
 * unknown writes, the RPO lists, errors by phase, the audit's judgement, the Markdown and the
 * history folder.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgeAudit, readBucketDir, readNodeFiles, type AuditSnapshot, type StoredBlob } from '../../scripts/drill/local/audit.js';
import { sha256, type OpOutcome, type OpRecord } from '../../scripts/drill/load/agent.js';
import { printScorecard, renderScorecardMarkdown, writeScorecard } from '../../scripts/drill/report.js';
import {
  computeScorecard,
  dnsConvergence,
  errorsByPhase,
  explainOrphans,
  recoveryTime,
  scoreDrill,
  verifyAcknowledged,
  type AuditReport,
  type FetchFile,
  type ScorecardInput,
} from '../../scripts/drill/scorecard.js';

const T0 = 1_700_000_000_000;
const EU_IP = '10.9.1.11';
const US_IP = '10.9.2.11';
const AP_IP = '10.9.3.11';
const IP_REGIONS = { [EU_IP]: 'eu', [US_IP]: 'us', [AP_IP]: 'ap' };

interface OpSpec {
  readonly at: number;
  readonly op?: 'write' | 'read';
  readonly outcome?: OpOutcome;
  readonly status?: number;
  readonly resolved?: string | null;
  readonly region?: string;
  readonly seq?: number;
  readonly ms?: number;
}

function op(spec: OpSpec): OpRecord {
  const outcome = spec.outcome ?? 'ok';
  const kind = spec.op ?? 'write';
  const region = spec.region ?? 'eu';
  const seq = spec.seq ?? Math.round(spec.at);
  return {
    t: T0 + spec.at,
    ms: spec.ms ?? 20,
    op: kind,
    region,
    path: `/drill/run1/${region}/${seq}`,
    seq,
    status: spec.status ?? (outcome === 'ok' ? (kind === 'write' ? 201 : 200) : outcome === 'unknown' ? 0 : 503),
    outcome,
    servedBy: null,
    resolved: spec.resolved === undefined ? EU_IP : spec.resolved,
    sha: sha256(Buffer.from(`body ${region} ${seq}`)),
  };
}

/** Operations every `step` ms in [from, to), failing in [failFrom, failTo). */
function series(from: number, to: number, step: number, fail?: { from: number; to: number; outcome?: OpOutcome; status?: number }, extra: Partial<OpSpec> = {}): OpRecord[] {
  const ops: OpRecord[] = [];
  for (let at = from; at < to; at += step) {
    const failing = fail !== undefined && at >= fail.from && at < fail.to;
    ops.push(op({ ...extra, at, seq: at + 100_000, ...(failing ? { outcome: fail.outcome ?? 'failed', status: fail.status ?? 503 } : {}) }));
  }
  return ops;
}

describe('RTO: the first steady window after the fault', () => {
  it('starts at the first operation after the last failure', () => {
    const ops = series(-5000, 30_000, 500, { from: 1000, to: 8000 });
    expect(recoveryTime(ops, T0, 10_000, T0 + 30_000)).toBe(T0 + 8000);
  });

  it('is the fault time itself when nothing failed', () => {
    expect(recoveryTime(series(-5000, 30_000, 500), T0, 10_000, T0 + 30_000)).toBe(T0);
  });

  it('is null when the clean stretch after the last failure is shorter than the steady window', () => {
    const ops = series(-5000, 15_000, 500, { from: 1000, to: 8000 });
    expect(recoveryTime(ops, T0, 10_000, T0 + 15_000)).toBeNull();
  });

  it('restarts after a failure that comes back inside a candidate window', () => {
    const ops = [...series(-2000, 40_000, 500, { from: 1000, to: 3000 }).filter((o) => o.t !== T0 + 12_000), op({ at: 12_000, outcome: 'failed', status: 0 })].sort((a, b) => a.t - b.t);
    expect(recoveryTime(ops, T0, 10_000, T0 + 40_000)).toBe(T0 + 12_500);
  });

  it('needs operations inside the window: a silent region has not recovered', () => {
    const ops = [op({ at: -1000 }), op({ at: 500, outcome: 'failed' })];
    expect(recoveryTime(ops, T0, 10_000, T0 + 60_000)).toBeNull();
  });

  it('counts an unknown write and a read with other bytes as failures', () => {
    const unknown = [...series(0, 20_000, 1000).filter((o) => o.t !== T0 + 3000), op({ at: 3000, outcome: 'unknown' })];
    expect(recoveryTime(unknown, T0, 5000, T0 + 20_000)).toBe(T0 + 4000);
    const mismatch = [...series(0, 20_000, 1000).filter((o) => o.t !== T0 + 2000), op({ at: 2000, op: 'read', outcome: 'mismatch', status: 200 })];
    expect(recoveryTime(mismatch, T0, 5000, T0 + 20_000)).toBe(T0 + 3000);
  });
});

describe('DNS time', () => {
  const withdrawn = new Set(['eu']);

  it('runs from T0 to the first operation after which the name stays off the withdrawn region', () => {
    const ops = [
      ...series(-3000, 3000, 500, undefined, { resolved: EU_IP }),
      op({ at: 3000, resolved: US_IP }),
      op({ at: 3500, resolved: EU_IP }), // a resolver that flapped back once
      ...series(4000, 10_000, 500, undefined, { resolved: US_IP }),
    ];
    expect(dnsConvergence(ops, T0, withdrawn, IP_REGIONS)).toEqual({ dnsMs: 4000, affected: true });
  });

  it('ignores failed resolutions', () => {
    const ops = [op({ at: -500, resolved: EU_IP }), op({ at: 1000, resolved: null, outcome: 'failed', status: 0 }), op({ at: 2000, resolved: US_IP }), op({ at: 2500, resolved: null, outcome: 'failed', status: 0 })];
    expect(dnsConvergence(ops, T0, withdrawn, IP_REGIONS)).toEqual({ dnsMs: 2000, affected: true });
  });

  it('is 0 and unaffected for clients that never resolved to a withdrawn region', () => {
    expect(dnsConvergence(series(-2000, 5000, 500, undefined, { resolved: AP_IP }), T0, withdrawn, IP_REGIONS)).toEqual({ dnsMs: 0, affected: false });
  });

  it('is null when the name still points at the withdrawn region at the end', () => {
    expect(dnsConvergence(series(-2000, 5000, 500, undefined, { resolved: EU_IP }), T0, withdrawn, IP_REGIONS)).toEqual({ dnsMs: null, affected: true });
  });
});

describe('errors by phase', () => {
  it('splits before the fault, until recovery and after, counting failures by status', () => {
    const ops = [
      op({ at: -2000 }),
      op({ at: -1000, outcome: 'failed', status: 500 }),
      op({ at: 1000, outcome: 'failed', status: 503 }),
      op({ at: 1500, outcome: 'failed', status: 503 }),
      op({ at: 2000, outcome: 'unknown', status: 0 }),
      op({ at: 2500, op: 'read', outcome: 'mismatch', status: 200 }),
      op({ at: 3000 }),
      op({ at: 9000 }),
      op({ at: 9500, op: 'read', outcome: 'failed', status: 404 }),
    ];
    const phases = errorsByPhase(ops, T0, T0 + 3000);
    expect(phases.before).toEqual({ ops: 2, failed: 1, byStatus: { '500': 1 }, unknownWrites: 0 });
    expect(phases.during).toEqual({ ops: 4, failed: 4, byStatus: { '503': 2, '0': 1, '200 mismatch': 1 }, unknownWrites: 1 });
    expect(phases.after).toEqual({ ops: 3, failed: 1, byStatus: { '404': 1 }, unknownWrites: 0 });
  });

  it('puts everything after the fault in "during" when the region never recovered', () => {
    const phases = errorsByPhase([op({ at: -1 }), op({ at: 5000, outcome: 'failed' }), op({ at: 60_000 })], T0, null);
    expect(phases.during.ops).toBe(2);
    expect(phases.after.ops).toBe(0);
  });
});

/** A fake service: `stored` maps path → bytes; a missing path answers 404. */
function fakeService(stored: Map<string, Buffer>, calls: string[] = []): FetchFile {
  return async (path) => {
    calls.push(path);
    const body = stored.get(path);
    return body === undefined ? { status: 404, body: Buffer.from('{"code":"FILE_NOT_FOUND"}') } : { status: 200, body };
  };
}

function write(region: string, seq: number, at: number, outcome: OpOutcome = 'ok'): { op: OpRecord; body: Buffer } {
  const body = Buffer.from(`body ${region} ${seq}`);
  return { op: { ...op({ at, region, seq, outcome }), sha: sha256(body) }, body };
}

describe('verifyAcknowledged and the RPO', () => {
  it('checks only acknowledged writes: an unknown or failed write is never counted as lost', async () => {
    const a = write('eu', 1, -3000);
    const unknown = write('eu', 2, -2000, 'unknown');
    const failed = write('eu', 3, -1000, 'failed');
    const calls: string[] = [];
    const result = await verifyAcknowledged({ eu: [a.op, unknown.op, failed.op] }, fakeService(new Map([[a.op.path, a.body], [unknown.op.path, unknown.body]]), calls), { recheckDelayMs: 0 });
    expect(result.checked).toBe(1);
    expect(result.lost).toEqual([]);
    expect(result.unknownChecked).toBe(1);
    expect(result.unknownLanded).toBe(1);
    expect(calls).not.toContain(failed.op.path);
  });

  it('lists missing and stale writes, counts them, and takes the RPO time from the earliest', async () => {
    const writes = [write('eu', 1, -9000), write('eu', 2, -7000), write('us', 3, -4000), write('us', 4, -2000), write('eu', 5, 1000)];
    const stored = new Map(writes.map((w) => [w.op.path, w.body]));
    stored.delete(writes[1]!.op.path); // lost
    stored.set(writes[3]!.op.path, Buffer.from('older bytes')); // stale
    const ops = { eu: writes.filter((w) => w.op.region === 'eu').map((w) => w.op), us: writes.filter((w) => w.op.region === 'us').map((w) => w.op) };
    const verification = await verifyAcknowledged(ops, fakeService(stored), { recheckDelayMs: 0 });
    expect(verification.checked).toBe(5);
    expect(verification.lost.map((w) => w.seq)).toEqual([2]);
    expect(verification.stale.map((w) => w.seq)).toEqual([4]);
    expect(verification.stale[0]?.foundSha).toBe(sha256(Buffer.from('older bytes')));
    const card = computeScorecard(input({ ops, verification }));
    expect(card.rpo.count).toBe(2);
    // Earliest lost: seq 2, acknowledged at T0 − 7000 + 20 ms.
    expect(card.rpo.ms).toBe(6980);
    expect(card.rpo.seconds).toBeCloseTo(6.98);
    expect(card.verdicts.find((v) => v.check.startsWith('RPO'))?.ok).toBe(false);
    expect(card.pass).toBe(false);
  });

  it('asks again before declaring a write lost (a lagging replica), and reports unanswered checks as unverified', async () => {
    const late = write('eu', 1, -1000);
    const down = write('eu', 2, -500);
    let first = true;
    const fetchFile: FetchFile = async (path) => {
      if (path === down.op.path) return { status: 0, body: Buffer.alloc(0), error: 'ECONNREFUSED' };
      if (first) {
        first = false;
        return { status: 404, body: Buffer.alloc(0) };
      }
      return { status: 200, body: late.body };
    };
    const result = await verifyAcknowledged({ eu: [late.op, down.op] }, fetchFile, { recheckDelayMs: 10 });
    expect(result.lost).toEqual([]);
    expect(result.unverified.map((w) => [w.seq, w.error])).toEqual([[2, 'ECONNREFUSED']]);
  });
});

function input(overrides: Partial<ScorecardInput> = {}): ScorecardInput {
  return {
    drill: 'primary-failover',
    provider: 'local',
    runId: 'run1',
    startedAt: T0 - 20_000,
    faultAt: T0,
    steps: [
      { name: 'preflight', start: T0 - 15_000, end: T0 - 10_000, ok: true },
      { name: 'partition eu', start: T0 - 100, end: T0, ok: true },
      { name: 'promote us database', start: T0 + 2000, end: T0 + 6500, ok: true, detail: 'lsn 0/3000060' },
    ],
    withdrawnRegions: ['eu'],
    ipRegions: IP_REGIONS,
    ops: {},
    verification: { checked: 0, lost: [], stale: [], unverified: [], unknownLanded: 0, unknownChecked: 0 },
    lagBeforeFaultMs: { eu: 0, us: 12, ap: 40 },
    audit: null,
    budgets: { steadyMs: 10_000, rtoBudgetMs: 60_000 },
    ...overrides,
  };
}

const AUDIT: AuditReport = {
  source: 'synthetic',
  at: T0 + 40_000,
  regions: {
    eu: { checked: 10, dangling: [{ path: '/drill/run1/eu/7', backend: 's3', where: 'bucket b-eu', reason: 'missing' }], notYetReplicated: [], orphans: [] },
    us: { checked: 10, dangling: [], notYetReplicated: [{ path: '/drill/run1/us/9', backend: 's3', where: 'bucket b-us', reason: 'missing' }], orphans: [{ key: 'junk/1', where: 'bucket b-us' }] },
  },
};

describe('computeScorecard', () => {
  const drillOps = {
    eu: [
      ...series(-10_000, 0, 500, undefined, { region: 'eu', resolved: EU_IP }),
      ...series(0, 8000, 500, { from: 0, to: 8000, status: 0, outcome: 'failed' }, { region: 'eu', resolved: EU_IP }),
      ...series(8000, 30_000, 500, undefined, { region: 'eu', resolved: US_IP }),
    ],
    us: [...series(-10_000, 30_000, 500, { from: 2000, to: 4000, status: 503 }, { region: 'us', resolved: US_IP })],
  };

  it('gives RTO and DNS per region, the promotion time, errors and a pass', () => {
    const card = computeScorecard(input({ ops: drillOps }));
    expect(card.rto['eu']).toMatchObject({ rtoMs: 8000, dnsMs: 8000, dnsAffected: true, failuresAfterFault: 16 });
    expect(card.rto['us']).toMatchObject({ rtoMs: 4000, dnsMs: 0, dnsAffected: false, failuresAfterFault: 4 });
    expect(card.rtoMaxMs).toBe(8000);
    expect(card.dbPromotion).toEqual({ start: T0 + 2000, end: T0 + 6500 });
    expect(card.dbPromotionMs).toBe(4500);
    expect(card.dbPromotedAfterMs).toBe(6500);
    expect(card.errors['eu']?.during.byStatus).toEqual({ '0': 16 });
    expect(card.errors['us']?.during.byStatus).toEqual({ '503': 4 });
    expect(card.errors['us']?.after.failed).toBe(0);
    expect(card.load['eu']).toMatchObject({ writes: 80, acknowledged: 64 });
    expect(card.pass).toBe(true);
  });

  it('fails on an RTO over budget, a region that did not recover, a failed step and a dangling audit entry', () => {
    expect(computeScorecard(input({ ops: drillOps, budgets: { steadyMs: 10_000, rtoBudgetMs: 5000 } })).pass).toBe(false);
    const stuck = computeScorecard(input({ ops: { ...drillOps, ap: series(-5000, 30_000, 500, { from: 0, to: 25_000 }, { region: 'ap', resolved: AP_IP }) } }));
    expect(stuck.rto['ap']?.rtoMs).toBeNull();
    expect(stuck.rtoMaxMs).toBeNull();
    expect(stuck.pass).toBe(false);
    const badStep = computeScorecard(input({ ops: drillOps, steps: [{ name: 'promote', start: T0, end: T0 + 1, ok: false }] }));
    expect(badStep.verdicts.find((v) => v.check.includes('step'))?.ok).toBe(false);
    expect(badStep.pass).toBe(false);
    const audited = computeScorecard(input({ ops: drillOps, audit: AUDIT }));
    expect(audited.verdicts.find((v) => v.check.startsWith('audit'))).toMatchObject({ ok: false, detail: expect.stringContaining('1 dangling, 1 not yet replicated, 1 orphan') });
  });

  it('reports the audit from an injected function, and an audit that throws as an error in the card', async () => {
    const good = await scoreDrill(input({ ops: drillOps }), { fetchFile: null, audit: async () => AUDIT });
    expect(good.audit).toBe(AUDIT);
    expect(good.verdicts.find((v) => v.check.startsWith('RPO'))?.ok).toBeNull();
    const broken = await scoreDrill(input({ ops: drillOps }), {
      fetchFile: null,
      audit: async () => {
        throw new Error('psql: connection refused');
      },
    });
    expect(broken.audit?.error).toBe('psql: connection refused');
    expect(broken.pass).toBe(false);
  });
});

const scratch = mkdtempSync(join(tmpdir(), 'scorecard-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('reports', () => {
  it('renders the key numbers in Markdown and a short terminal summary', async () => {
    const lostWrite = write('eu', 42, -3000);
    const verification = await verifyAcknowledged({ eu: [lostWrite.op] }, fakeService(new Map()), { recheckDelayMs: 0 });
    const card = computeScorecard(
      input({
        ops: { eu: [...series(-5000, 0, 500, undefined, { resolved: EU_IP }), ...series(0, 25_000, 500, { from: 0, to: 7500, status: 503 }, { resolved: US_IP })] },
        verification,
        audit: AUDIT,
      }),
    );
    const md = renderScorecardMarkdown(card);
    expect(md).toContain('# Drill scorecard: primary-failover (local) — FAIL');
    expect(md).toMatch(/\| eu \| 7\.5 s \| 0\.0 s \|/); // RTO and DNS of eu
    expect(md).toContain('Database promotion: 4.5 s');
    expect(md).toContain('**1** acknowledged write(s) lost or stale');
    expect(md).toContain('RPO time **3.0 s**');
    expect(md).toContain('/drill/run1/eu/42');
    expect(md).toContain('503×15');
    expect(md).toContain('| us | 12 ms |');
    expect(md).toContain('/drill/run1/eu/7');
    expect(md).toContain('promote us database');
    const lines: string[] = [];
    printScorecard(card, (l) => lines.push(l));
    expect(lines[0]).toContain('FAIL');
    expect(lines.join('\n')).toContain('RPO 1 write(s)');
    expect(lines.length).toBeLessThan(15);
  });

  it('writes the run, latest and one history row per run', () => {
    const dir = join(scratch, 'history');
    const first = computeScorecard(input({ ops: { eu: series(-5000, 20_000, 500) } }));
    const second = computeScorecard(input({ runId: 'run2', startedAt: T0 + 3_600_000, faultAt: T0 + 3_600_000, ops: { eu: series(3_600_000 - 5000, 3_600_000 + 1000, 500) } }));
    const a = writeScorecard(dir, first);
    const b = writeScorecard(dir, second);
    expect(a.json).not.toBe(b.json);
    expect(JSON.parse(readFileSync(a.json, 'utf8'))).toMatchObject({ runId: 'run1', pass: true });
    expect(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8'))).toMatchObject({ runId: 'run2', pass: false });
    expect(readFileSync(join(dir, 'latest.md'), 'utf8')).toBe(readFileSync(b.markdown, 'utf8'));
    const rows = readFileSync(b.history, 'utf8').split('\n').filter((l) => l.startsWith('| 20'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('| run1 |');
    expect(rows[0]).toContain('| pass |');
    expect(rows[1]).toContain('| run2 |');
    expect(rows[1]).toContain('| FAIL |');
    expect(readFileSync(b.history, 'utf8').match(/^\| date \|/gm)).toHaveLength(1);
  });
});

describe('the rehearsal audit', () => {
  const blob = (size: number, mtimeMs: number, version: number | null = null): StoredBlob => ({ size, mtimeMs, version });
  const readAt = T0;

  it('finds dangling entries, replication under way and orphans in every region', () => {
    const snapshot: AuditSnapshot = {
      readAt,
      entries: [
        { path: '/ok', backend: 's3', instance: null, size: 3, version: 1, updatedMs: readAt - 600_000 },
        { path: '/recent', backend: 's3', instance: null, size: 3, version: 1, updatedMs: readAt - 1000 },
        { path: '/old-missing', backend: 's3', instance: null, size: 3, version: 1, updatedMs: readAt - 600_000 },
        { path: '/gone', backend: 's3', instance: null, size: 3, version: 1, updatedMs: readAt - 1000 },
        { path: '/v2', backend: 's3', instance: null, size: 3, version: 2, updatedMs: readAt - 600_000 },
        { path: '/local', backend: 'localfs', instance: 'eu-1', size: 5, version: 1, updatedMs: readAt - 600_000 },
        { path: '/local-lost', backend: 'localfs', instance: 'eu-2', size: 5, version: 1, updatedMs: readAt - 600_000 },
      ],
      replicas: [
        { path: '/local', instance: 'us-1', version: 1 },
        { path: '/local', instance: 'us-2', version: 0 }, // an older copy: not expected to match
      ],
      buckets: {
        eu: { bucket: 'b-eu', objects: new Map([['ok', blob(3, 0)], ['recent', blob(3, 0)], ['old-missing', blob(3, 0)], ['v2', blob(3, 0, 2)], ['stray', blob(1, readAt - 60_000)], ['fresh', blob(1, readAt + 10)]]) },
        us: { bucket: 'b-us', objects: new Map([['ok', blob(3, 0)], ['v2', blob(3, 0, 1)]]) },
      },
      nodes: {
        'eu-1': { region: 'eu', files: new Map([['local', blob(5, 0)]]) },
        'eu-2': { region: 'eu', files: new Map() },
        'us-1': { region: 'us', files: new Map([['local', blob(4, 0)], ['leftover', blob(2, readAt - 60_000)]]) },
        'us-2': { region: 'us', files: new Map() },
      },
    };
    const audit = judgeAudit(snapshot, { replicationGraceMs: 30_000, orphanSlackMs: 5000 });
    expect(audit['eu']?.dangling.map((d) => [d.path, d.reason])).toEqual([
      ['/gone', 'missing (in no bucket)'],
      ['/local-lost', 'missing on the holder'],
    ]);
    expect(audit['eu']?.orphans).toEqual([{ key: 'stray', where: 'bucket b-eu' }]);
    expect(audit['us']?.notYetReplicated.map((d) => d.path)).toEqual(['/recent']);
    expect(audit['us']?.dangling.map((d) => [d.path, d.reason])).toEqual([
      ['/old-missing', 'missing'],
      ['/gone', 'missing (in no bucket)'],
      ['/v2', 'older version 1 < 2'],
      ['/local', 'size 4 != 5 on the replica'],
    ]);
    expect(audit['us']?.orphans).toEqual([{ key: 'leftover', where: 'node us-1' }]);
    expect(audit['eu']?.checked).toBe(5 + 2);
    expect(audit['us']?.checked).toBe(5 + 1);
  });

  it('finds versioned bytes under their blob keys, on holders and replicas, and names the load write an orphan was for', () => {
    const k = (n: number): string => `.callfs/blobs/${String(n).padStart(2, '0')}/${String(n).padStart(2, '0')}${'0'.repeat(30)}`;
    const snapshot: AuditSnapshot = {
      readAt,
      entries: [
        { path: '/s3file', backend: 's3', instance: null, size: 3, version: 4, updatedMs: readAt - 600_000, blobKey: k(1) },
        { path: '/localfile', backend: 'localfs', instance: 'eu-1', size: 5, version: 2, updatedMs: readAt - 600_000, blobKey: k(2) },
        { path: '/lost', backend: 'localfs', instance: 'eu-1', size: 5, version: 1, updatedMs: readAt - 600_000, blobKey: k(3) },
      ],
      replicas: [{ path: '/localfile', instance: 'us-1', version: 2 }],
      buckets: {
        eu: { bucket: 'b-eu', objects: new Map([[k(1), blob(3, 0)], ['s3file', blob(3, 0, 1)]]) },
        us: { bucket: 'b-us', objects: new Map([[k(1), blob(3, 0)]]) },
      },
      nodes: {
        'eu-1': { region: 'eu', files: new Map([[k(2), blob(5, 0)], ['lost', blob(5, 0)], [k(9), { ...blob(7, 0), writtenFor: '/drill/run1/eu/9' }]]) },
        'us-1': { region: 'us', files: new Map([[k(2), blob(5, 0)]]) },
        'us-2': { region: 'us', files: new Map([[k(2), blob(5, 0)]]) },
      },
    };
    const audit = judgeAudit(snapshot, { replicationGraceMs: 30_000, orphanSlackMs: 5000 });
    // The blob of /lost is missing; bytes at its path do not count for an entry with a blob key.
    expect(audit['eu']?.dangling.map((d) => [d.path, d.reason])).toEqual([['/lost', 'missing on the holder']]);
    expect(audit['us']?.dangling).toEqual([]);
    expect(audit['eu']?.orphans).toEqual([
      { key: 's3file', where: 'bucket b-eu' },
      { key: 'lost', where: 'node eu-1' },
      { key: k(9), where: 'node eu-1', writtenFor: '/drill/run1/eu/9' },
    ]);
    // A copy of /localfile's current version on a node without a replica row: unrecorded, not lost.
    expect(audit['us']?.orphans).toEqual([{ key: k(2), where: 'node us-2', copyOf: '/localfile' }]);
    expect(explainOrphans(audit['us'] === undefined ? null : { source: 't', at: T0, regions: { us: audit['us'] } }, {})).toMatchObject([{ explained: true }]);
  });

  it('explains a versioned orphan by the load write its body names: unacknowledged explains it, acknowledged does not', () => {
    const ops = { eu: [op({ at: 1, seq: 5, outcome: 'unknown' }), op({ at: 2, seq: 6 })] };
    const orphans = [
      { key: '.callfs/blobs/aa/aa01', where: 'node eu-1', writtenFor: '/drill/run1/eu/5' },
      { key: '.callfs/blobs/aa/aa02', where: 'node eu-1', writtenFor: '/drill/run1/eu/6' },
      { key: '.callfs/blobs/aa/aa03', where: 'node eu-2', writtenFor: '/drill-probes/' },
      { key: '.callfs/blobs/aa/aa04', where: 'node eu-2' },
    ];
    const audit: AuditReport = { source: 'test', at: T0, regions: { eu: { checked: 2, dangling: [], notYetReplicated: [], orphans } } };
    expect(explainOrphans(audit, ops).map((o) => [o.key, o.explained])).toEqual([
      ['.callfs/blobs/aa/aa01', true],
      ['.callfs/blobs/aa/aa02', false],
      ['.callfs/blobs/aa/aa03', true],
      ['.callfs/blobs/aa/aa04', false],
    ]);
  });

  it('explains an orphan by an unacknowledged write of an earlier run on the same system', () => {
    const orphans = [{ key: '.callfs/blobs/bb/bb01', where: 'node eu-2', writtenFor: '/drill/run0/eu/3' }];
    const audit: AuditReport = { source: 'test', at: T0, regions: { eu: { checked: 1, dangling: [], notYetReplicated: [], orphans } } };
    const earlier = { ...op({ at: 1, seq: 3, outcome: 'unknown' }), path: '/drill/run0/eu/3' };
    expect(explainOrphans(audit, {}, [])[0]).toMatchObject({ explained: false, cause: 'its body names /drill/run0/eu/3, a write of no load run on record' });
    expect(explainOrphans(audit, {}, [earlier])[0]).toMatchObject({ explained: true });
  });

  it('reads which load write or drill probe a versioned blob was for from its first line', () => {
    const root = join(scratch, 'nodes', 'eu-9', 'files');
    mkdirSync(join(root, '.callfs', 'blobs', 'ab'), { recursive: true });
    writeFileSync(join(root, '.callfs', 'blobs', 'ab', 'ab01'), 'drill 20261204T0500Z eu seq=17\n0123abcd\n');
    writeFileSync(join(root, '.callfs', 'blobs', 'ab', 'ab02'), 'probe from us at 2026-12-04T05:00:00.000Z\n');
    writeFileSync(join(root, '.callfs', 'blobs', 'ab', 'ab03'), 'something else');
    const files = readNodeFiles(root);
    expect(files.get('.callfs/blobs/ab/ab01')?.writtenFor).toBe('/drill/20261204T0500Z/eu/17');
    expect(files.get('.callfs/blobs/ab/ab02')?.writtenFor).toBe('/drill-probes/');
    expect(files.get('.callfs/blobs/ab/ab03')?.writtenFor).toBeUndefined();
  });

  it('reads s3rver bucket directories and node roots as the rehearsal stores them', () => {
    const bucket = join(scratch, 's3', 'eu', 'b-eu');
    const put = (file: string, text: string): void => {
      mkdirSync(dirname(join(bucket, file)), { recursive: true });
      writeFileSync(join(bucket, file), text);
    };
    put('drill/run1/eu/1._S3rver_object', 'hello');
    put('drill/run1/eu/1._S3rver_metadata.json', JSON.stringify({ 'content-type': 'application/octet-stream', 'x-amz-meta-callfs-version': '3' }));
    put('drill/run1/eu/1._S3rver_object.md5', 'abc');
    put('drill/run1/._S3rver_object', ''); // the marker of directory drill/run1/
    put('plain._S3rver_object', 'xy');
    put('.callfs/cluster.json._S3rver_object', '{"cluster_id":"c"}');
    put('.callfs/quarantine/20261203T000000000Z/blobs/ab/cd/x._S3rver_object', 'orphan set aside');
    const objects = readBucketDir(bucket);
    expect([...objects.keys()].sort()).toEqual(['drill/run1/eu/1', 'plain']);
    expect(objects.get('drill/run1/eu/1')).toMatchObject({ size: 5, version: 3 });
    expect(objects.get('plain')?.version).toBeNull();

    const root = join(scratch, 'nodes', 'eu-1', 'files');
    mkdirSync(join(root, 'a', '.callfs-shards'), { recursive: true });
    writeFileSync(join(root, 'a', 'b.txt'), '123');
    writeFileSync(join(root, 'a', '.callfs-tmp-0001'), 'partial');
    writeFileSync(join(root, 'a', '.callfs-shards', 's0'), 'shard');
    utimesSync(join(root, 'a', 'b.txt'), new Date(1000), new Date(1000));
    mkdirSync(join(root, '.callfs', 'quarantine', '20261203T000000000Z'), { recursive: true });
    writeFileSync(join(root, '.callfs', 'cluster.json'), '{"cluster_id":"c"}');
    writeFileSync(join(root, '.callfs', 'quarantine', '20261203T000000000Z', 'x'), 'orphan set aside');
    const files = readNodeFiles(root);
    expect([...files.keys()]).toEqual(['a/b.txt']);
    expect(files.get('a/b.txt')).toEqual({ size: 3, mtimeMs: 1000, version: null });
  });
});
