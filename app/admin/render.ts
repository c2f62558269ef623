/** @module The human tables of `npm run admin`: plain aligned columns, one section per heading. */
import type { ClusterStatus } from '../ports/cluster-status.js';
import type { SweepReport } from '../services/orphan-sweeper.js';

/** Columns padded to their widest cell; `-` for missing values. */
export function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null>>): string {
  const cells = [header, ...rows.map((r) => r.map((v) => (v === null || v === '' ? '-' : String(v))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((v, i) => (v ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86_400).toFixed(1)}d`;
}

export function membersText(status: ClusterStatus): string {
  if (status.members.length === 0) return 'no members have announced themselves';
  return table(
    ['INSTANCE', 'REGION', 'ADDRESS', 'VERSION', 'UPTIME', 'LAST HEARTBEAT'],
    status.members.map((m) => [m.instance_id, m.region, m.internal_url, m.version, duration(m.uptime_s), `${m.last_heartbeat_age_s}s ago`]),
  );
}

export function epochText(status: ClusterStatus): string {
  const e = status.epoch;
  if (e === null) return 'no epoch row (the database has not been migrated by a node yet)';
  return `epoch ${e.epoch}${e.fenced ? ' (FENCED: this database is a former primary)' : ''}; primary region ${e.primary_region ?? '-'}; lock home ${e.lock_home ?? 'the configured dlm.redis_addr'}`;
}

export function databaseText(status: ClusterStatus): string {
  const servers = table(
    ['DATABASE', 'ROLE', 'REPLAY LAG', 'ERROR'],
    status.database.servers.map((s) => [s.address, s.role, s.replay_lag_s === null ? null : `${s.replay_lag_s.toFixed(1)}s`, s.error]),
  );
  const streaming =
    status.database.streaming.length === 0
      ? 'no standby streams from the primary (or the database user may not see them: grant pg_monitor)'
      : table(
          ['STANDBY', 'FROM', 'STATE', 'SYNC', 'LAG BYTES', 'REPLAY LAG'],
          status.database.streaming.map((r) => [r.name, r.client_addr, r.state, r.sync_state, r.lag_bytes, r.replay_lag_ms === null ? null : `${r.replay_lag_ms}ms`]),
        );
  return `${servers}\n\n${streaming}`;
}

export function statusText(status: ClusterStatus): string {
  const r = status.replication;
  const backlog = r.factor <= 1 ? `replication factor 1: no copies wanted (${r.local_files} local-disk files)` : `${r.files_below_factor} of ${r.local_files} local-disk files have fewer than ${r.factor} copies`;
  return [
    `cluster status from ${status.source} at ${status.generated_at}`,
    '',
    'members',
    membersText(status),
    '',
    'metadata database',
    databaseText(status),
    '',
    'fencing',
    epochText(status),
    '',
    'replication backlog',
    backlog,
  ].join('\n');
}

/** One sweep's report: totals, stores left alone, then every action (taken or, in a dry run, planned). */
export function sweepText(report: SweepReport): string {
  const verb = report.dryRun ? 'would' : 'did';
  const lines = [
    `${report.dryRun ? 'dry run (nothing changed; --yes to act)' : 'sweep done'}: ${verb} quarantine ${report.quarantined} orphaned blob(s), purge ${report.purged} quarantined blob(s) past retention, remove ${report.temporaries} stale temporary file(s)${report.dryRun ? '' : `, and removed ${report.links} used or expired link(s)`}`,
  ];
  for (const skip of report.skipped) lines.push(`skipped ${skip.store}: ${skip.reason}`);
  if (report.actions.length > 0) lines.push('', table(['STORE', 'ACTION', 'KEY'], report.actions.map((a) => [a.store, a.action, a.key])));
  return lines.join('\n');
}
