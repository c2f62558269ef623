/**
 * @module The rehearsal as the local provider's parts reach it: its plan and options, its Postgres
 * servers, each region's promotable one, psql and redis-cli run inside a region's namespace, and a
 * server's role and position read the same way by every part (fencing, promotion, following).
 */
import { pgProcess, pgServers, type PgServer } from '../../rehearsal/pg-servers.js';
import { sql } from '../../rehearsal/postgres.js';
import { inNamespace } from '../../rehearsal/netns.js';
import { loadPlan } from '../../rehearsal/paths.js';
import { readState } from '../../rehearsal/state.js';
import { DATABASE, REDIS_PORT, regionNamed, type RegionPlan, type RehearsalOptions, type RehearsalPlan } from '../../rehearsal/topology.js';
import type { DatabaseStatus } from '../provider.js';

export class LocalRehearsal {
  readonly plan: RehearsalPlan;
  readonly servers: readonly PgServer[];

  constructor(readonly options: RehearsalOptions) {
    this.plan = loadPlan(options);
    this.servers = pgServers(this.plan);
  }

  region(name: string): RegionPlan {
    return regionNamed(this.plan, name);
  }

  main(region: string): PgServer {
    const server = this.servers.find((s) => s.region.name === region && s.promotable);
    if (server === undefined) throw new Error(`region ${region} has no promotable Postgres server`);
    return server;
  }

  regionOfIp(ip: string): string | null {
    return this.plan.regions.find((r) => r.serviceIp === ip || r.nodes.some((n) => n.ip === ip))?.name ?? null;
  }

  requireUp(): void {
    if (readState(this.options.dir) === null) throw new Error(`the rehearsal is not up (no state in ${this.options.dir}); run: npm run rehearsal -- up`);
  }

  async query(server: PgServer, query: string, database = DATABASE): Promise<string[][]> {
    return sql(server.target, query, database);
  }

  /**
   * Several statements in one psql session (one `-c` each, so ALTER SYSTEM runs outside a
   * transaction block): one process start instead of one per statement, which is what a
   * switchover's critical path spends its time on. Returns the rows of every statement, in order.
   */
  async session(server: PgServer, statements: readonly string[], database = 'postgres'): Promise<string[][]> {
    const conn = `host=${server.target.ip} port=${server.target.port} user=postgres dbname=${database} connect_timeout=3`;
    const { stdout } = await inNamespace(server.target.ns, 'psql', ['-X', '-q', '-A', '-t', '-F', '|', '-v', 'ON_ERROR_STOP=1', '-d', conn, ...statements.flatMap((st) => ['-c', st])], 90_000);
    return stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('|'));
  }

  async redis(region: string, args: readonly string[]): Promise<string> {
    const r = this.region(region);
    const { stdout } = await inNamespace(r.ns, 'redis-cli', ['-h', r.serviceIp, '-p', String(REDIS_PORT), '--no-raw', ...args], 10_000);
    return stdout.trim();
  }

  async status(server: PgServer): Promise<DatabaseStatus> {
    const down: DatabaseStatus = { region: server.region.name, role: 'down', lsn: null, lagMs: null, upstream: null };
    if (pgProcess(this.options, server) === null) return down;
    try {
      const [row] = await this.query(
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
        upstream: recovering && row?.[3] !== undefined && row[3] !== '' ? this.regionOfIp(row[3]) : null,
      };
    } catch {
      return down;
    }
  }
}
