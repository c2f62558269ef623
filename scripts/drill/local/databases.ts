/**
 * @module The rehearsal's Postgres servers as the drills see and move them: each region's role,
 * position and lag, the standbys as the primary sees them, a fenced primary stopped cleanly (so
 * its standbys hold all of its WAL), a promotion, and synchronous replication turned on or off.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RELOAD_CONFIGURATION, RESET_READ_ONLY_DEFAULT } from '../../../app/fencing/index.js';
import { stopPgServer } from '../../rehearsal/pg-servers.js';
import { slotOf } from '../../rehearsal/replication.js';
import type { DatabaseStatus, StandbyStatus } from '../provider.js';
import type { LocalRehearsal } from './rehearsal-access.js';

export async function databases(rh: LocalRehearsal): Promise<DatabaseStatus[]> {
  const statuses = await Promise.all(rh.plan.regions.map((r) => rh.status(rh.main(r.name))));
  const primary = statuses.find((s) => s.role === 'primary');
  if (primary === undefined) return statuses;
  // Replay lag as the primary measures it, per standby.
  const rows = await rh.query(rh.main(primary.region), 'select application_name, coalesce(extract(epoch from replay_lag) * 1000, 0)::int from pg_stat_replication').catch(() => [] as string[][]);
  return statuses.map((s) => {
    if (s.role !== 'replica') return s;
    const row = rows.find((r) => r[0] === rh.main(s.region).standby);
    return { ...s, lagMs: row === undefined ? null : Number(row[1]) };
  });
}

export async function stopFencedPrimary(rh: LocalRehearsal, region: string): Promise<string> {
  const server = rh.main(region);
  const status = await rh.status(server);
  if (status.role === 'primary') throw new Error(`${region} is a writable primary: fence it first`);
  if (status.role === 'replica') return `${region} is a replica: nothing to stop`;
  const lsn = status.lsn;
  // A fast shutdown ends with a checkpoint record that every connected walsender delivers, and
  // waits for the standbys to confirm it: afterwards they all hold the same, complete WAL, so
  // the promoted one forks its timeline exactly where the others (and this server) end, and
  // they follow it without pg_rewind.
  const stopped = await stopPgServer(rh.options, server, 'fast');
  return stopped ? `${region} stopped cleanly at ${lsn ?? '?'}; its standbys hold all of its WAL` : `${region} was not running`;
}

export async function promoteDatabase(rh: LocalRehearsal, region: string): Promise<string> {
  const server = rh.main(region);
  const before = await rh.status(server);
  if (before.role === 'down') throw new Error(`the ${region} Postgres server is down: nothing to promote`);
  const started = performance.now();
  // One session: promote (wait = true returns once recovery has ended; the end-of-recovery
  // checkpoint is only requested, never waited for), make the server writable by default,
  // create the slots its standbys will use, and report where it stands.
  const slots = rh.servers
    .filter((s) => s !== server)
    .map((other) => slotOf(other.standby))
    .map((slot) => `select pg_create_physical_replication_slot('${slot}', true) where not exists (select 1 from pg_replication_slots where slot_name = '${slot}')`);
  const rows = await rh.session(server, [
    ...(before.role === 'replica' ? ['select pg_promote(true, 60)'] : []),
    RESET_READ_ONLY_DEFAULT,
    RELOAD_CONFIGURATION,
    ...slots,
    "select 'promoted', pg_is_in_recovery(), pg_current_wal_lsn()",
  ]);
  const final = rows.find((r) => r[0] === 'promoted');
  if (final?.[1] !== 'f') {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const now = await rh.status(server);
      if (now.role === 'primary') break;
      if (Date.now() > deadline) throw new Error(`${region} still ${now.role} 60 s after pg_promote`);
      await sleep(100);
    }
  }
  return `${region} is the primary (at LSN ${final?.[2] ?? '?'}) after ${Math.round(performance.now() - started)} ms`;
}

export async function standbys(rh: LocalRehearsal): Promise<StandbyStatus[]> {
  const statuses = await Promise.all(rh.plan.regions.map((r) => rh.status(rh.main(r.name))));
  const primaryRegion = statuses.find((st) => st.role === 'primary')?.region;
  const primary = primaryRegion === undefined ? undefined : rh.main(primaryRegion);
  const rows =
    primary === undefined
      ? []
      : await rh.query(primary, 'select application_name, state, coalesce(extract(epoch from replay_lag) * 1000, 0)::int from pg_stat_replication', 'postgres').catch(() => [] as string[][]);
  return rh.servers
    .filter((server) => server !== primary)
    .map((server): StandbyStatus => {
      const row = rows.find((r) => r[0] === server.standby);
      const streaming = row?.[1] === 'streaming';
      const detail = primary === undefined ? 'no writable primary' : row === undefined ? `not connected to the primary in ${primary.region.name}` : streaming ? null : `state ${row[1] ?? '?'}`;
      return { name: server.key, region: server.region.name, streaming, lagMs: row === undefined ? null : Number(row[2]), detail };
    });
}

/** The region of the standby the primary in `primaryRegion` lists as synchronous now, or null. */
export async function synchronousRegion(rh: LocalRehearsal, primaryRegion: string): Promise<string | null> {
  const rows = await rh.query(rh.main(primaryRegion), "select application_name from pg_stat_replication where sync_state = 'sync'", 'postgres');
  const name = rows[0]?.[0];
  return rh.servers.find((server) => server.standby === name)?.region.name ?? null;
}

export async function setSynchronousRegions(rh: LocalRehearsal, primaryRegion: string, regions: readonly string[]): Promise<string> {
  const server = rh.main(primaryRegion);
  const names = regions.filter((r) => r !== primaryRegion).map((r) => rh.main(r).standby);
  if (names.length === 0) {
    await rh.query(server, 'alter system reset synchronous_standby_names', 'postgres');
    await rh.query(server, 'alter system reset synchronous_commit', 'postgres');
  } else {
    await rh.query(server, `alter system set synchronous_standby_names = 'FIRST 1 (${names.join(', ')})'`, 'postgres');
    await rh.query(server, "alter system set synchronous_commit = 'on'", 'postgres');
  }
  await rh.query(server, RELOAD_CONFIGURATION, 'postgres');
  if (names.length > 0) {
    // Armed once a listed standby is synchronous and has flushed everything committed before:
    // from then on no commit is acknowledged that only this server holds.
    const [position] = await rh.query(server, 'select pg_current_wal_lsn()', 'postgres');
    const list = names.map((n) => `'${n}'`).join(', ');
    const deadline = Date.now() + 15_000;
    for (;;) {
      const rows = await rh.query(
        server,
        `select application_name from pg_stat_replication where application_name in (${list}) and sync_state in ('sync', 'quorum') and flush_lsn >= '${position?.[0] ?? '0/0'}'::pg_lsn`,
        'postgres',
      );
      if (rows.length > 0) return `${primaryRegion}: every commit waits for the first reachable of ${names.join(', ')} (now ${rows.map((r) => r[0]).join(', ')})`;
      if (Date.now() > deadline) throw new Error(`${primaryRegion}: none of ${names.join(', ')} became a synchronous standby within 15 s`);
      await sleep(100);
    }
  }
  return names.length === 0 ? `${primaryRegion}: commits wait for no standby` : `${primaryRegion}: every commit waits for the first reachable of ${names.join(', ')}`;
}
