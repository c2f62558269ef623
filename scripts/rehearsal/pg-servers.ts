/**
 * @module The rehearsal's Postgres servers one at a time, as the failover drills handle them:
 * each named by the role `up` gave it, found by the PID the state file records, stopped cleanly
 * or as in a crash, started again, its data directory rewritten or emptied for a new copy.
 */
import { chownSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postgresBinDir, postgresOsUser } from '../local-services/postgres-binaries.js';
import { inNamespace } from './netns.js';
import { loadPlan, pathsOf, requireUp } from './paths.js';
import { asPostgres, postgresOwnedDir, primaryTarget, replicaTarget, runPostgresDaemon, type PgServerName, type PgTarget } from './postgres.js';
import { standbyName } from './replication.js';
import { recordProcess, runningProcess, sleep, stopProcess, type ProcessRecord } from './state.js';
import { isRunning } from '../local-services/pid-lock.js';
import type { RegionPlan, RehearsalOptions, RehearsalPlan } from './topology.js';

/** A Postgres server of the rehearsal, named by the role `up` gave it. */
export interface PgServer {
  /** `primary` or `<region>-replica`: its data directory, socket directory, log and process name. */
  readonly key: PgServerName;
  readonly region: RegionPlan;
  readonly target: PgTarget;
  /** Its `application_name` and slot suffix whenever it streams as a standby. */
  readonly standby: string;
  /** The region's server on :5432, which a failover may promote (every region has one). */
  readonly promotable: boolean;
}

export function pgServers(plan: RehearsalPlan): PgServer[] {
  return plan.regions.flatMap((region): PgServer[] => {
    const main: PgServer = region.role === 'home'
      ? { key: 'primary', region, target: primaryTarget(plan), standby: standbyName(region, false), promotable: true }
      : { key: `${region.name}-replica`, region, target: replicaTarget(region), standby: standbyName(region, false), promotable: true };
    if (region.role !== 'home') return [main];
    return [main, { key: `${region.name}-replica`, region, target: replicaTarget(region), standby: standbyName(region, true), promotable: false }];
  });
}

export function pgDataDir(plan: RehearsalPlan, server: PgServer): string {
  return join(pathsOf(plan).pg, server.key);
}

export function pgProcessName(server: PgServer): string {
  return `postgres ${server.key}`;
}

/** The running process of a server, from the state file, or null. */
export function pgProcess(options: RehearsalOptions, server: PgServer): ProcessRecord | null {
  return runningProcess(options.dir, pgProcessName(server));
}

/**
 * Runs a Postgres program (pg_rewind, pg_basebackup, ...) as the postgres user inside `ns`;
 * returns what it printed (these tools report on stderr).
 */
export async function runPostgresTool(ns: string, tool: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const [command = '', ...rest] = asPostgres(join(postgresBinDir() ?? '', tool), args);
  const { stdout, stderr } = await inNamespace(ns, command, rest, timeoutMs);
  return `${stdout}${stderr}`;
}

/** Writes a file in a server's data directory, owned by postgres. */
export function writePgFile(plan: RehearsalPlan, server: PgServer, name: string, text: string): void {
  const file = join(pgDataDir(plan, server), name);
  writeFileSync(file, text);
  const { uid, gid } = postgresOsUser();
  chownSync(file, uid, gid);
}

/** An empty data directory for a server (the old one removed), ready for pg_basebackup. */
export function resetPgDataDir(plan: RehearsalPlan, server: PgServer): string {
  const dir = pgDataDir(plan, server);
  rmSync(dir, { recursive: true, force: true });
  postgresOwnedDir(dir);
  return dir;
}

/** Starts a server that is not running and records it in the state file (replacing its old record). */
export async function startPgServer(options: RehearsalOptions, server: PgServer): Promise<void> {
  requireUp(options);
  if (pgProcess(options, server) !== null) return;
  await runPostgresDaemon(server.key, server.target, pathsOf(loadPlan(options)), (record) => recordProcess(options.dir, record));
}

/**
 * Stops a server: `fast` is Postgres's clean fast shutdown (SIGINT), `crash` its immediate one
 * (SIGQUIT: no checkpoint, as if the machine had died). Returns false when it was not running.
 */
export async function stopPgServer(options: RehearsalOptions, server: PgServer, how: 'fast' | 'crash'): Promise<boolean> {
  const record = pgProcess(options, server);
  if (record === null) return false;
  if (how === 'fast') {
    await stopProcess(record, 20_000);
    return true;
  }
  process.kill(record.pid, 'SIGQUIT');
  const deadline = Date.now() + 10_000;
  while (isRunning(record) && Date.now() < deadline) await sleep(50);
  if (isRunning(record)) await stopProcess({ ...record, stopSignal: 'SIGKILL' }, 2000);
  return true;
}
