/**
 * @module Each region's own services besides Postgres: its Redis and its S3-compatible server
 * (started the way the local-services toolkit starts them for the tests, here on the region's
 * service address inside its namespace), and the replicator that pushes its bucket's writes to
 * the other regions. Also a region lost at once (`crashRegion`) and brought back.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { redisServerArgs } from '../local-services/redis.js';
import { s3ServerCommand } from '../local-services/s3.js';
import { startDaemon, waitForTcp } from './netns.js';
import { loadPlan, pathsOf, REPO_ROOT, requireUp, STOP, type Paths, type Remember } from './paths.js';
import { pgProcessName, pgServers, stopPgServer } from './pg-servers.js';
import { readState, recordProcess, runningProcess, stopProcess, type ProcessRecord } from './state.js';
import { isRunning } from '../local-services/pid-lock.js';
import { createdObjectsLog, REDIS_PORT, regionNamed, S3_PORT, type RegionPlan, type RehearsalOptions, type RehearsalPlan } from './topology.js';

export async function startRedis(region: RegionPlan, paths: Paths, remember: Remember): Promise<void> {
  const dir = join(paths.run, 'redis', region.name);
  mkdirSync(dir, { recursive: true });
  const log = join(paths.logs, `redis-${region.name}.log`);
  remember(
    await startDaemon({
      name: `redis ${region.name}`,
      ns: region.ns,
      command: 'redis-server',
      args: redisServerArgs(region.serviceIp, REDIS_PORT, dir),
      log,
      stopOrder: STOP.regionServices,
    }),
  );
  await waitForTcp(region.ns, region.serviceIp, REDIS_PORT, 15_000, `redis ${region.name}`, log);
}

export async function startS3(region: RegionPlan, paths: Paths, remember: Remember): Promise<void> {
  const dir = join(paths.run, 's3', region.name);
  mkdirSync(dir, { recursive: true });
  const log = join(paths.logs, `s3-${region.name}.log`);
  const [command, ...args] = s3ServerCommand(region.serviceIp, S3_PORT, dir, region.bucket);
  remember(
    await startDaemon({
      name: `s3 ${region.name}`,
      ns: region.ns,
      command,
      args,
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '', S3RVER_CREATED_LOG: createdObjectsLog(paths.run, region.name) },
      log,
      stopOrder: STOP.regionServices,
    }),
  );
  await waitForTcp(region.ns, region.serviceIp, S3_PORT, 15_000, `s3 ${region.name}`, log);
}

/** Pushes what is written to the region's bucket to every other region's bucket (see s3-replicator.ts). */
export async function startReplicator(plan: RehearsalPlan, region: RegionPlan, remember: Remember): Promise<void> {
  remember(
    await startDaemon({
      name: `s3 replication ${region.name}`,
      ns: region.ns,
      command: process.execPath,
      args: ['--import', 'tsx', join(REPO_ROOT, 'scripts/rehearsal/s3-replicator-main.ts'), plan.options.dir, region.name],
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      log: join(plan.options.dir, 'logs', `s3-replication-${region.name}.log`),
      stopOrder: STOP.health,
    }),
  );
}

/** The process records of one region's servers (Redis, S3, its replicator), by name. */
function regionServiceNames(region: RegionPlan): string[] {
  return [`redis ${region.name}`, `s3 ${region.name}`, `s3 replication ${region.name}`];
}

/** Stops the region's Redis; returns false when it was not running. */
export async function stopRegionRedis(options: RehearsalOptions, region: string, how: 'fast' | 'crash'): Promise<boolean> {
  const record = runningProcess(options.dir, `redis ${region}`);
  if (record === null) return false;
  await stopProcess(how === 'crash' ? { ...record, stopSignal: 'SIGKILL' } : record, 5000);
  return true;
}

/** Starts the region's Redis again (empty: the rehearsal's Redis keeps nothing on disk). */
export async function startRegionRedis(options: RehearsalOptions, region: string): Promise<boolean> {
  requireUp(options);
  if (runningProcess(options.dir, `redis ${region}`) !== null) return false;
  const plan = loadPlan(options);
  await startRedis(regionNamed(plan, region), pathsOf(plan), (record) => recordProcess(options.dir, record));
  return true;
}

/**
 * A region lost at once: every process in its namespace is killed (nodes, Postgres servers with
 * an immediate shutdown, Redis, S3 and its replicator). Returns the names of what was stopped.
 */
export async function crashRegion(options: RehearsalOptions, region: string): Promise<string[]> {
  const plan = loadPlan(options);
  const target = regionNamed(plan, region);
  const stopped: string[] = [];
  const state = readState(options.dir);
  const nodeNames = new Set(target.nodes.map((n) => `node ${n.id}`));
  const services = new Set(regionServiceNames(target));
  const doomed = state?.processes.filter((p) => (nodeNames.has(p.name) || services.has(p.name)) && isRunning(p)) ?? [];
  await Promise.all(doomed.map((p) => stopProcess({ ...p, stopSignal: 'SIGKILL' }, 3000)));
  stopped.push(...doomed.map((p) => p.name));
  for (const server of pgServers(plan).filter((s) => s.region.name === region)) {
    if (await stopPgServer(options, server, 'crash')) stopped.push(pgProcessName(server));
  }
  return stopped;
}

/** Starts again what `crashRegion` stopped, except Postgres (a drill decides how it rejoins). */
export async function restartRegionServices(options: RehearsalOptions, region: string): Promise<string[]> {
  requireUp(options);
  const plan = loadPlan(options);
  const target = regionNamed(plan, region);
  const paths = pathsOf(plan);
  const started: string[] = [];
  const remember = (record: ProcessRecord): ProcessRecord => {
    started.push(record.name);
    return recordProcess(options.dir, record);
  };
  const stopped = (name: string): boolean => runningProcess(options.dir, name) === null;
  if (stopped(`redis ${region}`)) await startRedis(target, paths, remember);
  if (stopped(`s3 ${region}`)) await startS3(target, paths, remember);
  if (stopped(`s3 replication ${region}`)) await startReplicator(plan, target, remember);
  return started;
}
