/**
 * @module The rehearsal's replicated database as `up` builds it: the home region's primary
 * (configured for streaming and rewinding, one replication slot per standby made before any base
 * backup), one streaming replica per region taken across the delayed WAN, and the wait until
 * every one of them streams. Each standby's name is its identity for the drills as well.
 */
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initdbArgs, postgresBinDir, postgresOsUser } from '../local-services/postgres-binaries.js';
import { inNamespace, run } from './netns.js';
import type { Paths, Remember } from './paths.js';
import { asPostgres, postgresOwnedDir, primaryTarget, replicaTarget, runPostgresDaemon, sql, type PgServerName } from './postgres.js';
import { sleep } from './state.js';
import { DATABASE, POSTGRES_PORT, type RegionPlan, type RehearsalPlan } from './topology.js';


/**
 * Replication identity of a region's server: `<region>` for its promotable server on :5432 and
 * `<region>_reader` for the home region's extra read replica on :5433. The name is the
 * standby's `application_name` (what `synchronous_standby_names` lists) and, prefixed, its slot.
 */
export function standbyName(region: Pick<RegionPlan, 'name'>, reader: boolean): string {
  return `${region.name.replace(/-/g, '_')}${reader ? '_reader' : ''}`;
}

export function slotOf(standby: string): string {
  return `rehearsal_${standby}`;
}

function slotName(region: RegionPlan): string {
  return slotOf(standbyName(region, region.role === 'home'));
}

export async function startPrimary(plan: RehearsalPlan, paths: Paths, remember: Remember): Promise<void> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error('PostgreSQL server binaries not found');
  postgresOwnedDir(paths.pg);
  const data = join(paths.pg, 'primary');
  const [command = '', ...args] = asPostgres(join(bin, 'initdb'), initdbArgs(data));
  await run(command, args, 60_000);
  const network = `10.${plan.options.octet}.0.0/16`;
  // Replicas copy this configuration with their base backup.
  const conf = [
    '',
    '# local multi-region rehearsal',
    'wal_level = replica',
    'max_wal_senders = 10',
    'max_replication_slots = 10',
    'wal_keep_size = 256MB',
    'hot_standby = on',
    'hot_standby_feedback = on',
    'wal_log_hints = on',
    'max_connections = 300',
    'fsync = off',
    'synchronous_commit = off',
    'wal_sender_timeout = 10s',
    'wal_receiver_status_interval = 1s',
    '',
  ].join('\n');
  const owner = postgresOsUser();
  writeFileSync(join(data, 'postgresql.conf'), readFileSync(join(data, 'postgresql.conf'), 'utf8') + conf);
  writeFileSync(join(data, 'pg_hba.conf'), readFileSync(join(data, 'pg_hba.conf'), 'utf8') + `\nhost all all ${network} trust\nhost replication all ${network} trust\n`);
  chownSync(join(data, 'postgresql.conf'), owner.uid, owner.gid);
  chownSync(join(data, 'pg_hba.conf'), owner.uid, owner.gid);
  const primary = primaryTarget(plan);
  await runPostgresDaemon('primary', primary, paths, remember);
  await sql(primary, `create database ${DATABASE}`);
  // Each replica's slot exists, holding WAL, before its base backup starts: two backups taken at
  // once would otherwise let one's checkpoint recycle WAL the other still has to stream.
  for (const region of plan.regions) await sql(primary, `select pg_create_physical_replication_slot('${slotName(region)}', true)`);
}

/** The region's streaming replica: a base backup taken from inside the region, then a hot standby. */
export async function startReplica(plan: RehearsalPlan, region: RegionPlan, paths: Paths, remember: Remember): Promise<void> {
  const bin = postgresBinDir() ?? '';
  const name: PgServerName = `${region.name}-replica`;
  const source = `host=${plan.home.serviceIp} port=${POSTGRES_PORT} user=postgres application_name=${standbyName(region, region.role === 'home')}`;
  // Taken from inside the region, so the copy crosses the delayed WAN like the stream after it.
  const [command = '', ...args] = asPostgres(join(bin, 'pg_basebackup'), ['-d', source, '-D', join(paths.pg, name), '-R', '-X', 'stream', '-c', 'fast', '-S', slotName(region), '--no-sync']);
  await inNamespace(region.ns, command, args, 120_000);
  await runPostgresDaemon(name, replicaTarget(region), paths, remember);
}

export async function waitForReplication(plan: RehearsalPlan, timeoutMs: number): Promise<void> {
  const replicas = plan.regions.map((r) => standbyName(r, r.role === 'home'));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await sql(primaryTarget(plan), "select application_name from pg_stat_replication where state = 'streaming'").catch(() => []);
    const streaming = new Set(rows.map((r) => r[0]));
    if (replicas.every((name) => streaming.has(name))) return;
    if (Date.now() > deadline) throw new Error(`replicas not streaming after ${timeoutMs} ms: ${replicas.filter((n) => !streaming.has(n)).join(', ')}`);
    await sleep(200);
  }
}
