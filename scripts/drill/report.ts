/**
 * @module The scorecard as people read it: a Markdown report (summary, recovery per client region
 * with DNS and database times, RPO with the lost writes, errors by status and phase, replica lag
 * before the fault, audit, step timings), a few lines for the terminal, and a history folder where
 * every run leaves `<time>-<drill>.json`/`.md`, `latest.json`/`latest.md` point at the newest, and
 * `history.md` gains one row per run so drills can be compared over time.
 */
import { appendFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PHASES, type PhaseCounts, type Scorecard } from './scorecard.js';

/** Rows shown per list in the Markdown (the JSON has them all). */
const LIST_LIMIT = 50;

const secs = (ms: number | null): string => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);
const sinceFault = (card: Scorecard, at: number | null): string => (at === null ? '—' : `T0${at - card.faultAt >= 0 ? '+' : '−'}${(Math.abs(at - card.faultAt) / 1000).toFixed(1)} s`);
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const verdictText = (ok: boolean | null): string => (ok === null ? 'n/a' : ok ? 'pass' : '**FAIL**');

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

function statusList(byStatus: Readonly<Record<string, number>>): string {
  const entries = Object.entries(byStatus).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? '—' : entries.map(([status, n]) => `${status}×${n}`).join(', ');
}

function limited<T>(items: readonly T[]): { shown: readonly T[]; note: string[] } {
  return { shown: items.slice(0, LIST_LIMIT), note: items.length > LIST_LIMIT ? [`(${items.length - LIST_LIMIT} more in the JSON)`] : [] };
}

/** Failed operations at or after the fault, every region together. */
export function failuresAfterFault(card: Scorecard): { failed: number; ops: number; byStatus: Record<string, number> } {
  const total = { failed: 0, ops: 0, byStatus: {} as Record<string, number> };
  for (const phases of Object.values(card.errors)) {
    for (const phase of ['during', 'after'] as const) {
      const c: PhaseCounts = phases[phase];
      total.failed += c.failed;
      total.ops += c.ops;
      for (const [status, n] of Object.entries(c.byStatus)) total.byStatus[status] = (total.byStatus[status] ?? 0) + n;
    }
  }
  return total;
}

export function renderScorecardMarkdown(card: Scorecard): string {
  const lines: string[] = [];
  lines.push(`# Drill scorecard: ${card.drill} (${card.provider}) — ${card.pass ? 'PASS' : 'FAIL'}`, '');
  lines.push(
    `Run \`${card.runId}\`, started ${card.startedAt}; fault (T0) at ${new Date(card.faultAt).toISOString()}; load until ${sinceFault(card, card.endedAt)}.`,
    `Budgets: RTO ${secs(card.budgets.rtoBudgetMs)}, RPO ${card.budgets.rpoBudget} write(s); a region counts as recovered after ${secs(card.budgets.steadyMs)} without a failed operation.`,
    `Withdrawn from DNS: ${card.withdrawnRegions.length === 0 ? 'none' : card.withdrawnRegions.join(', ')}.`,
    '',
  );
  lines.push('## Summary', '', ...table(['check', 'result', 'detail'], card.verdicts.map((v) => [v.check, verdictText(v.ok), v.detail])), '');

  lines.push('## Recovery (RTO) per client region', '');
  lines.push(
    ...table(
      ['client region', 'RTO', 'DNS time', 'failed ops after T0', 'first failure', 'last failure', 'recovered'],
      Object.entries(card.rto).map(([region, r]) => [
        region,
        r.rtoMs === null ? '**not recovered**' : secs(r.rtoMs),
        r.dnsAffected ? (r.dnsMs === null ? '**still on a withdrawn region**' : secs(r.dnsMs)) : 'not affected',
        String(r.failuresAfterFault),
        sinceFault(card, r.firstFailureAt),
        sinceFault(card, r.lastFailureAt),
        sinceFault(card, r.recoveredAt),
      ]),
    ),
    '',
    `RTO max: **${secs(card.rtoMaxMs)}**. Database promotion: ${card.dbPromotion === null ? 'no promotion step' : `${secs(card.dbPromotionMs)} (${sinceFault(card, card.dbPromotion.start)} to ${sinceFault(card, card.dbPromotion.end)})`}.`,
    '',
  );

  const rpo = card.rpo;
  lines.push('## RPO', '');
  lines.push(
    `**${rpo.count}** acknowledged write(s) lost or stale of ${rpo.checked} checked (${rpo.lost.length} missing, ${rpo.stale.length} with other bytes); RPO time **${secs(rpo.ms)}**.`,
    `${rpo.unverified.length} could not be checked. Writes with an unknown outcome: ${rpo.unknownChecked}, of which ${rpo.unknownLanded} landed.`,
    '',
  );
  const gone = [...rpo.lost.map((w) => ({ w, kind: 'missing' })), ...rpo.stale.map((w) => ({ w, kind: 'stale' })), ...rpo.unverified.map((w) => ({ w, kind: 'unverified' }))];
  if (gone.length > 0) {
    const { shown, note } = limited(gone);
    lines.push(...table(['path', 'client region', 'seq', 'acknowledged', 'found'], shown.map(({ w, kind }) => [w.path, w.region, String(w.seq), sinceFault(card, w.ackedAt), `${kind} (status ${w.status}${w.error === undefined ? '' : `, ${w.error}`})`])), ...note, '');
  }

  lines.push('## Errors by status and phase', '', 'Phases: before T0, during (T0 until the region recovered), after recovery. `0` = no answer; `unknown` = writes whose outcome never came back.', '');
  lines.push(
    ...table(
      ['client region', 'phase', 'ops', 'failed', 'by status', 'unknown writes'],
      Object.entries(card.errors).flatMap(([region, phases]) => PHASES.map((p) => [region, p, String(phases[p].ops), String(phases[p].failed), statusList(phases[p].byStatus), String(phases[p].unknownWrites)])),
    ),
    '',
  );
  lines.push(
    '### Load',
    '',
    ...table(
      ['client region', 'writes', 'acknowledged', 'unknown', '409', 'reads', 'reads ok', 'other bytes'],
      Object.entries(card.load).map(([region, l]) => [region, String(l.writes), String(l.acknowledged), String(l.unknown), String(l.conflicts), String(l.reads), String(l.readsOk), String(l.mismatches)]),
    ),
    '',
  );

  lines.push('## Replica lag before the fault', '');
  const lag = Object.entries(card.lagBeforeFaultMs);
  lines.push(...(lag.length === 0 ? ['not measured'] : table(['region', 'lag'], lag.map(([region, ms]) => [region, ms === null ? 'unknown' : `${ms} ms`]))), '');

  lines.push('## Audit', '');
  if (card.audit === null) lines.push('No audit for this provider.', '');
  else {
    const audit = card.audit;
    lines.push(`${audit.source}, at ${sinceFault(card, audit.at)}.${audit.error === undefined ? '' : ` **Error: ${audit.error}**`}`, '');
    lines.push(
      ...table(
        ['region', 'checked', 'dangling', 'not yet replicated', 'orphan blobs'],
        Object.entries(audit.regions).map(([region, r]) => [region, String(r.checked), String(r.dangling.length), String(r.notYetReplicated.length), String(r.orphans.length)]),
      ),
      '',
    );
    const orphanCause = (key: string, where: string): string => {
      const found = card.orphans.find((o) => o.key === key && o.where === where);
      return found === undefined ? 'no entry' : `no entry; ${found.cause}${found.cleaned ? '; cleaned' : found.explained ? '' : ' (unexplained)'}`;
    };
    const findings = Object.entries(audit.regions).flatMap(([region, r]) => [
      ...r.dangling.map((d) => [region, 'dangling', d.path, d.where, d.reason]),
      ...r.notYetReplicated.map((d) => [region, 'not yet replicated', d.path, d.where, d.reason]),
      ...r.orphans.map((o) => [region, 'orphan', `/${o.key}`, o.where, orphanCause(o.key, o.where)]),
    ]);
    if (findings.length > 0) {
      const { shown, note } = limited(findings);
      lines.push(...table(['region', 'finding', 'path', 'where', 'why'], shown), ...note, '');
    }
  }

  lines.push('## Replicas at the end', '');
  if (card.standbysAtEnd === null) lines.push('Not checked by this provider.', '');
  else {
    lines.push(
      ...table(
        ['server', 'region', 'streaming', 'lag', 'verdict'],
        card.standbysAtEnd.map((st) => [st.name, st.region, st.streaming ? 'yes' : `**no** (${st.detail ?? '?'})`, st.lagMs === null ? '—' : `${st.lagMs} ms`, st.streaming && (st.lagMs ?? 0) <= card.replicaLagBoundMs ? 'ok' : '**failed**']),
      ),
      '',
    );
  }

  if (card.outage !== null) {
    const o = card.outage;
    lines.push(`## Home outage (${o.region} cut off)`, '');
    lines.push(
      ...table(
        ['client region', 'reads during the outage', 'success'],
        Object.entries(o.reads).map(([region, r]) => [region, `${r.ok}/${r.total}`, r.ratio === null ? '—' : `${(r.ratio * 100).toFixed(2)} %`]),
      ),
      '',
      `Reads routed to ${o.region} after the DNS TTL: ${o.readsRoutedToDeadRegion}. Writes after detection: ${o.writesAfterDetection}, refused cleanly: ${o.writesAfterDetection - o.uncleanRefusals.length}. Writes started before detection without an answer: ${o.unknownBeforeDetection}.`,
      '',
    );
  }

  lines.push('## Steps', '');
  lines.push(
    ...table(
      ['#', 'step', 'start', 'duration', 'result', 'detail'],
      card.steps.map((s, i) => [String(i + 1), s.name, sinceFault(card, s.start), secs(s.end - s.start), s.ok ? 'ok' : '**failed**', s.detail ?? '']),
    ),
    '',
  );
  return lines.join('\n');
}

/** A few lines for the terminal. */
export function printScorecard(card: Scorecard, log: (line: string) => void = console.log): void {
  log(`scorecard ${card.drill} on ${card.provider} (run ${card.runId}): ${card.pass ? 'PASS' : 'FAIL'}`);
  const perRegion = Object.entries(card.rto)
    .map(([region, r]) => `${region} ${r.rtoMs === null ? 'not recovered' : secs(r.rtoMs)} (DNS ${!r.dnsAffected ? 'not affected' : r.dnsMs === null ? 'still on a withdrawn region' : secs(r.dnsMs)})`)
    .join(', ');
  log(`  RTO max ${secs(card.rtoMaxMs)} (budget ${secs(card.budgets.rtoBudgetMs)}): ${perRegion}`);
  if (card.dbPromotion !== null) log(`  DB promotion ${secs(card.dbPromotionMs)}, done at ${sinceFault(card, card.dbPromotion.end)}`);
  log(`  RPO ${card.rpo.count} write(s) lost or stale, ${secs(card.rpo.ms)} (of ${card.rpo.checked} acknowledged; ${card.rpo.unverified.length} unverified)`);
  const after = failuresAfterFault(card);
  log(`  errors after T0: ${after.failed} of ${after.ops} ops (${statusList(after.byStatus)})`);
  if (card.audit !== null) {
    const regions = Object.values(card.audit.regions);
    const sum = (pick: (r: (typeof regions)[number]) => number): number => regions.reduce((n, r) => n + pick(r), 0);
    log(`  audit: ${sum((r) => r.dangling.length)} dangling, ${sum((r) => r.notYetReplicated.length)} not yet replicated, ${sum((r) => r.orphans.length)} orphan blob(s)${card.audit.error === undefined ? '' : `; error: ${card.audit.error}`}`);
  }
  if (card.orphans.length > 0) log(`  orphans: ${card.orphans.length}, ${card.orphans.filter((o) => o.explained).length} left by unacknowledged writes, ${card.orphans.filter((o) => o.cleaned).length} cleaned`);
  if (card.outage !== null) {
    const reads = Object.entries(card.outage.reads).map(([region, r]) => `${region} ${r.ok}/${r.total}`).join(', ');
    log(`  home outage (${card.outage.region}): reads ${reads}; ${card.outage.readsRoutedToDeadRegion} routed to ${card.outage.region}; writes refused cleanly ${card.outage.writesAfterDetection - card.outage.uncleanRefusals.length}/${card.outage.writesAfterDetection}`);
  }
  for (const v of card.verdicts.filter((x) => x.ok === false)) log(`  FAIL ${v.check}: ${v.detail}`);
}

export interface WrittenScorecard {
  readonly json: string;
  readonly markdown: string;
  readonly history: string;
}

const HISTORY_HEAD = ['date', 'drill', 'provider', 'run', 'RTO max', 'RPO', 'errors after T0', 'pass', 'report'];

/** One row of history.md for `card`. */
export function historyRow(card: Scorecard, reportFile: string): string {
  const after = failuresAfterFault(card);
  const row = [
    card.startedAt,
    card.drill,
    card.provider,
    card.runId,
    secs(card.rtoMaxMs),
    `${card.rpo.count} (${secs(card.rpo.ms)})`,
    `${after.failed}/${after.ops}`,
    card.pass ? 'pass' : 'FAIL',
    `[md](${reportFile})`,
  ];
  return `| ${row.map(cell).join(' | ')} |`;
}

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/**
 * Writes `<historyDir>/<startedAt>-<drill>.json` and `.md`, replaces `latest.json`/`latest.md`,
 * and appends the run's row to `history.md` (created with its header on the first run).
 */
export function writeScorecard(historyDir: string, card: Scorecard): WrittenScorecard {
  mkdirSync(historyDir, { recursive: true });
  const stem = `${card.startedAt.replace(/:/g, '-')}-${card.drill.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
  const json = join(historyDir, `${stem}.json`);
  const markdown = join(historyDir, `${stem}.md`);
  const jsonText = JSON.stringify(card, null, 2) + '\n';
  const markdownText = renderScorecardMarkdown(card);
  writeAtomically(json, jsonText);
  writeAtomically(markdown, markdownText);
  writeAtomically(join(historyDir, 'latest.json'), jsonText);
  writeAtomically(join(historyDir, 'latest.md'), markdownText);
  const history = join(historyDir, 'history.md');
  if (!existsSync(history)) writeFileSync(history, ['# Drill history', '', `| ${HISTORY_HEAD.join(' | ')} |`, `|${HISTORY_HEAD.map(() => '---').join('|')}|`, ''].join('\n'));
  appendFileSync(history, historyRow(card, `${stem}.md`) + '\n');
  return { json, markdown, history };
}
