/**
 * @module `up` and `down` of the local multi-region rehearsal. `up` builds, in this order: the
 * namespaces (a router plus one per region), the WAN delay (wan-delay on an NFQUEUE in the
 * router), the home region's Postgres primary, every region's Redis and S3 server, the streaming
 * replicas (pg_basebackup -R across the delayed WAN), the nodes (home region's first node first:
 * it runs the migrations), the GeoDNS stand-in and its health checker; then it measures the
 * RTTs. Everything is recorded in the state file as it is created; `down` stops exactly those
 * processes by PID and deletes exactly those namespaces. Both are idempotent.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGIONS } from '../../regions/index.js';
import { namedConf } from './dns.js';
import { planFile, withdrawnFile, writeZones } from './health-checker.js';
import { inNamespace, logTail, namespaceExists, netnsAvailable, pingRtt, resolveFrom, run, startDaemon, waitForTcp } from './netns.js';
import { credentialsOf } from '../local-credentials.js';
import { nodeYaml, type Credentials } from './node-config.js';
import { emptyState, isRunning, processStartTime, readState, recordProcess, removeState, runningProcess, sleep, stopProcess, writeState, type ProcessRecord, type RehearsalState, type RttMeasurement } from './state.js';
import { buildWanDelay, ensureSystemPackages, postgresBinDir } from './system.js';
import {
  allNodes,
  DATABASE,
  delayMatrix,
  namespacesOf,
  pairKey,
  regionNamed,
  parseRttTable,
  planRehearsal,
  POSTGRES_PORT,
  REDIS_PORT,
  rttBetween,
  S3_PORT,
  type NodePlan,
  type RegionPlan,
  type RehearsalOptions,
  type RehearsalPlan,
} from './topology.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Default options; the environment can override (REHEARSAL_DIR, _PREFIX, _OCTET, _RTT, _BACKEND, _S3_LAG_MS). */
export function rehearsalOptions(overrides: Partial<RehearsalOptions> = {}, env: NodeJS.ProcessEnv = process.env): RehearsalOptions {
  const backend = overrides.backend ?? env['REHEARSAL_BACKEND'] ?? 's3';
  if (backend !== 'localfs' && backend !== 's3') throw new Error(`REHEARSAL_BACKEND: "${backend}" is not localfs or s3`);
  return {
    dir: resolve(overrides.dir ?? env['REHEARSAL_DIR'] ?? join(REPO_ROOT, 'data/rehearsal')),
    prefix: overrides.prefix ?? env['REHEARSAL_PREFIX'] ?? 'gcfs',
    octet: overrides.octet ?? Number(env['REHEARSAL_OCTET'] ?? 251),
    rttMs: overrides.rttMs ?? { 'eu-us': 40, 'ap-eu': 80, 'ap-us': 140, ...parseRttTable(env['REHEARSAL_RTT'] ?? '') },
    domain: overrides.domain ?? 'rehearsal.test',
    globalLabel: overrides.globalLabel ?? 'api',
    nodePort: overrides.nodePort ?? 8443,
    backend,
    s3ExtraLagMs: overrides.s3ExtraLagMs ?? Number(env['REHEARSAL_S3_LAG_MS'] ?? 0),
  };
}

export function loadPlan(options: RehearsalOptions): RehearsalPlan {
  return planRehearsal(REGIONS, options);
}

/** Stop order: the health checker first (it would re-signal named), then nodes, then what they use. */
const STOP = { health: 0, node: 1, dns: 2, regionServices: 3, standby: 4, primary: 5, wan: 6 } as const;

interface Paths {
  readonly run: string;
  readonly logs: string;
  readonly pg: string;
  readonly dns: string;
  readonly bin: string;
}

function pathsOf(plan: RehearsalPlan): Paths {
  const dir = plan.options.dir;
  return { run: join(dir, 'run'), logs: join(dir, 'logs'), pg: join(dir, 'run', 'pg'), dns: join(dir, 'run', 'dns'), bin: join(dir, 'bin') };
}

export { credentialsOf };

export interface UpResult {
  readonly plan: RehearsalPlan;
  readonly state: RehearsalState;
  /** False when the rehearsal was already up and nothing was started. */
  readonly started: boolean;
}

/** Whether everything the state file records is still there. */
export function isFullyUp(state: RehearsalState | null): boolean {
  return state !== null && state.ready && state.processes.every(isRunning) && state.namespaces.every(namespaceExists);
}

/**
 * Runs `action` holding `<dir>/busy.json`, so that two `up`/`down` on one rehearsal never
 * interleave; a holder that is no longer running (killed) is taken over.
 */
async function exclusively<T>(dir: string, action: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'busy.json');
  const me = { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch {
      let holder: { pid: number; startTime: string } | null = null;
      try {
        holder = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; startTime: string };
      } catch {
        // unreadable: written by a process that died mid-write
      }
      if (holder !== null && isRunning(holder) && holder.pid !== process.pid) throw new Error(`another up or down of this rehearsal is running (pid ${holder.pid})`);
      if (attempt > 2) throw new Error(`cannot take ${file}`);
      rmSync(file, { force: true });
    }
  }
  try {
    return await action();
  } finally {
    rmSync(file, { force: true });
  }
}

export async function up(options: RehearsalOptions, log: (line: string) => void = console.log): Promise<UpResult> {
  const reason = await netnsAvailable();
  if (reason !== null) throw new Error(reason);
  return exclusively(options.dir, () => upHoldingLock(options, log));
}

async function upHoldingLock(options: RehearsalOptions, log: (line: string) => void): Promise<UpResult> {
  const plan = loadPlan(options);
  const existing = readState(options.dir);
  if (isFullyUp(existing) && existing !== null) {
    log('the rehearsal is already up; nothing started');
    return { plan, state: existing, started: false };
  }
  if (existing !== null) {
    log('a previous rehearsal is partly up: stopping what is left of it first');
    await downHoldingLock(options, log);
  }
  const t0 = performance.now();
  const step = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await action();
    log(`  ${what.padEnd(44)} ${((performance.now() - started) / 1000).toFixed(2)} s`);
    return result;
  };
  await step('system packages', () => ensureSystemPackages(log));
  const paths = pathsOf(plan);
  const wanDelay = await step('wan-delay (gcc)', () => buildWanDelay(paths.bin));
  rmSync(paths.run, { recursive: true, force: true });
  rmSync(paths.logs, { recursive: true, force: true });
  rmSync(withdrawnFile(options.dir), { force: true });
  mkdirSync(paths.run, { recursive: true });
  mkdirSync(paths.logs, { recursive: true });
  // Postgres runs as the postgres user: it must be able to pass through to its data directory.
  for (const passage of [options.dir, paths.run]) chmodSync(passage, statSync(passage).mode | 0o011);
  writeFileSync(planFile(options.dir), JSON.stringify(plan, null, 2) + '\n');
  const creds = credentialsOf(options.dir);
  const state = emptyState();
  writeState(options.dir, state);
  const remember = (record: ProcessRecord): ProcessRecord => {
    state.processes.push(record);
    writeState(options.dir, state);
    return record;
  };
  try {
    await step('namespaces, links, routes', () => createNetwork(plan, state));
    await step('WAN delay (NFQUEUE)', async () => {
      state.wanDelay = await startWanDelay(plan, wanDelay, paths, remember);
      writeState(options.dir, state);
    });
    await step(`postgres primary (${plan.home.name}), redis, s3`, () =>
      Promise.all([startPrimary(plan, paths, remember), ...plan.regions.flatMap((r) => [startRedis(r, paths, remember), startS3(r, paths, remember)])]),
    );
    await step('S3 replication between the regions', () => Promise.all(plan.regions.map((r) => startReplicator(plan, r, remember))));
    await step('streaming replicas (pg_basebackup -R)', () => Promise.all(plan.regions.map((r) => startReplica(plan, r, paths, remember))));
    await step('nodes', async () => {
      const [first, ...rest] = allNodes(plan);
      if (first !== undefined) remember(await startNode(plan, first, creds));
      await Promise.all(rest.map(async (node) => remember(await startNode(plan, node, creds))));
    });
    await step('GeoDNS (bind9 views) + health checks', () => startDns(plan, paths, remember));
    await step('replication streaming to every replica', () => waitForReplication(plan, 30_000));
    state.rtt = await step('RTT measurement (ping)', () => measureRtt(plan));
    state.ready = true;
    state.upMs = Math.round(performance.now() - t0);
    writeState(options.dir, state);
    log(`  ${'total'.padEnd(44)} ${(state.upMs / 1000).toFixed(2)} s`);
    return { plan, state, started: true };
  } catch (error) {
    log(`up failed: ${error instanceof Error ? error.message : String(error)}\nstopping what was started`);
    await downHoldingLock(options, () => undefined);
    throw error;
  }
}

/** `ip netns exec` mounts the files of /etc/netns/<namespace>/ over /etc inside the namespace. */
const ETC_NETNS = '/etc/netns';

async function createNetwork(plan: RehearsalPlan, state: RehearsalState): Promise<void> {
  const save = (): void => writeState(plan.options.dir, state);
  for (const ns of namespacesOf(plan)) {
    if (namespaceExists(ns)) throw new Error(`namespace ${ns} already exists and is not in this rehearsal's state file; choose another REHEARSAL_PREFIX or remove it`);
  }
  const ip = (...args: string[]): Promise<unknown> => run('ip', args, 10_000);
  // Each name is recorded before it is created, so an `up` killed in between still lets `down`
  // delete it (down skips names that do not exist); a name `ip` refuses is dropped again, since
  // then it was someone else's.
  const addNamespace = async (ns: string): Promise<void> => {
    state.namespaces.push(ns);
    save();
    try {
      await ip('netns', 'add', ns);
    } catch (error) {
      state.namespaces = state.namespaces.filter((n) => n !== ns);
      save();
      throw error;
    }
  };
  if (!existsSync(ETC_NETNS)) {
    state.etcNetnsDirs.push(ETC_NETNS);
    save();
  }
  await addNamespace(plan.wanNs);
  await ip('-n', plan.wanNs, 'link', 'set', 'lo', 'up');
  await inNamespace(plan.wanNs, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const region of plan.regions) {
    await addNamespace(region.ns);
    const routerSide = `r${region.index}`;
    // Both ends are created inside namespaces: nothing appears in the host's.
    await ip('-n', plan.wanNs, 'link', 'add', routerSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', region.ns);
    await ip('-n', plan.wanNs, 'addr', 'add', `${region.routerIp}/24`, 'dev', routerSide);
    await ip('-n', plan.wanNs, 'link', 'set', routerSide, 'up');
    await ip('-n', region.ns, 'link', 'set', 'lo', 'up');
    for (const address of [region.serviceIp, ...region.nodes.map((n) => n.ip)]) await ip('-n', region.ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', region.ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', region.ns, 'route', 'add', 'default', 'via', region.routerIp);
    // `ip netns exec` mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf: the region's
    // programs (curl, dig, the nodes) resolve through the GeoDNS stand-in.
    const etcDir = join(ETC_NETNS, region.ns);
    state.etcNetnsDirs.push(etcDir);
    save();
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(join(etcDir, 'resolv.conf'), `nameserver ${region.routerIp}\nsearch ${plan.options.domain}\noptions timeout:1 attempts:2\n`);
  }
}

function matrixFile(plan: RehearsalPlan): string {
  return join(plan.options.dir, 'run', 'wan-delay.matrix');
}

/**
 * Cuts the listed region pairs off from each other (every packet between them dropped, both ways),
 * or, with an empty list, heals every partition: the WAN delayer re-reads its matrix (SIGHUP).
 * Returns once the delayer has loaded it.
 */
export async function setPartitions(options: RehearsalOptions, pairs: ReadonlyArray<readonly [string, string]>): Promise<string[]> {
  const state = readState(options.dir);
  const delayer = state?.processes.find((p) => p.name === 'wan-delay');
  if (state === null || delayer === undefined || !isRunning(delayer)) throw new Error('the rehearsal is not up (no running wan-delay)');
  const plan = loadPlan(options);
  const names = new Set(plan.regions.map((r) => r.name));
  for (const [a, b] of pairs) {
    if (!names.has(a) || !names.has(b) || a === b) throw new Error(`"${a} ${b}" is not a pair of two regions of ${[...names].join(', ')}`);
  }
  const keys = [...new Set(pairs.map(([a, b]) => pairKey(a, b)))].sort();
  writeFileSync(matrixFile(plan), delayMatrix(plan, new Set(keys)));
  const loadsBefore = logTail(delayer.log, 10_000).split('\n').filter((l) => l.includes('delays loaded')).length;
  process.kill(delayer.pid, 'SIGHUP');
  const deadline = Date.now() + 3000;
  while (logTail(delayer.log, 10_000).split('\n').filter((l) => l.includes('delays loaded')).length <= loadsBefore && Date.now() < deadline) await sleep(20);
  state.partitions = keys;
  writeState(options.dir, state);
  return keys;
}

async function startWanDelay(plan: RehearsalPlan, binary: string, paths: Paths, remember: (r: ProcessRecord) => ProcessRecord): Promise<string> {
  const matrix = matrixFile(plan);
  writeFileSync(matrix, delayMatrix(plan));
  const log = join(paths.logs, 'wan-delay.log');
  const record = remember(await startDaemon({ name: 'wan-delay', ns: plan.wanNs, command: binary, args: ['-q', '0', '-f', matrix], log, stopOrder: STOP.wan }));
  for (let i = 0; i < 100 && !logTail(log, 20).includes('ready'); i++) await sleep(20);
  if (!isRunning(record)) throw new Error(`wan-delay did not start: ${logTail(log)}`);
  // Only once the queue has its reader: a queue without one drops every packet.
  await inNamespace(plan.wanNs, 'iptables', ['-w', '-A', 'FORWARD', '-j', 'NFQUEUE', '--queue-num', '0']);
  return `NFQUEUE delayer ${binary} (matrix ${matrix})`;
}

// ---- Postgres ------------------------------------------------------------------------------

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

/** uid and gid of the postgres OS user (created by the Debian package). */
function postgresIds(): { uid: number; gid: number } {
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (entry === undefined) throw new Error('the OS user postgres does not exist (apt-get install postgresql-15 creates it)');
  const fields = entry.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Arguments that run `command` as the postgres OS user (Postgres refuses root). */
function asPostgres(command: string, args: readonly string[]): string[] {
  return ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', 'env', `HOME=${PG_HOME}`, command, ...args];
}

/** A directory only the postgres user may use (data parents, socket directories). */
function postgresOwnedDir(dir: string): void {
  const { uid, gid } = postgresIds();
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
}

/** `primary` or `<region>-replica`: names the server's data directory, socket directory and log. */
type PgServerName = 'primary' | `${string}-replica`;

async function runPostgresDaemon(name: PgServerName, target: PgTarget, paths: Paths, remember: (r: ProcessRecord) => ProcessRecord): Promise<void> {
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

async function startPrimary(plan: RehearsalPlan, paths: Paths, remember: (r: ProcessRecord) => ProcessRecord): Promise<void> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error('PostgreSQL server binaries not found');
  postgresOwnedDir(paths.pg);
  const data = join(paths.pg, 'primary');
  const [command = '', ...args] = asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8']);
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
  const owner = postgresIds();
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
async function startReplica(plan: RehearsalPlan, region: RegionPlan, paths: Paths, remember: (r: ProcessRecord) => ProcessRecord): Promise<void> {
  const bin = postgresBinDir() ?? '';
  const name: PgServerName = `${region.name}-replica`;
  const source = `host=${plan.home.serviceIp} port=${POSTGRES_PORT} user=postgres application_name=${standbyName(region, region.role === 'home')}`;
  // Taken from inside the region, so the copy crosses the delayed WAN like the stream after it.
  const [command = '', ...args] = asPostgres(join(bin, 'pg_basebackup'), ['-d', source, '-D', join(paths.pg, name), '-R', '-X', 'stream', '-c', 'fast', '-S', slotName(region), '--no-sync']);
  await inNamespace(region.ns, command, args, 120_000);
  await runPostgresDaemon(name, replicaTarget(region), paths, remember);
}

async function waitForReplication(plan: RehearsalPlan, timeoutMs: number): Promise<void> {
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

// ---- Redis, S3 -------------------------------------------------------------------------------

async function startRedis(region: RegionPlan, paths: Paths, remember: (r: ProcessRecord) => ProcessRecord): Promise<void> {
  const dir = join(paths.run, 'redis', region.name);
  mkdirSync(dir, { recursive: true });
  const log = join(paths.logs, `redis-${region.name}.log`);
  remember(
    await startDaemon({
      name: `redis ${region.name}`,
      ns: region.ns,
      command: 'redis-server',
      args: ['--bind', region.serviceIp, '--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', dir],
      log,
      stopOrder: STOP.regionServices,
    }),
  );
  await waitForTcp(region.ns, region.serviceIp, REDIS_PORT, 15_000, `redis ${region.name}`, log);
}

async function startS3(region: RegionPlan, paths: Paths, remember: (r: ProcessRecord) => ProcessRecord): Promise<void> {
  const dir = join(paths.run, 's3', region.name);
  mkdirSync(dir, { recursive: true });
  const log = join(paths.logs, `s3-${region.name}.log`);
  remember(
    await startDaemon({
      name: `s3 ${region.name}`,
      ns: region.ns,
      command: process.execPath,
      args: ['--openssl-legacy-provider', join(REPO_ROOT, 'scripts/rehearsal/s3-server.mjs'), region.serviceIp, String(S3_PORT), dir, region.bucket],
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      log,
      stopOrder: STOP.regionServices,
    }),
  );
  await waitForTcp(region.ns, region.serviceIp, S3_PORT, 15_000, `s3 ${region.name}`, log);
}

/** Pushes what is written to the region's bucket to every other region's bucket (see s3-replicator.ts). */
async function startReplicator(plan: RehearsalPlan, region: RegionPlan, remember: (r: ProcessRecord) => ProcessRecord): Promise<void> {
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

// ---- nodes -----------------------------------------------------------------------------------

function nodeEnv(): NodeJS.ProcessEnv {
  // The YAML is the whole configuration: no CALLFS_ override from the caller's environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CALLFS_')));
  return { ...env, NODE_OPTIONS: '' };
}

export function nodeDir(plan: RehearsalPlan, node: NodePlan): string {
  return join(plan.options.dir, 'run', 'nodes', node.id);
}

export async function startNode(plan: RehearsalPlan, node: NodePlan, creds: Credentials): Promise<ProcessRecord> {
  const region = plan.regions.find((r) => r.name === node.region);
  if (region === undefined) throw new Error(`node ${node.id}: unknown region ${node.region}`);
  const dir = nodeDir(plan, node);
  mkdirSync(join(dir, 'files'), { recursive: true });
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, nodeYaml(plan, region, node, creds, dir), { mode: 0o600 });
  const log = join(plan.options.dir, 'logs', `node-${node.id}.log`);
  const record = await startDaemon({
    name: `node ${node.id}`,
    ns: region.ns,
    command: process.execPath,
    args: ['--import', 'tsx', join(REPO_ROOT, 'app/main.ts'), '--config', configFile],
    cwd: REPO_ROOT,
    env: nodeEnv(),
    log,
    stopOrder: STOP.node,
  });
  try {
    await waitForTcp(region.ns, node.ip, node.port, 60_000, `node ${node.id}`, log);
  } catch (error) {
    await stopProcess(record, 2000);
    throw error;
  }
  return record;
}

// ---- DNS -------------------------------------------------------------------------------------

async function startDns(plan: RehearsalPlan, paths: Paths, remember: (r: ProcessRecord) => ProcessRecord): Promise<void> {
  mkdirSync(join(paths.dns, 'zones'), { recursive: true });
  const everyoneUp = Object.fromEntries(allNodes(plan).map((n) => [n.id, true]));
  writeZones(plan, paths.dns, everyoneUp, Math.floor(Date.now() / 1000));
  const conf = join(paths.dns, 'named.conf');
  writeFileSync(conf, namedConf(plan, paths.dns));
  const namedLog = join(paths.logs, 'named.log');
  remember(await startDaemon({ name: 'named', ns: plan.wanNs, command: 'named', args: ['-g', '-n', '1', '-c', conf], log: namedLog, stopOrder: STOP.dns }));
  const probe = plan.regions[0];
  if (probe === undefined) return;
  const deadline = Date.now() + 15_000;
  while ((await resolveFrom(probe.ns, probe.routerIp, plan.globalHostname).catch(() => [])).length === 0) {
    if (Date.now() > deadline) throw new Error(`named does not answer ${plan.globalHostname}\n${logTail(namedLog)}`);
    await sleep(100);
  }
  remember(
    await startDaemon({
      name: 'health checker',
      ns: plan.wanNs,
      command: process.execPath,
      args: ['--import', 'tsx', join(REPO_ROOT, 'scripts/rehearsal/health-main.ts'), plan.options.dir, paths.dns],
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      log: join(paths.logs, 'health-checker.log'),
      stopOrder: STOP.health,
    }),
  );
}

// ---- RTT -------------------------------------------------------------------------------------

/** Pings between every pair of regions (from one region's namespace to the other's services). */
export async function measureRtt(plan: RehearsalPlan, count = 5): Promise<RttMeasurement[]> {
  const pairs: Array<[RegionPlan, RegionPlan]> = [];
  plan.regions.forEach((a, i) => plan.regions.slice(i + 1).forEach((b) => pairs.push([a, b])));
  return Promise.all(
    pairs.map(async ([a, b]) => ({ from: a.name, to: b.name, configuredMs: rttBetween(plan, a.name, b.name), measuredMs: await pingRtt(a.ns, b.serviceIp, count) })),
  );
}

// ---- down ------------------------------------------------------------------------------------

export async function down(options: RehearsalOptions, log: (line: string) => void = console.log): Promise<boolean> {
  if (readState(options.dir) === null) {
    log('nothing to stop: no rehearsal state in ' + options.dir);
    return false;
  }
  return exclusively(options.dir, () => downHoldingLock(options, log));
}

async function downHoldingLock(options: RehearsalOptions, log: (line: string) => void): Promise<boolean> {
  const state = readState(options.dir);
  if (state === null) {
    log('nothing to stop: no rehearsal state in ' + options.dir);
    return false;
  }
  const orders = [...new Set(state.processes.map((p) => p.stopOrder))].sort((a, b) => a - b);
  let stopped = 0;
  for (const order of orders) {
    const group = state.processes.filter((p) => p.stopOrder === order && isRunning(p));
    await Promise.all(group.map((p) => stopProcess(p, p.name.startsWith('postgres') ? 20_000 : 8000)));
    stopped += group.length;
  }
  for (const ns of [...state.namespaces].reverse()) {
    if (!namespaceExists(ns)) continue;
    const left = (await run('ip', ['netns', 'pids', ns], 10_000).catch(() => ({ stdout: '' }))).stdout.trim();
    if (left !== '') log(`namespace ${ns} still has processes this rehearsal did not start (${left.split('\n').join(', ')}); deleting the name only`);
    await run('ip', ['netns', 'del', ns], 10_000);
  }
  for (const dir of [...state.etcNetnsDirs].reverse()) {
    if (dir !== ETC_NETNS) rmSync(dir, { recursive: true, force: true });
    else if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir); // made by us; kept if others use it now
  }
  rmSync(join(options.dir, 'run'), { recursive: true, force: true });
  rmSync(join(options.dir, 'health.json'), { force: true });
  rmSync(withdrawnFile(options.dir), { force: true });
  removeState(options.dir);
  log(`stopped ${stopped} process(es), deleted ${state.namespaces.length} namespace(s); logs kept in ${join(options.dir, 'logs')}`);
  return true;
}

/** Stops the nodes of one region (a regional outage), by their recorded PIDs. */
export async function stopRegionNodes(options: RehearsalOptions, region: string): Promise<number> {
  const state = readState(options.dir);
  const plan = loadPlan(options);
  const ids = new Set(plan.regions.find((r) => r.name === region)?.nodes.map((n) => `node ${n.id}`) ?? []);
  const targets = state?.processes.filter((p) => ids.has(p.name) && isRunning(p)) ?? [];
  await Promise.all(targets.map((p) => stopProcess(p, 8000)));
  return targets.length;
}

/** Starts again the nodes of `region` that are not running, and records them. */
export async function startRegionNodes(options: RehearsalOptions, region: string): Promise<number> {
  const plan = loadPlan(options);
  const nodes = plan.regions.find((r) => r.name === region)?.nodes ?? [];
  let started = 0;
  for (const node of nodes) if ((await ensureNodeRunning(options, node)) !== null) started++;
  return started;
}

/** Starts `node` unless it is running, and records it; null when it was running. */
export async function ensureNodeRunning(options: RehearsalOptions, node: NodePlan): Promise<ProcessRecord | null> {
  if (readState(options.dir) === null) throw new Error('the rehearsal is not up');
  if (runningProcess(options.dir, `node ${node.id}`) !== null) return null;
  return recordProcess(options.dir, await startNode(loadPlan(options), node, credentialsOf(options.dir)));
}

// ---- servers one at a time (failover drills) -------------------------------------------------

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

function pgProcessName(server: PgServer): string {
  return `postgres ${server.key}`;
}

/** The running process of a server, from the state file, or null. */
export function pgProcess(options: RehearsalOptions, server: PgServer): ProcessRecord | null {
  return runningProcess(options.dir, pgProcessName(server));
}

/** Runs a Postgres program (pg_rewind, pg_basebackup, ...) as the postgres user inside `ns`. */
export async function runPostgresTool(ns: string, tool: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const [command = '', ...rest] = asPostgres(join(postgresBinDir() ?? '', tool), args);
  const { stdout } = await inNamespace(ns, command, rest, timeoutMs);
  return stdout;
}

/** Writes a file in a server's data directory, owned by postgres. */
export function writePgFile(plan: RehearsalPlan, server: PgServer, name: string, text: string): void {
  const file = join(pgDataDir(plan, server), name);
  writeFileSync(file, text);
  const { uid, gid } = postgresIds();
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
  if (readState(options.dir) === null) throw new Error('the rehearsal is not up');
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
  if (readState(options.dir) === null) throw new Error('the rehearsal is not up');
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
  if (readState(options.dir) === null) throw new Error('the rehearsal is not up');
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
