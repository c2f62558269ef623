/**
 * @module The AWS provider's database operations: roles and states from RDS (./databases.ts),
 * WAL positions and the epoch row over SQL on each instance's endpoint, and the fence: epoch row
 * marked, the nodes' role's write privileges revoked (./write-path-fence-sql.ts), tagged. The SQL
 * runs as batches through the SQL reach (./sql-reach.ts): by default a one-shot task of the
 * region's drill SQL runner inside its VPC, which reads the credentials itself and verifies TLS
 * against the RDS CA bundle in the image; or a direct connection from here (a bastion or VPN).
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { DBInstance } from '@aws-sdk/client-rds';
import { parseLsn } from '../../../app/fencing/index.js';
import { type Region } from '../../../regions/schema.js';
import { DATABASE_NAME, DATABASE_PORT, DATABASE_USER, SECRET_NAMES, databaseIdentifier } from '../../../infra/config/names.js';
import type { DatabaseStatus, EpochRecord } from '../provider.js';
import type { AwsContext } from './context.js';
import { describeError, isUnreachable } from './aws-calls.js';
import { DatabaseUnreachableError, readCaBundle, type DatabaseSessionOptions, type DatabaseTarget } from './database-session.js';
import { RdsDatabases, isServing, type Lookup } from './databases.js';
import { REPLICATION_POSITION_BATCH, replicationPositionFromRows, type ReplicationPosition } from './replication-status-sql.js';
import { fenceOutcome, restoreWritePathBatch, writePathFenceStatements } from './write-path-fence-sql.js';
import { AutoSqlReach, DirectSqlReach, type SqlReach, type SqlVia } from './sql-reach.js';
import { DEFAULT_ECS_SQL_TIMINGS, EcsSqlReach } from './sql-reach-ecs.js';
import { MARK_FENCED_STATEMENTS, READ_EPOCH_BATCH, epochFromRows, writeEpochBatch } from './sql-reach-epoch.js';

/** The metadata database half of the AWS provider. */
export class RdsOperations {
  readonly #ctx: AwsContext;
  readonly #rds: RdsDatabases;
  readonly #appRole: string;
  #ca: string | undefined;
  readonly #reach: SqlReach;
  readonly #dbCredentials = new Map<string, { user: string; password: string }>();

  constructor(ctx: AwsContext) {
    this.#ctx = ctx;
    this.#rds = new RdsDatabases(ctx.aws, ctx.regions, ctx.timings, ctx.options.backupRetentionDays ?? 14);
    this.#appRole = ctx.options.appRole ?? DATABASE_USER;
    this.#reach = ctx.options.sqlReach ?? this.#makeReach(ctx.options.sqlVia ?? 'auto');
  }

  #makeReach(via: SqlVia): SqlReach {
    const direct = new DirectSqlReach(() => this.#sessionOptions());
    if (via === 'direct') return direct;
    const aws = this.#ctx.aws;
    const ecs = new EcsSqlReach(aws, { ...DEFAULT_ECS_SQL_TIMINGS, connectTimeoutMs: aws.timeouts.connectionMs, statementTimeoutMs: aws.timeouts.requestMs, ...this.#ctx.options.ecsSqlTimings });
    return via === 'ecs' ? ecs : new AutoSqlReach(ecs, direct, this.#ctx.log);
  }

  /** The writable primary; with several (a fence not done yet), the one most replicas follow; with none, the home of regions/. */
  pickPrimary(databases: readonly DatabaseStatus[]): string {
    const primaries = databases.filter((d) => d.role === 'primary');
    const followers = (name: string): number => databases.filter((d) => d.upstream === name).length;
    const best = [...primaries].sort((a, b) => followers(b.region) - followers(a.region))[0];
    if (best !== undefined) return best.region;
    const home = this.#ctx.regions.find((r) => r.role === 'home') ?? this.#ctx.regions[0];
    if (home === undefined) throw new Error('aws drill provider: no regions');
    return home.name;
  }

  /**
   * Roles and states from RDS, positions over SQL: the primaries' write positions are read first,
   * then the replicas', so a replica that has replayed up to them is 0 ms behind; otherwise its
   * lag is the age of the last transaction it replayed. A database SQL cannot reach keeps its
   * role with a null position (a check that needs it waits or fails).
   */
  async databases(): Promise<DatabaseStatus[]> {
    const found = await Promise.all(this.#ctx.regions.map(async (r) => ({ region: r, lookup: await this.#rds.lookup(r) })));
    const statuses = found.map(({ region, lookup }) => ({ region, lookup, status: this.#rds.status(region, lookup) }));
    const position = async (region: Region, lookup: Lookup): Promise<ReplicationPosition | null> => {
      if (lookup.kind !== 'instance') return null;
      try {
        return replicationPositionFromRows((await this.#reach.run(region, await this.#dbTarget(region, lookup.db), REPLICATION_POSITION_BATCH)).rows);
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        return null;
      }
    };
    const writers = statuses.filter((s) => s.status.role === 'primary' || s.status.role === 'fenced');
    const writerPositions = await Promise.all(writers.map(async (s) => [s.region.name, await position(s.region, s.lookup)] as const));
    const primaryLsn = writerPositions.find(([name]) => statuses.find((s) => s.region.name === name)?.status.role === 'primary')?.[1]?.lsn ?? null;
    const readers = statuses.filter((s) => s.status.role === 'replica');
    const readerPositions = await Promise.all(readers.map(async (s) => [s.region.name, await position(s.region, s.lookup)] as const));
    const positions = new Map([...writerPositions, ...readerPositions]);
    return statuses.map(({ region, status }) => {
      const at = positions.get(region.name) ?? null;
      if (at === null || status.role === 'down') return status;
      if (status.role !== 'replica') return { ...status, lsn: at.lsn };
      const caughtUp = primaryLsn !== null && at.replayLsn !== null && compareLsn(at.replayLsn, primaryLsn) >= 0;
      const lagMs = caughtUp ? 0 : at.replayAgeMs === null ? null : Math.max(1, at.replayAgeMs);
      return { ...status, lsn: at.lsn, lagMs };
    });
  }

  async fenceDatabase(name: string): Promise<'fenced' | 'unreachable'> {
    const region = this.#ctx.region(name);
    const found = await this.#rds.lookup(region);
    if (found.kind !== 'instance' || !isServing(found.db)) return 'unreachable';
    if (found.db.ReadReplicaSourceDBInstanceIdentifier !== undefined && found.db.ReadReplicaSourceDBInstanceIdentifier !== '') return 'fenced';
    let target: DatabaseTarget;
    try {
      target = await this.#dbTarget(region, found.db);
      // 1. The epoch row: nodes that read it stop writing.
      // 2. What binds every session, a node's that never reads the row included: the nodes' role
      //    loses its write privileges and its sessions end (./write-path-fence-sql.ts).
      // One batch (one runner task on ECS), the mark committed first.
      const injected = this.#ctx.options.sql;
      if (injected !== undefined) await injected.markFenced(target);
      const mark = injected === undefined ? MARK_FENCED_STATEMENTS : [];
      const ran = await this.#reach.run(region, target, { statements: [...mark, ...writePathFenceStatements(this.#appRole)] });
      const outcome = fenceOutcome(this.#appRole, ran.rows, ran.stoppedAt);
      this.#ctx.log(`fence ${name}: ${this.#appRole} can no longer write; ${outcome.sessionsEnded} session(s) ended`);
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      this.#ctx.log(`fence ${name}: the database does not accept connections from here (${describeError(error)})`);
      return 'unreachable';
    }
    // 3. The mark `databases()` reads.
    await this.#rds.tagFenced(region, found.db);
    return 'fenced';
  }

  async promoteDatabase(name: string): Promise<string> {
    const region = this.#ctx.region(name);
    const line = await this.#rds.promote(region);
    // The fence's revocation reached this database as WAL while it replicated: give the nodes'
    // role its write path back here (the promoted database is the one they will write to).
    await this.#reach.run(region, await this.#dbTarget(region), restoreWritePathBatch(this.#appRole));
    return `${line}; ${this.#appRole} may write to it`;
  }

  followPrimary(name: string, primaryRegion: string): Promise<string> {
    return this.#rds.follow(this.#ctx.region(name), this.#ctx.region(primaryRegion));
  }

  setSynchronousRegions(primaryRegion: string, regions: readonly string[]): Promise<string> {
    this.#ctx.region(primaryRegion);
    const asked = regions.length === 0 ? 'none' : regions.join(', ');
    return Promise.resolve(`${primaryRegion}: RDS for PostgreSQL has no synchronous cross-region replication; replicas stay asynchronous (asked for: ${asked})`);
  }

  async readEpoch(name: string): Promise<EpochRecord> {
    const region = this.#ctx.region(name);
    const target = await this.#dbTarget(region);
    if (this.#ctx.options.sql !== undefined) return this.#ctx.options.sql.readEpoch(target);
    return epochFromRows((await this.#reach.run(region, target, READ_EPOCH_BATCH)).rows);
  }

  async writeEpoch(name: string, record: EpochRecord): Promise<string> {
    const region = this.#ctx.region(name);
    const target = await this.#dbTarget(region);
    if (this.#ctx.options.sql !== undefined) await this.#ctx.options.sql.writeEpoch(target, record);
    else await this.#reach.run(region, target, writeEpochBatch(target, record));
    return `${name}: epoch ${record.epoch} written (primary ${record.primaryRegion ?? '?'}, lock home ${record.lockHome ?? 'configured'}, ${record.fenced ? 'fenced' : 'unfenced'})`;
  }

  #sessionOptions(): DatabaseSessionOptions {
    this.#ca ??= this.#ctx.options.caBundle ?? readCaBundle(this.#ctx.options.caBundlePath);
    return { ca: this.#ca, connectTimeoutMs: this.#ctx.aws.timeouts.connectionMs, statementTimeoutMs: this.#ctx.aws.timeouts.requestMs };
  }

  /**
   * Where the drill's SQL goes: the instance's own endpoint as RDS reports it now (a rebuilt
   * replica has a new one), as the administrative user of the credentials secret.
   */
  async #dbTarget(region: Region, known?: DBInstance): Promise<DatabaseTarget> {
    let db = known;
    if (db === undefined) {
      const found = await this.#rds.lookup(region);
      if (found.kind === 'unreachable') throw new DatabaseUnreachableError(`${region.name}: the RDS API does not answer (${found.reason})`);
      if (found.kind === 'missing') throw new DatabaseUnreachableError(`${region.name}: no instance ${databaseIdentifier(region)}`);
      db = found.db;
    }
    const host = db.Endpoint?.Address;
    if (host === undefined || host === '') throw new DatabaseUnreachableError(`${region.name}: ${databaseIdentifier(region)} has no endpoint yet (${db.DBInstanceStatus ?? '?'})`);
    // The ECS runner task gets the credentials from Secrets Manager itself: they are not read here.
    if (!(await this.#reach.needsCredentials(region))) return { host, port: db.Endpoint?.Port ?? DATABASE_PORT, database: DATABASE_NAME, user: '', password: '' };
    const secretName = this.#ctx.options.adminSecret ?? SECRET_NAMES.databaseCredentials;
    let credentials = this.#dbCredentials.get(region.name);
    if (credentials === undefined) {
      const secret = await this.#ctx.aws.call(`Secrets Manager GetSecretValue ${secretName}`, () => this.#ctx.aws.secrets(region.awsRegion).send(new GetSecretValueCommand({ SecretId: secretName })));
      const parsed = JSON.parse(secret.SecretString ?? '{}') as { username?: unknown; password?: unknown };
      if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') throw new Error(`${region.name}: secret ${secretName} holds no username and password`);
      credentials = { user: parsed.username, password: parsed.password };
      this.#dbCredentials.set(region.name, credentials);
    }
    return { host, port: db.Endpoint?.Port ?? DATABASE_PORT, database: DATABASE_NAME, ...credentials };
  }
}

/** `a` before (< 0), at or after (> 0) `b`, as WAL positions. */
function compareLsn(a: string, b: string): number {
  const x = parseLsn(a);
  const y = parseLsn(b);
  if (x === null || y === null) return -1;
  return x < y ? -1 : x > y ? 1 : 0;
}
