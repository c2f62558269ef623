/**
 * @module The `local` drill provider: drives the rehearsal (scripts/rehearsal) the way the `aws`
 * provider drives a deployment. Every operation runs from the host into the rehearsal's network
 * namespaces (psql, redis-cli and curl inside the region, as an operator on a bastion there
 * would), by the PIDs the rehearsal's state file records.
 *
 * - DNS: a region is withdrawn by listing it in `<dir>/withdrawn.json`, which the health checker
 *   reads every round: the GeoDNS stand-in stops answering it even if its nodes are healthy.
 * - Postgres: each region's promotable server is `serviceIp:5432` (the home region's is the
 *   primary `up` created). Fencing marks the epoch row fenced and makes the server read-only
 *   (and leaves `standby.signal`, so a restart brings it back as a standby, never a primary);
 *   promotion is `pg_promote()`; a replica follows a new primary by `primary_conninfo` and a
 *   reload, or is rebuilt with pg_rewind (falling back to a fresh pg_basebackup) when it cannot.
 * - Redis: the lock home's epoch and fence floor are keys the nodes' lock grants read.
 * - Faults: `partition` drops every packet between the region and the others (the WAN delayer's
 *   matrix), `crash` kills every process of the region at once.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { credentialsOf } from '../../local-credentials.js';
import { setPartitions } from '../../rehearsal/network.js';
import { ensureNodeRunning, nodeDir } from '../../rehearsal/nodes.js';
import { loadPlan } from '../../rehearsal/paths.js';
import { pgDataDir, pgProcess, type PgServer, pgServers, resetPgDataDir, runPostgresTool, startPgServer, stopPgServer, writePgFile } from '../../rehearsal/pg-servers.js';
import { sql } from '../../rehearsal/postgres.js';
import { crashRegion, restartRegionServices, startRegionRedis, stopRegionRedis } from '../../rehearsal/region-services.js';
import { slotOf } from '../../rehearsal/replication.js';
import { readWithdrawn, readHealth, writeWithdrawn } from '../../rehearsal/health-checker.js';
import { httpFrom, inNamespace, pingRtt, resolveFrom } from '../../rehearsal/netns.js';
import { readState, runningProcess, sleep, stopProcess } from '../../rehearsal/state.js';
import { DATABASE, pairKey, REDIS_PORT, regionNamed, type RegionPlan, type RehearsalOptions, type RehearsalPlan } from '../../rehearsal/topology.js';
import {
  armLockHomeCall,
  DEFAULT_LOCK_KEY_PREFIX,
  END_CLIENT_SESSIONS,
  epochRecordFromCells,
  evalArguments,
  inlineReadWriteTransaction,
  MARK_FENCED,
  READ_EPOCH_RECORD,
  RELOAD_CONFIGURATION,
  RESET_READ_ONLY_DEFAULT,
  SET_READ_ONLY_DEFAULT,
  sqlLiteral,
  writeEpochStatement,
  type EpochRecord,
} from '../../../app/fencing/index.js';
import type { DatabaseStatus, DrillProvider, NodeStatus, RegionLoss, StandbyStatus, Topology } from '../provider.js';

/** How long a re-pointed replica may take to start streaming before it is rebuilt instead. */
const STREAM_WAIT_MS = 15_000;

export interface LocalProviderOptions {
  readonly rehearsal: RehearsalOptions;
  readonly log?: (line: string) => void;
}

export function createLocalProvider(options: LocalProviderOptions): DrillProvider & { readonly plan: RehearsalPlan } {
  return new LocalProvider(options);
}

class LocalProvider implements DrillProvider {
  readonly name = 'local' as const;
  readonly plan: RehearsalPlan;
  readonly #options: RehearsalOptions;
  readonly #servers: readonly PgServer[];

  constructor(options: LocalProviderOptions) {
    this.#options = options.rehearsal;
    this.plan = loadPlan(options.rehearsal);
    this.#servers = pgServers(this.plan);
  }

  // ---- helpers ----------------------------------------------------------------------------

  #region(name: string): RegionPlan {
    return regionNamed(this.plan, name);
  }

  #main(region: string): PgServer {
    const server = this.#servers.find((s) => s.region.name === region && s.promotable);
    if (server === undefined) throw new Error(`region ${region} has no promotable Postgres server`);
    return server;
  }

  #regionOfIp(ip: string): string | null {
    return this.plan.regions.find((r) => r.serviceIp === ip || r.nodes.some((n) => n.ip === ip))?.name ?? null;
  }

  #requireUp(): void {
    if (readState(this.#options.dir) === null) throw new Error(`the rehearsal is not up (no state in ${this.#options.dir}); run: npm run rehearsal -- up`);
  }

  async #query(server: PgServer, query: string, database = DATABASE): Promise<string[][]> {
    return sql(server.target, query, database);
  }

  /**
   * Several statements in one psql session (one `-c` each, so ALTER SYSTEM runs outside a
   * transaction block): one process start instead of one per statement, which is what a
   * switchover's critical path spends its time on. Returns the rows of every statement, in order.
   */
  async #session(server: PgServer, statements: readonly string[], database = 'postgres'): Promise<string[][]> {
    const conn = `host=${server.target.ip} port=${server.target.port} user=postgres dbname=${database} connect_timeout=3`;
    const { stdout } = await inNamespace(server.target.ns, 'psql', ['-X', '-q', '-A', '-t', '-F', '|', '-v', 'ON_ERROR_STOP=1', '-d', conn, ...statements.flatMap((st) => ['-c', st])], 90_000);
    return stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('|'));
  }

  async #redis(region: string, args: readonly string[]): Promise<string> {
    const r = this.#region(region);
    const { stdout } = await inNamespace(r.ns, 'redis-cli', ['-h', r.serviceIp, '-p', String(REDIS_PORT), '--no-raw', ...args], 10_000);
    return stdout.trim();
  }

  // ---- topology ---------------------------------------------------------------------------

  async topology(): Promise<Topology> {
    this.#requireUp();
    const databases = await this.databases();
    const primary = databases.find((d) => d.role === 'primary')?.region;
    let epoch: EpochRecord | null = null;
    for (const db of databases.filter((d) => d.role !== 'down')) {
      epoch = await this.readEpoch(db.region).catch(() => null);
      if (epoch !== null && (primary === undefined || db.region === primary)) break;
    }
    const primaryRegion = primary ?? epoch?.primaryRegion ?? this.plan.home.name;
    const lockHomeRegion = epoch?.lockHome === null || epoch === null ? this.plan.home.name : (this.#regionOfIp(epoch.lockHome.split(':')[0] ?? '') ?? this.plan.home.name);
    const ordered = [this.#region(primaryRegion), ...this.plan.regions.filter((r) => r.name !== primaryRegion)];
    return {
      regions: ordered.map((r) => r.name),
      primaryRegion,
      lockHomeRegion,
      nodes: Object.fromEntries(this.plan.regions.map((r) => [r.name, r.nodes.map((n) => n.id)])),
    };
  }

  // ---- DNS --------------------------------------------------------------------------------

  async withdrawRegion(region: string): Promise<string> {
    this.#region(region);
    const withdrawn = readWithdrawn(this.#options.dir);
    withdrawn.add(region);
    writeWithdrawn(this.#options.dir, withdrawn);
    await this.#waitForHealthRound((report) => report.withdrawn?.includes(region) === true);
    return `${region} withdrawn from ${this.plan.globalHostname} (sticky until restored)`;
  }

  async restoreRegion(region: string): Promise<string> {
    this.#region(region);
    const withdrawn = readWithdrawn(this.#options.dir);
    withdrawn.delete(region);
    writeWithdrawn(this.#options.dir, withdrawn);
    await this.#waitForHealthRound((report) => report.withdrawn?.includes(region) !== true);
    return `${region} answered again by ${this.plan.globalHostname} (when its health checks pass)`;
  }

  /** Waits until the health checker has published a round satisfying `done` (it rewrites the zones in the same round). */
  async #waitForHealthRound(done: (report: NonNullable<ReturnType<typeof readHealth>>) => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const report = readHealth(this.#options.dir);
      if (report !== null && done(report)) return;
      if (Date.now() > deadline) throw new Error('the rehearsal health checker did not pick up the change within 10 s (is it running?)');
      await sleep(100);
    }
  }

  async answeringRegions(fromRegion: string): Promise<string[]> {
    const region = this.#region(fromRegion);
    const addresses = await resolveFrom(region.ns, region.routerIp, this.plan.globalHostname);
    return [...new Set(addresses.map((ip) => this.#regionOfIp(ip)).filter((r): r is string => r !== null))].sort();
  }

  // ---- Postgres ---------------------------------------------------------------------------

  async databases(): Promise<DatabaseStatus[]> {
    const statuses = await Promise.all(this.plan.regions.map((r) => this.#status(this.#main(r.name))));
    const primary = statuses.find((s) => s.role === 'primary');
    if (primary === undefined) return statuses;
    // Replay lag as the primary measures it, per standby.
    const rows = await this.#query(this.#main(primary.region), 'select application_name, coalesce(extract(epoch from replay_lag) * 1000, 0)::int from pg_stat_replication').catch(() => [] as string[][]);
    return statuses.map((s) => {
      if (s.role !== 'replica') return s;
      const row = rows.find((r) => r[0] === this.#main(s.region).standby);
      return { ...s, lagMs: row === undefined ? null : Number(row[1]) };
    });
  }

  async #status(server: PgServer): Promise<DatabaseStatus> {
    const down: DatabaseStatus = { region: server.region.name, role: 'down', lsn: null, lagMs: null, upstream: null };
    if (pgProcess(this.#options, server) === null) return down;
    try {
      const [row] = await this.#query(
        server,
        `select pg_is_in_recovery(), current_setting('transaction_read_only'),
                case when pg_is_in_recovery() then coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) else pg_current_wal_lsn() end,
                (select sender_host from pg_stat_wal_receiver limit 1)`,
        'postgres',
      );
      const recovering = row?.[0] === 't';
      const readOnly = row?.[1] === 'on';
      return {
        region: server.region.name,
        role: recovering ? 'replica' : readOnly ? 'fenced' : 'primary',
        lsn: row?.[2] ?? null,
        lagMs: recovering ? null : 0,
        upstream: recovering && row?.[3] !== undefined && row[3] !== '' ? this.#regionOfIp(row[3]) : null,
      };
    } catch {
      return down;
    }
  }

  async fenceDatabase(region: string): Promise<'fenced' | 'unreachable'> {
    const server = this.#main(region);
    const dataDir = pgDataDir(this.plan, server);
    if (pgProcess(this.#options, server) === null) {
      if (!existsSync(dataDir)) return 'unreachable';
      // Down: it must never come back as a primary by itself.
      writePgFile(this.plan, server, 'standby.signal', '');
      return 'fenced';
    }
    const status = await this.#status(server);
    if (status.role === 'down') return 'unreachable';
    if (status.role === 'replica') return 'fenced';
    // Read-only first, for every new session; then the sessions opened before (some may be
    // committed and waiting for an unreachable synchronous standby, holding their row locks) are
    // ended; then the epoch row is marked, committed locally only, for the same reason. One psql
    // session does all of it.
    writePgFile(this.plan, server, 'standby.signal', '');
    const statements = [
      SET_READ_ONLY_DEFAULT,
      RELOAD_CONFIGURATION,
      END_CLIENT_SESSIONS,
      `\\connect ${DATABASE}`,
      inlineReadWriteTransaction([MARK_FENCED], { synchronous_commit: 'local', lock_timeout: '2s' }),
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#session(server, statements);
        return 'fenced';
      } catch (error) {
        if (attempt >= 5) throw error;
      }
    }
  }

  async stopFencedPrimary(region: string): Promise<string> {
    const server = this.#main(region);
    const status = await this.#status(server);
    if (status.role === 'primary') throw new Error(`${region} is a writable primary: fence it first`);
    if (status.role === 'replica') return `${region} is a replica: nothing to stop`;
    const lsn = status.lsn;
    // A fast shutdown ends with a checkpoint record that every connected walsender delivers, and
    // waits for the standbys to confirm it: afterwards they all hold the same, complete WAL, so
    // the promoted one forks its timeline exactly where the others (and this server) end, and
    // they follow it without pg_rewind.
    const stopped = await stopPgServer(this.#options, server, 'fast');
    return stopped ? `${region} stopped cleanly at ${lsn ?? '?'}; its standbys hold all of its WAL` : `${region} was not running`;
  }

  async promoteDatabase(region: string): Promise<string> {
    const server = this.#main(region);
    const before = await this.#status(server);
    if (before.role === 'down') throw new Error(`the ${region} Postgres server is down: nothing to promote`);
    const started = performance.now();
    // One session: promote (wait = true returns once recovery has ended; the end-of-recovery
    // checkpoint is only requested, never waited for), make the server writable by default,
    // create the slots its standbys will use, and report where it stands.
    const slots = this.#servers
      .filter((s) => s !== server)
      .map((other) => slotOf(other.standby))
      .map((slot) => `select pg_create_physical_replication_slot('${slot}', true) where not exists (select 1 from pg_replication_slots where slot_name = '${slot}')`);
    const rows = await this.#session(server, [
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
        const now = await this.#status(server);
        if (now.role === 'primary') break;
        if (Date.now() > deadline) throw new Error(`${region} still ${now.role} 60 s after pg_promote`);
        await sleep(100);
      }
    }
    return `${region} is the primary (at LSN ${final?.[2] ?? '?'}) after ${Math.round(performance.now() - started)} ms`;
  }

  async followPrimary(region: string, primaryRegion: string): Promise<string> {
    const source = this.#main(primaryRegion);
    const lines: string[] = [];
    for (const server of this.#servers.filter((s) => s.region.name === region && s !== source)) lines.push(await this.#follow(server, source));
    return lines.length === 0 ? `${region}: no other server to re-point` : lines.join('; ');
  }

  #conninfo(server: PgServer, source: PgServer): string {
    return `host=${source.target.ip} port=${source.target.port} user=postgres application_name=${server.standby} connect_timeout=3`;
  }

  async #follow(server: PgServer, source: PgServer): Promise<string> {
    const name = `${server.region.name} (${server.key})`;
    const status = await this.#status(server);
    const sourceRegion = source.region.name;
    if (status.role === 'replica' && status.upstream === sourceRegion && (await this.#streamingTo(source, server))) return `${name} already streams from ${sourceRegion}`;
    if (status.role === 'replica') {
      await this.#query(server, `alter system set primary_conninfo = ${sqlLiteral(this.#conninfo(server, source))}`, 'postgres');
      await this.#query(server, `alter system set primary_slot_name = '${slotOf(server.standby)}'`, 'postgres');
      await this.#query(server, 'select pg_reload_conf()', 'postgres');
      if (await this.#waitStreaming(server, source, STREAM_WAIT_MS)) return `${name} re-pointed to ${sourceRegion}`;
    }
    return `${name} rebuilt from ${sourceRegion} (${await this.#rebuild(server, source)})`;
  }

  /**
   * Whether `source` streams WAL to `server`, asked of the source (`pg_stat_replication`): a
   * standby whose WAL forked off before the source's timeline connects, asks for the history and
   * is refused, over and over; its own `pg_stat_wal_receiver` can look alive meanwhile, the
   * source's view cannot.
   */
  async #streamingTo(source: PgServer, server: PgServer): Promise<boolean> {
    const rows = await this.#query(source, `select 1 from pg_stat_replication where application_name = '${server.standby}' and state = 'streaming'`, 'postgres').catch(() => [] as string[][]);
    return rows.length > 0;
  }

  /** Streaming now and still half a second later (a forked standby's connections come and go). */
  async #waitStreaming(server: PgServer, source: PgServer, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.#streamingTo(source, server)) {
        await sleep(500);
        if (await this.#streamingTo(source, server)) return true;
      }
      await sleep(200);
    }
    return false;
  }

  /** Stops the server, rewinds it onto the source's timeline (or copies it afresh), and starts it as a standby. */
  async #rebuild(server: PgServer, source: PgServer): Promise<string> {
    await stopPgServer(this.#options, server, 'fast');
    const dataDir = pgDataDir(this.plan, server);
    const sourceConn = `host=${source.target.ip} port=${source.target.port} user=postgres dbname=postgres connect_timeout=5`;
    if (existsSync(join(dataDir, 'PG_VERSION'))) {
      try {
        await runPostgresTool(server.region.ns, 'pg_rewind', ['--target-pgdata', dataDir, '--source-server', sourceConn, '--no-sync'], 300_000);
        await this.#startStandby(server, source);
        return 'pg_rewind';
      } catch {
        // Not rewindable, or it rewound but cannot follow: copy it afresh.
        await stopPgServer(this.#options, server, 'fast');
      }
    }
    resetPgDataDir(this.plan, server);
    await runPostgresTool(server.region.ns, 'pg_basebackup', ['-d', `${sourceConn} application_name=${server.standby}`, '-D', dataDir, '-X', 'stream', '-c', 'fast', '--no-sync'], 300_000);
    await this.#startStandby(server, source);
    return 'pg_basebackup';
  }

  /** Starts a copied or rewound data directory as a standby of `source` and waits for it to stream. */
  async #startStandby(server: PgServer, source: PgServer): Promise<void> {
    // Whatever the copy brought from the source's postgresql.auto.conf (read-only, synchronous
    // standbys) is a primary's business; a standby gets only where to stream from.
    writePgFile(
      this.plan,
      server,
      'postgresql.auto.conf',
      `# written by the failover drill\nprimary_conninfo = ${sqlLiteral(this.#conninfo(server, source))}\nprimary_slot_name = '${slotOf(server.standby)}'\n`,
    );
    writePgFile(this.plan, server, 'standby.signal', '');
    await startPgServer(this.#options, server);
    if (!(await this.#waitStreaming(server, source, 30_000))) throw new Error(`${server.region.name} (${server.key}) does not stream from ${source.region.name}`);
  }

  async standbys(): Promise<StandbyStatus[]> {
    const statuses = await Promise.all(this.plan.regions.map((r) => this.#status(this.#main(r.name))));
    const primaryRegion = statuses.find((st) => st.role === 'primary')?.region;
    const primary = primaryRegion === undefined ? undefined : this.#main(primaryRegion);
    const rows =
      primary === undefined
        ? []
        : await this.#query(primary, 'select application_name, state, coalesce(extract(epoch from replay_lag) * 1000, 0)::int from pg_stat_replication', 'postgres').catch(() => [] as string[][]);
    return this.#servers
      .filter((server) => server !== primary)
      .map((server): StandbyStatus => {
        const row = rows.find((r) => r[0] === server.standby);
        const streaming = row?.[1] === 'streaming';
        const detail = primary === undefined ? 'no writable primary' : row === undefined ? `not connected to the primary in ${primary.region.name}` : streaming ? null : `state ${row[1] ?? '?'}`;
        return { name: server.key, region: server.region.name, streaming, lagMs: row === undefined ? null : Number(row[2]), detail };
      });
  }

  async setSynchronousRegions(primaryRegion: string, regions: readonly string[]): Promise<string> {
    const server = this.#main(primaryRegion);
    const names = regions.filter((r) => r !== primaryRegion).map((r) => this.#main(r).standby);
    if (names.length === 0) {
      await this.#query(server, 'alter system reset synchronous_standby_names', 'postgres');
      await this.#query(server, 'alter system reset synchronous_commit', 'postgres');
    } else {
      await this.#query(server, `alter system set synchronous_standby_names = 'FIRST 1 (${names.join(', ')})'`, 'postgres');
      await this.#query(server, "alter system set synchronous_commit = 'on'", 'postgres');
    }
    await this.#query(server, 'select pg_reload_conf()', 'postgres');
    if (names.length > 0) {
      // Armed once a listed standby is synchronous and has flushed everything committed before:
      // from then on no commit is acknowledged that only this server holds.
      const [position] = await this.#query(server, 'select pg_current_wal_lsn()', 'postgres');
      const list = names.map((n) => `'${n}'`).join(', ');
      const deadline = Date.now() + 15_000;
      for (;;) {
        const rows = await this.#query(
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

  async readEpoch(region: string): Promise<EpochRecord> {
    const [row] = await this.#query(this.#main(region), READ_EPOCH_RECORD);
    if (row === undefined) throw new Error(`${region}: the epoch row is missing (the nodes' migrations have not run there)`);
    return epochRecordFromCells(row);
  }

  async writeEpoch(region: string, record: EpochRecord): Promise<string> {
    const server = this.#main(region);
    const host = `${server.target.ip}:${server.target.port}`;
    await this.#query(server, inlineReadWriteTransaction([writeEpochStatement(record, host)]));
    return `epoch ${record.epoch} on ${region} at ${host} (lock home ${record.lockHome ?? 'as configured'})`;
  }

  // ---- Redis ------------------------------------------------------------------------------

  redisAddress(region: string): string {
    return this.#region(region).redisAddr;
  }

  async measureRttMs(fromRegion: string, toRegion: string): Promise<number | null> {
    const from = this.#region(fromRegion);
    const to = this.#region(toRegion);
    // Only a Redis that answers is a candidate; the round trip itself is ICMP, free of process start-up.
    const answers = await this.#redis(toRegion, ['PING']).then((reply) => reply.includes('PONG'), () => false);
    if (!answers) return null;
    return pingRtt(from.ns, to.redisAddr.split(':')[0] ?? to.serviceIp, 3);
  }

  async armLockHome(region: string, epoch: number, fenceFloor: number): Promise<string> {
    const fence = await this.#redis(region, ['EVAL', ...evalArguments(armLockHomeCall(DEFAULT_LOCK_KEY_PREFIX, epoch, fenceFloor))]);
    return `${region} Redis armed: epoch ${epoch}, fence counter ${fence.replace(/"/g, '')}`;
  }

  async stopRedis(region: string): Promise<string> {
    return (await stopRegionRedis(this.#options, region, 'crash')) ? `${region} Redis killed` : `${region} Redis was not running`;
  }

  async startRedis(region: string): Promise<string> {
    return (await startRegionRedis(this.#options, region)) ? `${region} Redis started (empty)` : `${region} Redis was running`;
  }

  // ---- nodes ------------------------------------------------------------------------------

  async nodeStatus(): Promise<NodeStatus[]> {
    return Promise.all(
      this.plan.regions.flatMap((region) =>
        region.nodes.map(async (node): Promise<NodeStatus> => {
          const [health, ready, readReady, writeReady] = await Promise.all(
            ['/health?details', '/ready', '/ready/read', '/ready/write'].map((path) => httpFrom(region.ns, { url: `${node.url}${path}`, timeoutMs: 3000 }).catch(() => null)),
          );
          let epoch: number | null = null;
          try {
            const body = health === null || health === undefined ? null : (JSON.parse(health.body.toString()) as { epoch?: unknown });
            epoch = typeof body?.epoch === 'number' ? body.epoch : null;
          } catch {
            epoch = null;
          }
          return { id: node.id, region: region.name, ready: ready?.status === 200, readReady: readReady?.status === 200, writeReady: writeReady?.status === 200, epoch };
        }),
      ),
    );
  }

  #node(id: string): { region: RegionPlan; node: RegionPlan['nodes'][number] } {
    for (const region of this.plan.regions) {
      const node = region.nodes.find((n) => n.id === id);
      if (node !== undefined) return { region, node };
    }
    throw new Error(`no node "${id}" in the rehearsal`);
  }

  async stopNode(id: string): Promise<string> {
    this.#node(id);
    const record = runningProcess(this.#options.dir, `node ${id}`);
    if (record === null) return `${id} was not running`;
    await stopProcess({ ...record, stopSignal: 'SIGKILL' }, 3000);
    return `${id} killed (pid ${record.pid})`;
  }

  async startNode(id: string): Promise<string> {
    const { node } = this.#node(id);
    const record = await ensureNodeRunning(this.#options, node);
    return record === null ? `${id} was running` : `${id} started (pid ${record.pid}, data ${nodeDir(this.plan, node)})`;
  }

  // ---- S3 ---------------------------------------------------------------------------------

  async routeObjects(activeRegions: readonly string[]): Promise<string> {
    for (const r of activeRegions) this.#region(r);
    // The rehearsal has no Multi-Region Access Point: nodes write to their own region's bucket and
    // each region's replicator pushes to every other one, retrying a region it cannot reach.
    return `objects: nodes use their own region's bucket; replication runs between ${activeRegions.join(', ')} (no access point to re-route)`;
  }

  // ---- verification -----------------------------------------------------------------------

  async probeWrite(region: string): Promise<string> {
    const r = this.#region(region);
    const key = credentialsOf(this.#options.dir).api_key;
    const path = `/v1/files/drill-probes/${region}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const url = `http://${r.hostname}:${this.plan.options.nodePort}${path}`;
    const body = `probe from ${region} at ${new Date().toISOString()}\n`;
    const auth = { authorization: `Bearer ${key}` };
    const created = await httpFrom(r.ns, { method: 'POST', url, headers: { ...auth, 'content-type': 'application/octet-stream' }, body, timeoutMs: 15_000 });
    if (created.status !== 201 && created.status !== 200) throw new Error(`write through ${r.hostname} answered ${created.status}: ${created.body.toString().slice(0, 200)}`);
    // Read-your-writes: the write's consistency token makes a replica-backed read wait for it.
    const token = created.headers['x-callfs-consistency-token'];
    const read = await httpFrom(r.ns, { url, headers: token === undefined ? auth : { ...auth, 'X-CallFS-Consistency-Token': token }, timeoutMs: 15_000 });
    if (read.status !== 200 || read.body.toString() !== body) throw new Error(`read-back through ${r.hostname} answered ${read.status} with ${read.body.length} bytes`);
    await httpFrom(r.ns, { method: 'DELETE', url, headers: auth, timeoutMs: 15_000 }).catch(() => null);
    return `${region}: write + read-back ok via ${created.headers['x-callfs-served-by'] ?? '?'} in ${Math.round(created.ms + read.ms)} ms`;
  }

  async probeHomeOutage(region: string): Promise<string> {
    const r = this.#region(region);
    const key = credentialsOf(this.#options.dir).api_key;
    const base = `http://${r.hostname}:${this.plan.options.nodePort}`;
    const auth = { authorization: `Bearer ${key}` };
    const read = await httpFrom(r.ns, { url: `${base}/v1/directories/`, headers: auth, timeoutMs: 10_000 });
    if (read.status !== 200) throw new Error(`a read (listing /) through ${r.hostname} answered ${read.status}: ${read.body.toString().slice(0, 200)}`);
    const path = `/v1/files/drill-probes/${region}-outage-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const write = await httpFrom(r.ns, { method: 'POST', url: `${base}${path}`, headers: { ...auth, 'content-type': 'application/octet-stream' }, body: 'must be refused\n', timeoutMs: 10_000 });
    let code: unknown = null;
    try {
      code = (JSON.parse(write.body.toString()) as { code?: unknown }).code ?? null;
    } catch {
      code = null;
    }
    const retryAfter = write.headers['retry-after'];
    if (write.status !== 503 || typeof code !== 'string' || retryAfter === undefined) {
      throw new Error(`a write through ${r.hostname} answered ${write.status} (code ${String(code)}, Retry-After ${retryAfter ?? 'none'}) instead of a clean refusal`);
    }
    return `${region}: read ok in ${Math.round(read.ms)} ms via ${read.headers['x-callfs-served-by'] ?? '?'}; write refused ${write.status} ${code} (Retry-After ${retryAfter}) in ${Math.round(write.ms)} ms`;
  }

  // ---- faults -----------------------------------------------------------------------------

  async injectRegionLoss(region: string, how: RegionLoss): Promise<string> {
    this.#region(region);
    if (how === 'crash') {
      const stopped = await crashRegion(this.#options, region);
      return `${region} crashed: killed ${stopped.length} process(es)`;
    }
    const current = readState(this.#options.dir)?.partitions ?? [];
    const pairs = new Set(current);
    for (const other of this.plan.regions.filter((r) => r.name !== region)) pairs.add(pairKey(region, other.name));
    const keys = await setPartitions(this.#options, [...pairs].map((key) => this.#pairOf(key)));
    return `${region} cut off from every other region (partitions: ${keys.join(', ')})`;
  }

  #pairOf(key: string): readonly [string, string] {
    const names = this.plan.regions.map((r) => r.name);
    for (const a of names) for (const b of names) if (a !== b && pairKey(a, b) === key) return [a, b];
    throw new Error(`unknown region pair ${key}`);
  }

  async healRegionLoss(region: string): Promise<string> {
    const current = readState(this.#options.dir)?.partitions ?? [];
    const keep = current.filter((key) => !this.#pairOf(key).includes(region));
    if (keep.length !== current.length) await setPartitions(this.#options, keep.map((key) => this.#pairOf(key)));
    const started = await restartRegionServices(this.#options, region);
    return `${region} reachable again${started.length > 0 ? `; started ${started.join(', ')}` : ''}`;
  }
}
