/**
 * @module A rehearsal server following a new primary: re-pointed (`primary_conninfo` and a reload)
 * when it can stream from it, else rebuilt with pg_rewind or, failing that, a fresh pg_basebackup,
 * and started as a standby. A standby whose WAL runs past the point where the new primary's
 * timeline forked off cannot follow it and goes straight to the rewind. "Follows" means both
 * ends agree: the source lists it as streaming and the standby has received WAL on the source's
 * timeline (a forked standby can stream the old timeline up to the fork, briefly, and be
 * listed as streaming meanwhile).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatLsn, parseLsn, RELOAD_CONFIGURATION, sqlLiteral } from '../../../app/fencing/index.js';
import { pgDataDir, pgProcess, resetPgDataDir, runPostgresTool, startPgServer, stopPgServer, writePgFile, type PgServer } from '../../rehearsal/pg-servers.js';
import { logTail } from '../../rehearsal/netns.js';
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
  const timeline = await timelineOf(rh, source);
  if (status.role === 'replica' && status.upstream === sourceRegion && (await follows(rh, source, server, timeline.id))) return `${name} already streams from ${sourceRegion}`;
  if (status.role === 'replica') {
    const past = await forkedPast(rh, server, timeline);
    if (past === null) {
      await rh.query(server, `alter system set primary_conninfo = ${sqlLiteral(conninfo(server, source))}`, 'postgres');
      await rh.query(server, `alter system set primary_slot_name = '${slotOf(server.standby)}'`, 'postgres');
      await rh.query(server, RELOAD_CONFIGURATION, 'postgres');
      if (await waitFollowing(rh, server, source, timeline.id, STREAM_WAIT_MS)) return `${name} re-pointed to ${sourceRegion}`;
    } else {
      return `${name} rebuilt from ${sourceRegion} (${past}; ${await rebuild(rh, server, source, timeline.id)})`;
    }
  }
  return `${name} rebuilt from ${sourceRegion} (${await rebuild(rh, server, source, timeline.id)})`;
}

/** The source's timeline, and the WAL position where it forked off its parent (null on timeline 1). */
interface Timeline {
  readonly id: number;
  readonly forkLsn: bigint | null;
}

async function timelineOf(rh: LocalRehearsal, source: PgServer): Promise<Timeline> {
  const [row] = await rh.query(source, 'select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)', 'postgres');
  const id = Number.parseInt(row?.[0] ?? '', 16);
  if (!Number.isInteger(id) || id < 1) throw new Error(`${source.region.name}: cannot read its timeline (is it a primary?)`);
  if (id === 1) return { id, forkLsn: null };
  // The history file's last entry is the parent timeline and the position where this one began
  // (lines: parent timeline, tab, switch position, tab, reason).
  const file = `pg_wal/${id.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const [last] = await rh.query(
    source,
    `select split_part(line, E'\\t', 2) from regexp_split_to_table(pg_read_file('${file}'), E'\\n') with ordinality as t(line, n) where line ~ '^[0-9]' order by n desc limit 1`,
    'postgres',
  );
  const fork = last?.[0];
  return { id, forkLsn: parseLsn(fork ?? '') };
}

/**
 * Why `server` cannot follow a primary on `timeline` by re-pointing, or null when it can: a
 * standby that received or replayed WAL past the fork point holds records the new timeline does
 * not, and Postgres refuses to switch to a timeline that forked off before its recovery point.
 * (A standby already on that timeline is not forked, whatever its position.)
 */
async function forkedPast(rh: LocalRehearsal, server: PgServer, timeline: Timeline): Promise<string | null> {
  if (timeline.forkLsn === null) return null;
  const [row] = await rh.query(
    server,
    `select pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), (select received_tli from pg_stat_wal_receiver limit 1)`,
    'postgres',
  );
  if (Number(row?.[2] ?? '0') >= timeline.id) return null;
  const positions = [row?.[0], row?.[1]].map((lsn) => parseLsn(lsn ?? '')).filter((v): v is bigint => v !== null);
  const furthest = positions.reduce<bigint | null>((a, b) => (a === null || b > a ? b : a), null);
  if (furthest === null || furthest <= timeline.forkLsn) return null;
  return `its WAL runs to ${formatLsn(furthest)}, past ${formatLsn(timeline.forkLsn)} where timeline ${timeline.id} forked off`;
}

/**
 * Whether `server` follows `source` on its timeline: the source lists it as streaming
 * (`pg_stat_replication`) and the standby has received WAL of that timeline
 * (`pg_stat_wal_receiver.received_tli`). Either alone is fooled by a forked standby, which
 * streams the old timeline up to the fork and is then refused, over and over.
 */
async function follows(rh: LocalRehearsal, source: PgServer, server: PgServer, timeline: number): Promise<boolean> {
  const listed = await rh.query(source, `select 1 from pg_stat_replication where application_name = '${server.standby}' and state = 'streaming'`, 'postgres').catch(() => [] as string[][]);
  if (listed.length === 0) return false;
  const received = await rh.query(server, `select received_tli from pg_stat_wal_receiver where status = 'streaming'`, 'postgres').catch(() => [] as string[][]);
  return Number(received[0]?.[0] ?? '0') >= timeline;
}

/** Following now and still half a second later (a forked standby's connections come and go). */
async function waitFollowing(rh: LocalRehearsal, server: PgServer, source: PgServer, timeline: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await follows(rh, source, server, timeline)) {
      await sleep(500);
      if (await follows(rh, source, server, timeline)) return true;
    }
    await sleep(200);
  }
  return false;
}

/** Stops the server, rewinds it onto the source's timeline (or copies it afresh), and starts it as a standby. */
async function rebuild(rh: LocalRehearsal, server: PgServer, source: PgServer, timeline: number): Promise<string> {
  await stopPgServer(rh.options, server, 'fast');
  const dataDir = pgDataDir(rh.plan, server);
  const sourceConn = `host=${source.target.ip} port=${source.target.port} user=postgres dbname=postgres connect_timeout=5`;
  if (existsSync(join(dataDir, 'PG_VERSION'))) {
    try {
      // pg_rewind reads the source's timeline from its control file, which a promotion without a
      // checkpoint (ours) leaves on the old timeline until the next one: without this it finds
      // "the same timeline", rewinds nothing, and the server cannot follow.
      await rh.query(source, 'checkpoint', 'postgres');
      const said = await runPostgresTool(server.region.ns, 'pg_rewind', ['--target-pgdata', dataDir, '--source-server', sourceConn, '--no-sync'], 300_000);
      try {
        await startStandby(rh, server, source, timeline);
      } catch (error) {
        throw new Error(`${firstLine(error)}; pg_rewind said: ${firstLine(said)}`);
      }
      return 'pg_rewind';
    } catch (error) {
      // Not rewindable, or it rewound but cannot follow: copy it afresh, and say why.
      await stopPgServer(rh.options, server, 'fast');
      resetPgDataDir(rh.plan, server);
      await copyAfresh(rh, server, source, timeline, sourceConn, dataDir);
      return `pg_basebackup, after pg_rewind failed: ${firstLine(error)}`;
    }
  }
  resetPgDataDir(rh.plan, server);
  await copyAfresh(rh, server, source, timeline, sourceConn, dataDir);
  return 'pg_basebackup';
}

async function copyAfresh(rh: LocalRehearsal, server: PgServer, source: PgServer, timeline: number, sourceConn: string, dataDir: string): Promise<void> {
  await runPostgresTool(server.region.ns, 'pg_basebackup', ['-d', `${sourceConn} application_name=${server.standby}`, '-D', dataDir, '-X', 'stream', '-c', 'fast', '--no-sync'], 300_000);
  await startStandby(rh, server, source, timeline);
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').slice(0, 4).join(' ').slice(0, 600);
}

/** Starts a copied or rewound data directory as a standby of `source` and waits for it to stream. */
async function startStandby(rh: LocalRehearsal, server: PgServer, source: PgServer, timeline: number): Promise<void> {
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
  if (!(await waitFollowing(rh, server, source, timeline, 30_000))) {
    const log = pgProcess(rh.options, server)?.log;
    const tail = log === undefined ? '' : logTail(log, 6).split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
    throw new Error(`${server.region.name} (${server.key}) does not stream from ${source.region.name}${tail === '' ? '' : `; its log ends: ${tail}`}`);
  }
}
