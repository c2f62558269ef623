/**
 * @module A rehearsal server following a new primary: re-pointed (`primary_conninfo` and a reload)
 * when it can stream from it, else rebuilt with pg_rewind or, failing that, a fresh pg_basebackup,
 * and started as a standby. Whether it streams is asked of the source, which alone sees a forked
 * standby being refused.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RELOAD_CONFIGURATION, sqlLiteral } from '../../../app/fencing/index.js';
import { pgDataDir, resetPgDataDir, runPostgresTool, startPgServer, stopPgServer, writePgFile, type PgServer } from '../../rehearsal/pg-servers.js';
import { slotOf } from '../../rehearsal/replication.js';
import type { LocalRehearsal } from './rehearsal-access.js';

/** How long a re-pointed replica may take to start streaming before it is rebuilt instead. */
const STREAM_WAIT_MS = 15_000;

export async function followPrimary(rh: LocalRehearsal, region: string, primaryRegion: string): Promise<string> {
  const source = rh.main(primaryRegion);
  const lines: string[] = [];
  for (const server of rh.servers.filter((s) => s.region.name === region && s !== source)) lines.push(await follow(rh, server, source));
  return lines.length === 0 ? `${region}: no other server to re-point` : lines.join('; ');
}

function conninfo(server: PgServer, source: PgServer): string {
  return `host=${source.target.ip} port=${source.target.port} user=postgres application_name=${server.standby} connect_timeout=3`;
}

async function follow(rh: LocalRehearsal, server: PgServer, source: PgServer): Promise<string> {
  const name = `${server.region.name} (${server.key})`;
  const status = await rh.status(server);
  const sourceRegion = source.region.name;
  if (status.role === 'replica' && status.upstream === sourceRegion && (await streamingTo(rh, source, server))) return `${name} already streams from ${sourceRegion}`;
  if (status.role === 'replica') {
    await rh.query(server, `alter system set primary_conninfo = ${sqlLiteral(conninfo(server, source))}`, 'postgres');
    await rh.query(server, `alter system set primary_slot_name = '${slotOf(server.standby)}'`, 'postgres');
    await rh.query(server, RELOAD_CONFIGURATION, 'postgres');
    if (await waitStreaming(rh, server, source, STREAM_WAIT_MS)) return `${name} re-pointed to ${sourceRegion}`;
  }
  return `${name} rebuilt from ${sourceRegion} (${await rebuild(rh, server, source)})`;
}

/**
 * Whether `source` streams WAL to `server`, asked of the source (`pg_stat_replication`): a
 * standby whose WAL forked off before the source's timeline connects, asks for the history and
 * is refused, over and over; its own `pg_stat_wal_receiver` can look alive meanwhile, the
 * source's view cannot.
 */
async function streamingTo(rh: LocalRehearsal, source: PgServer, server: PgServer): Promise<boolean> {
  const rows = await rh.query(source, `select 1 from pg_stat_replication where application_name = '${server.standby}' and state = 'streaming'`, 'postgres').catch(() => [] as string[][]);
  return rows.length > 0;
}

/** Streaming now and still half a second later (a forked standby's connections come and go). */
async function waitStreaming(rh: LocalRehearsal, server: PgServer, source: PgServer, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await streamingTo(rh, source, server)) {
      await sleep(500);
      if (await streamingTo(rh, source, server)) return true;
    }
    await sleep(200);
  }
  return false;
}

/** Stops the server, rewinds it onto the source's timeline (or copies it afresh), and starts it as a standby. */
async function rebuild(rh: LocalRehearsal, server: PgServer, source: PgServer): Promise<string> {
  await stopPgServer(rh.options, server, 'fast');
  const dataDir = pgDataDir(rh.plan, server);
  const sourceConn = `host=${source.target.ip} port=${source.target.port} user=postgres dbname=postgres connect_timeout=5`;
  if (existsSync(join(dataDir, 'PG_VERSION'))) {
    try {
      await runPostgresTool(server.region.ns, 'pg_rewind', ['--target-pgdata', dataDir, '--source-server', sourceConn, '--no-sync'], 300_000);
      await startStandby(rh, server, source);
      return 'pg_rewind';
    } catch {
      // Not rewindable, or it rewound but cannot follow: copy it afresh.
      await stopPgServer(rh.options, server, 'fast');
    }
  }
  resetPgDataDir(rh.plan, server);
  await runPostgresTool(server.region.ns, 'pg_basebackup', ['-d', `${sourceConn} application_name=${server.standby}`, '-D', dataDir, '-X', 'stream', '-c', 'fast', '--no-sync'], 300_000);
  await startStandby(rh, server, source);
  return 'pg_basebackup';
}

/** Starts a copied or rewound data directory as a standby of `source` and waits for it to stream. */
async function startStandby(rh: LocalRehearsal, server: PgServer, source: PgServer): Promise<void> {
  // Whatever the copy brought from the source's postgresql.auto.conf (read-only, synchronous
  // standbys) is a primary's business; a standby gets only where to stream from.
  writePgFile(
    rh.plan,
    server,
    'postgresql.auto.conf',
    `# written by the failover drill\nprimary_conninfo = ${sqlLiteral(conninfo(server, source))}\nprimary_slot_name = '${slotOf(server.standby)}'\n`,
  );
  writePgFile(rh.plan, server, 'standby.signal', '');
  await startPgServer(rh.options, server);
  if (!(await waitStreaming(rh, server, source, 30_000))) throw new Error(`${server.region.name} (${server.key}) does not stream from ${source.region.name}`);
}
