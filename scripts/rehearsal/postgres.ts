/**
 * @module Running the rehearsal's Postgres servers: each inside its region's namespace on the
 * region's service address, as the postgres OS user (the machine's binaries, found and
 * initialised the way the local-services toolkit does for the tests), and psql from inside the
 * namespace for every query the rehearsal makes of them.
 */
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { postgresBinDir, postgresOsUser } from '../local-services/postgres-binaries.js';
import { inNamespace, logTail, startDaemon, waitForTcp } from './netns.js';
import { STOP, type Paths, type Remember } from './paths.js';
import { sleep } from './state.js';
import { POSTGRES_PORT, type RegionPlan, type RehearsalPlan } from './topology.js';

const PG_HOME = '/var/lib/postgresql';

/** Where a Postgres server of the rehearsal listens. */
export interface PgTarget {
  readonly ns: string;
  readonly ip: string;
  readonly port: number;
}

export function primaryTarget(plan: RehearsalPlan): PgTarget {
  return { ns: plan.home.ns, ip: plan.home.serviceIp, port: POSTGRES_PORT };
}

export function replicaTarget(region: RegionPlan): PgTarget {
  return { ns: region.ns, ip: region.serviceIp, port: region.replicaPort };
}


/** Arguments that run `command` as the postgres OS user (Postgres refuses root). */
export function asPostgres(command: string, args: readonly string[]): string[] {
  return ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', 'env', `HOME=${PG_HOME}`, command, ...args];
}

/** A directory only the postgres user may use (data parents, socket directories). */
export function postgresOwnedDir(dir: string): void {
  const { uid, gid } = postgresOsUser();
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
}

/** `primary` or `<region>-replica`: names the server's data directory, socket directory and log. */

/** `primary` or `<region>-replica`: names the server's data directory, socket directory and log. */
export type PgServerName = 'primary' | `${string}-replica`;

export async function runPostgresDaemon(name: PgServerName, target: PgTarget, paths: Paths, remember: Remember): Promise<void> {
  const bin = postgresBinDir() ?? '';
  const socket = join(paths.pg, `sock-${name}`);
  postgresOwnedDir(socket);
  const log = join(paths.logs, `postgres-${name}.log`);
  const [command = '', ...args] = asPostgres(join(bin, 'postgres'), [
    '-D', join(paths.pg, name), '-c', `listen_addresses=${target.ip}`, '-c', `port=${target.port}`, '-c', `unix_socket_directories=${socket}`,
  ]);
  remember(
    await startDaemon({
      name: `postgres ${name}`,
      ns: target.ns,
      command,
      args,
      log,
      stopSignal: 'SIGINT', // Postgres's fast shutdown
      stopOrder: name === 'primary' ? STOP.primary : STOP.standby,
    }),
  );
  await waitForTcp(target.ns, target.ip, target.port, 30_000, `postgres ${name}`, log);
  await waitForSql(target, 'select 1', 20_000, log);
}

/** psql from inside the server's namespace; rows as arrays of fields. */
export async function sql(target: PgTarget, query: string, database = 'postgres'): Promise<string[][]> {
  const conn = `host=${target.ip} port=${target.port} user=postgres dbname=${database} connect_timeout=3`;
  const { stdout } = await inNamespace(target.ns, 'psql', ['-X', '-q', '-A', '-t', '-F', '|', '-d', conn, '-c', query], 15_000);
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('|'));
}

async function waitForSql(target: PgTarget, query: string, timeoutMs: number, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await sql(target, query)).length > 0) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`postgres ${target.ip}:${target.port}: "${query}" returned nothing after ${timeoutMs} ms${log === undefined ? '' : `\n${logTail(log)}`}`);
    await sleep(100);
  }
}
