/**
 * @module What `up` prints (every endpoint) and what `status` gathers and prints: processes,
 * regions and their nodes' health (from the health checker), Postgres replication lag per
 * replica, the RTTs, and what the global name answers from inside each region.
 */
import { readFileSync } from 'node:fs';
import { epochRecordFromCells, READ_EPOCH_RECORD } from '../../app/fencing/index.js';
import { REPLICA_LAG_BOUND_MS } from '../drill/provider.js';
import { readHealth, type HealthReport } from './health-checker.js';
import { credentialsOf } from '../local-credentials.js';
import { measureRtt } from './network.js';
import { loadPlan } from './paths.js';
import { type PgServer, pgServers } from './pg-servers.js';
import { sql } from './postgres.js';
import { namespaceExists, resolveFrom } from './netns.js';
import { readState, type RehearsalState, type RttMeasurement } from './state.js';
import { isRunning } from '../local-services/pid-lock.js';
import type { ReplicationStats } from './s3-replicator.js';
import { DATABASE, replicationStatsFile, type RehearsalOptions, type RehearsalPlan } from './topology.js';

function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : `${value.toFixed(1)} ms`;
}

export function endpointsText(plan: RehearsalPlan, state: RehearsalState): string {
  const creds = credentialsOf(plan.options.dir);
  const home = plan.home;
  const other = plan.regions.find((r) => r.role !== 'home') ?? home;
  const lines = [
    '',
    `rehearsal up: ${plan.regions.length} regions, ${plan.regions.reduce((n, r) => n + r.nodes.length, 0)} nodes (backend ${plan.options.backend})`,
    '',
    'regions (each in its own network namespace; run clients with `ip netns exec <namespace> ...`):',
  ];
  for (const region of plan.regions) {
    lines.push(
      `  ${region.name} (${region.role})  namespace ${region.ns}  subnet ${region.subnet}`,
      `    region URL   http://${region.hostname}:${plan.options.nodePort}`,
      ...region.nodes.map((n) => `    node ${n.id.padEnd(8)} ${n.url}   (http://${n.hostname}:${n.port})`),
      ...(region.role === 'home' ? [`    postgres     ${plan.primaryDsn}   (primary: every region writes here)`] : []),
      `    postgres     ${region.replicaDsn}   (streaming replica: the region's read_dsn)`,
      `    redis        redis://${region.redisAddr}${region.role === 'home' ? '   (lock home of every region)' : ''}`,
      `    s3           ${region.s3Endpoint}  bucket ${region.bucket}  (key S3RVER / S3RVER; new objects replicated to the other buckets)`,
    );
  }
  lines.push(
    '',
    `router namespace ${plan.wanNs}; WAN delay: ${state.wanDelay ?? 'none'}`,
    'round trips between regions (configured / measured with ping):',
    ...state.rtt.map(rttLine),
    '',
    `GeoDNS: bind9 on ${plan.regions.map((r) => r.routerIp).join(', ')} port 53 (each region's resolver, via /etc/netns/<namespace>/resolv.conf)`,
    `global name: ${plan.globalHostname} -> nearest healthy region; region names ${plan.regions.map((r) => r.hostname).join(', ')}`,
    `API key: ${creds.api_key}   (in ${plan.options.dir}/credentials.json)`,
    '',
    'try:',
    `  ip netns exec ${other.ns} dig +short ${plan.globalHostname}`,
    `  ip netns exec ${home.ns} curl -X PUT -H "Authorization: Bearer ${creds.api_key}" --data-binary hello http://${plan.globalHostname}:${plan.options.nodePort}/v1/files/hello.txt`,
    `  ip netns exec ${other.ns} curl -i -H "Authorization: Bearer ${creds.api_key}" http://${plan.globalHostname}:${plan.options.nodePort}/v1/files/hello.txt`,
    '  npm run rehearsal -- status',
    '  npm run rehearsal -- down',
    '',
  );
  return lines.join('\n');
}

function rttLine(r: RttMeasurement): string {
  return `  ${r.from} <-> ${r.to}  ${String(r.configuredMs).padStart(4)} ms / ${ms(r.measuredMs)}`;
}

export interface ReplicaLag {
  readonly region: string;
  /** The server's name in the rehearsal (`primary` is the one `up` made primary, `<region>-replica` the others). */
  readonly server: string;
  /** State in the primary's pg_stat_replication, or null when the replica is not connected. */
  readonly state: string | null;
  /** WAL bytes the primary has written and the replica has not replayed yet. */
  readonly lagBytes: number | null;
  /** pg_stat_replication.replay_lag (time to replay the last reported commits). */
  readonly replayLagMs: number | null;
  /** now() - pg_last_xact_replay_timestamp() on the replica (grows while the primary is idle). */
  readonly sinceLastReplayMs: number | null;
  readonly error: string | null;
  /** Why this replica fails (not streaming from the primary, or replaying too far behind); null when fine. */
  readonly failure: string | null;
}

export interface RehearsalStatus {
  readonly plan: RehearsalPlan;
  readonly state: RehearsalState;
  readonly processes: ReadonlyArray<{ name: string; pid: number; ns: string; running: boolean }>;
  readonly namespaces: ReadonlyArray<{ name: string; exists: boolean }>;
  readonly health: HealthReport | null;
  /** Region of the writable primary now, or null when none is. */
  readonly primaryRegion: string | null;
  /** Region whose Redis is the lock home now (the epoch row's `lock_home`), null when unknown. */
  readonly lockHomeRegion: string | null;
  readonly replicas: readonly ReplicaLag[];
  readonly rttNow: readonly RttMeasurement[];
  /** region → addresses the global name resolves to from inside it. */
  readonly dns: Readonly<Record<string, readonly string[] | string>>;
  /** Counters of each region's S3 replicator (null before its first round). */
  readonly s3Replication: ReadonlyArray<{ region: string; stats: ReplicationStats | null }>;
}

function readReplicationStats(plan: RehearsalPlan, region: string): ReplicationStats | null {
  try {
    return JSON.parse(readFileSync(replicationStatsFile(plan, region), 'utf8')) as ReplicationStats;
  } catch {
    return null;
  }
}

/** The server that is writable now (after a failover drill it is not the home region's), or null. */
async function currentPrimary(plan: RehearsalPlan): Promise<PgServer | null> {
  for (const server of pgServers(plan).filter((s) => s.promotable)) {
    const [row] = await sql(server.target, "select pg_is_in_recovery(), current_setting('transaction_read_only')").catch(() => [] as string[][]);
    if (row?.[0] === 'f' && row[1] === 'off') return server;
  }
  return null;
}

/**
 * A replica fails when the primary does not stream to it (a forked timeline, a broken connection,
 * no primary at all) or its replay lags beyond REPLICA_LAG_BOUND_MS.
 */
function replicaFailure(primary: PgServer | null, state: string | null, replayLagMs: number | null, error: string | null): string | null {
  if (error !== null) return error;
  if (primary === null) return 'no writable primary to stream from';
  if (state !== 'streaming') return state === null ? `not connected to the primary (${primary.region.name})` : `state ${state}, not streaming`;
  if (replayLagMs !== null && replayLagMs > REPLICA_LAG_BOUND_MS) return `replay lag ${Math.round(replayLagMs)} ms > ${REPLICA_LAG_BOUND_MS} ms`;
  return null;
}

/** The lock home's region: the epoch row's `lock_home` on the primary (null there: the home region's Redis). */
async function lockHomeRegion(plan: RehearsalPlan, primary: PgServer | null): Promise<string | null> {
  if (primary === null) return null;
  const [row] = await sql(primary.target, READ_EPOCH_RECORD, DATABASE).catch(() => [] as string[][]);
  if (row === undefined) return null;
  const lockHome = epochRecordFromCells(row).lockHome;
  if (lockHome === null) return plan.home.name;
  return plan.regions.find((r) => r.redisAddr === lockHome)?.name ?? null;
}

/** Every standby (the servers that are not the current primary) as the primary sees it. */
async function replicaLags(plan: RehearsalPlan, primary: PgServer | null): Promise<ReplicaLag[]> {
  const primaryRows =
    primary === null
      ? []
      : await sql(
          primary.target,
          "select application_name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), coalesce(extract(epoch from replay_lag) * 1000, 0) from pg_stat_replication",
        ).catch(() => [] as string[][]);
  const standbys = pgServers(plan).filter((s) => s.key !== primary?.key);
  return Promise.all(
    standbys.map(async (server): Promise<ReplicaLag> => {
      const region = server.region.name;
      const row = primaryRows.find((r) => r[0] === server.standby);
      try {
        const [replica] = await sql(server.target, 'select pg_is_in_recovery(), extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000');
        const state = row?.[1] ?? null;
        const replayLagMs = row?.[3] === undefined || row[3] === '' ? null : Number(row[3]);
        const error = replica?.[0] === 't' ? null : 'not in recovery (a fenced former primary?)';
        return {
          region,
          server: server.key,
          state,
          lagBytes: row?.[2] === undefined || row[2] === '' ? null : Number(row[2]),
          replayLagMs,
          sinceLastReplayMs: replica?.[1] === undefined || replica[1] === '' ? null : Number(replica[1]),
          error,
          failure: replicaFailure(primary, state, replayLagMs, error),
        };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { region, server: server.key, state: row?.[1] ?? null, lagBytes: null, replayLagMs: null, sinceLastReplayMs: null, error: message, failure: `unreachable: ${message}` };
      }
    }),
  );
}

export async function collectStatus(options: RehearsalOptions): Promise<RehearsalStatus | null> {
  const state = readState(options.dir);
  if (state === null) return null;
  const plan = loadPlan(options);
  const namespaces = state.namespaces.map((name) => ({ name, exists: namespaceExists(name) }));
  const networkUp = namespaces.every((n) => n.exists) && namespaces.length > 0;
  const primary = networkUp ? await currentPrimary(plan) : null;
  const [replicas, rttNow, dnsAnswers, lockHome] = await Promise.all([
    networkUp ? replicaLags(plan, primary) : Promise.resolve([]),
    networkUp ? measureRtt(plan, 3) : Promise.resolve([]),
    networkUp
      ? Promise.all(plan.regions.map(async (r) => [r.name, await resolveFrom(r.ns, r.routerIp, plan.globalHostname).catch((e: unknown) => (e instanceof Error ? e.message : String(e)))] as const))
      : Promise.resolve([]),
    networkUp ? lockHomeRegion(plan, primary) : Promise.resolve(null),
  ]);
  return {
    plan,
    state,
    processes: state.processes.map((p) => ({ name: p.name, pid: p.pid, ns: p.ns, running: isRunning(p) })),
    namespaces,
    health: readHealth(options.dir),
    primaryRegion: primary?.region.name ?? null,
    lockHomeRegion: lockHome,
    replicas,
    rttNow,
    dns: Object.fromEntries(dnsAnswers),
    s3Replication: plan.regions.map((r) => ({ region: r.name, stats: readReplicationStats(plan, r.name) })),
  };
}

export function statusText(status: RehearsalStatus): string {
  const { plan, state, health } = status;
  const running = status.processes.filter((p) => p.running).length;
  const regionOfIp = new Map(plan.regions.flatMap((r) => r.nodes.map((n) => [n.ip, r.name] as const)));
  const healthAge = health === null ? null : (Date.now() - Date.parse(health.at)) / 1000;
  const lines = [
    `rehearsal ${state.ready ? 'up' : 'starting or broken'} since ${state.startedAt}${state.upMs === null ? '' : ` (up took ${(state.upMs / 1000).toFixed(1)} s)`}`,
    `processes: ${running} of ${status.processes.length} running; namespaces: ${status.namespaces.map((n) => `${n.name}${n.exists ? '' : ' (gone)'}`).join(' ')}`,
    `health checks: ${health === null ? 'no report yet' : `last round ${healthAge?.toFixed(1)} s ago, ${health.zoneReloads} DNS reload(s)`}`,
    `home now: ${status.primaryRegion ?? 'NONE (no writable primary)'} (metadata primary); lock home: ${status.lockHomeRegion ?? 'unknown'}${status.primaryRegion !== null && status.primaryRegion !== plan.home.name ? ` (the rehearsal started with ${plan.home.name})` : ''}`,
    '',
    'regions:',
  ];
  for (const region of plan.regions) {
    const healthy = health?.regions[region.name];
    const roles = [...(region.name === status.primaryRegion ? ['home: primary'] : []), ...(region.name === status.lockHomeRegion ? ['lock home'] : [])];
    lines.push(`  ${region.name} (${roles.length === 0 ? 'replica' : roles.join(', ')}; ${region.ns}): ${healthy === undefined ? 'unknown' : healthy ? 'healthy' : 'UNHEALTHY (out of DNS)'}`);
    for (const node of region.nodes) {
      const check = health?.nodes[node.id];
      const proc = status.processes.find((p) => p.name === `node ${node.id}`);
      const verdict = check === undefined ? 'unchecked' : check.up ? `up (${region.healthCheckPath} ${check.lastStatus ?? '—'}, ${ms(check.latencyMs)})` : `DOWN (${check.lastError ?? 'failing'})`;
      lines.push(`    ${node.id.padEnd(8)} ${node.url.padEnd(26)} ${verdict}; process ${proc === undefined ? 'not recorded' : proc.running ? `pid ${proc.pid}` : 'stopped'}`);
    }
    for (const p of status.processes.filter((p) => p.ns === region.ns && !p.name.startsWith('node '))) {
      lines.push(`    ${p.name.padEnd(26)} ${p.running ? `pid ${p.pid}` : 'STOPPED'}`);
    }
  }
  lines.push('', `postgres replication (primary: ${status.primaryRegion ?? 'NONE writable'}; a replica fails when not streaming or replaying more than ${REPLICA_LAG_BOUND_MS / 1000} s behind):`);
  for (const r of status.replicas) {
    const verdict = r.failure === null ? 'ok' : `FAILING: ${r.failure}`;
    lines.push(
      r.error !== null && r.state === null
        ? `  ${r.region} (${r.server}): ${verdict}`
        : `  ${r.region} (${r.server}): ${verdict}; ${r.state ?? 'not connected'}, ${r.lagBytes ?? '—'} bytes behind, replay_lag ${ms(r.replayLagMs)}, last replayed commit ${r.sinceLastReplayMs === null ? '—' : `${(r.sinceLastReplayMs / 1000).toFixed(1)} s ago`}`,
    );
  }
  lines.push('', 'S3 replication (each region pushes its new objects to the other buckets):');
  for (const { region, stats } of status.s3Replication) {
    lines.push(
      stats === null
        ? `  from ${region}: no report yet`
        : `  from ${region}: ${stats.replicated} copied, ${stats.pending} pending, lag last ${ms(stats.lagMs.last)} p50 ${ms(stats.lagMs.p50)} max ${ms(stats.lagMs.max)}${stats.lastError === null ? '' : `; error: ${stats.lastError}`}`,
    );
  }
  lines.push('', `partitions: ${(state.partitions ?? []).length === 0 ? 'none' : `${(state.partitions ?? []).join(', ')} (packets dropped both ways)`}`);
  lines.push('', 'round trips (configured / measured at up / measured now):');
  for (const r of status.rttNow) {
    const atUp = state.rtt.find((u) => u.from === r.from && u.to === r.to)?.measuredMs;
    lines.push(`  ${r.from} <-> ${r.to}  ${String(r.configuredMs).padStart(4)} ms / ${ms(atUp)} / ${ms(r.measuredMs)}`);
  }
  lines.push('', `DNS: ${plan.globalHostname} asked from inside each region:`);
  for (const [region, answer] of Object.entries(status.dns)) {
    const text = typeof answer === 'string' ? `error: ${answer}` : `${answer.join(' ')} -> region ${[...new Set(answer.map((ip) => regionOfIp.get(ip) ?? '?'))].join(',')}`;
    lines.push(`  from ${region}: ${text}`);
  }
  lines.push('');
  return lines.join('\n');
}
