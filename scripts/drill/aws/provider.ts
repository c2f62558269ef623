/**
 * @module The `aws` drill provider: the operations of `DrillProvider` on a deployment made by
 * the CDK app in infra/. Resources are found by the names infra gives them (`regions/` +
 * infra/config/names.ts): RDS instance `databaseIdentifier(r)`, ElastiCache replication group
 * `lockCacheId(r)`, SSM parameters `parameterName(r, ...)` in the region's AWS region, the shared
 * secrets `SECRET_NAMES.*` (replicated to every region), each region's `bucketName`, and the
 * global stack's latency records (set identifier = region name) in the hosted zone.
 *
 * | operation | AWS calls, in order |
 * |---|---|
 * | topology | databases() + per region ElastiCache DescribeReplicationGroups + nodeStatus(); then readEpoch(primary) for the lock home (falls back to the primary's region when the row cannot be read) |
 * | withdrawRegion | Route 53 ListResourceRecordSets (global hostname, once, for the health check id of the region's latency record) → UpdateHealthCheck {Inverted: true} (or, with `withdrawBy: 'resource-path'`, {ResourcePath: WITHDRAWN_PATH, Inverted: false}) |
 * | restoreRegion | (ListResourceRecordSets once) → UpdateHealthCheck {Inverted: false} (resource-path: {ResourcePath: region.healthCheckPath, Inverted: false}) |
 * | answeringRegions | with `clientSubnets[from]`: Route 53 TestDNSAnswer of the global hostname with that EDNS0 client subnet, then of each region hostname (cached 1 min); the regions whose addresses appear. Every Route 53 call is spaced to `route53RequestsPerSecond`. Without: per region GetHealthCheck + GetHealthCheckStatus, the regions whose check Route 53 calls healthy (>18 % of checkers, inversion applied); target health (evaluateTargetHealth on the alias) is not seen this way |
 * | databases | RDS DescribeDBInstances per region (roles: see ./databases.ts) → SQL on each instance's endpoint: primaries' WAL position, then replicas' received/replayed position and replay age (./replication-status-sql.ts) |
 * | fenceDatabase | RDS DescribeDBInstances (not serving / API unreachable → `unreachable`; a replica → `fenced`, nothing to do) → Secrets Manager GetSecretValue (admin credentials) → SQL on the instance's endpoint: epoch row fenced (MARK_FENCED, app/fencing), the nodes' role's write privileges revoked and its sessions ended, then checked (./write-path-fence-sql.ts) → AddTagsToResource geo-callfs:fenced. SQL out of reach → `unreachable` (no fence that a session could override) |
 * | promoteDatabase | RDS DescribeDBInstances → PromoteReadReplica {BackupRetentionPeriod} (InvalidDBInstanceState retried with backoff until a deadline) → DescribeDBInstances until available without a source → SQL: the nodes' role's write privileges granted back (the fence's revocation arrived as WAL) |
 * | followPrimary | RDS DescribeDBInstances (primary, region, `<id>-next`); already a replica of it → done. Else CreateDBInstanceReadReplica `<id>-next` {source ARN, pre-signed by the SDK; no parameter group} → until available → ModifyDBInstance {DBParameterGroupName} → until pending-reboot → RebootDBInstance → until in-sync → ModifyDBInstance rename `<id>` aside → until `<id>` is free → rename `<id>-next` → `<id>` → until an available replica (./databases.ts) |
 * | setSynchronousRegions | none: RDS for PostgreSQL has no synchronous cross-region replication (says so) |
 * | readEpoch / writeEpoch | RDS DescribeDBInstances (the endpoint) + Secrets Manager GetSecretValue (cached) → SQL on that endpoint, TLS verified against the RDS CA bundle |
 * | redisAddress | the primary endpoint from DescribeReplicationGroups, cached by topology() |
 * | armLockHome | Secrets Manager GetSecretValue (AUTH token) → Redis (TLS): SET epoch, raise fence |
 * | stopRedis | ElastiCache DescribeReplicationGroups → TestFailover (primary node group): a failover that keeps data and endpoint, not an empty Redis |
 * | startRedis | ElastiCache DescribeReplicationGroups until available |
 * | nodeStatus | SSM GetParameters (cluster, service; cached) → ECS DescribeServices (desired count), ListTasks RUNNING and STOPPED → DescribeTasks → HTTP /health?details on each healthy task's private address; nodes are slots `<region>/<n>` matched by count and readiness |
 * | stopNode | the region's tasks as above → ECS StopTask of one ready task, the reason naming the slot |
 * | startNode | the region's tasks as above until as many are ready as desired (ECS replaces the task under a new id) |
 * | probeWrite | Secrets Manager GetSecretValue (API keys, cached) → HTTPS POST, GET, DELETE of a probe file through `<region>.<global hostname>` |
 * | routeObjects | with `mrapArn`: S3 Control SubmitMultiRegionAccessPointRoutes (100 active, 0 others) in the first control region that answers. Without: per active region S3 GetBucketReplication → PutBucketReplication only if a rule to another active region is disabled |
 *
 * Every client has connection and request timeouts and throttling is retried by ./aws-calls.ts.
 * SQL, Redis and the nodes' health run from the machine running the drill, so it needs a route
 * into the VPCs (isolated subnets): a bastion or a tunnel (docs/drills.md says what the CDK app
 * must provide). `endpoint` sends every call to the AWS stand-in (scripts/aws-standin).
 */
import { DescribeReplicationGroupsCommand, TestFailoverCommand } from '@aws-sdk/client-elasticache';
import { DescribeServicesCommand, DescribeTasksCommand, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { GetHealthCheckCommand, GetHealthCheckStatusCommand, ListResourceRecordSetsCommand, TestDNSAnswerCommand, UpdateHealthCheckCommand } from '@aws-sdk/client-route-53';
import { GetBucketReplicationCommand, PutBucketReplicationCommand, type ReplicationRule } from '@aws-sdk/client-s3';
import { SubmitMultiRegionAccessPointRoutesCommand } from '@aws-sdk/client-s3-control';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand } from '@aws-sdk/client-ssm';
import type { DBInstance } from '@aws-sdk/client-rds';
import { Agent, request as undiciRequest } from 'undici';
import type { Task } from '@aws-sdk/client-ecs';
import { DEFAULT_LOCK_KEY_PREFIX, parseLsn } from '../../../app/fencing/index.js';
import { REGIONS } from '../../../regions/index.js';
import { regionBucketName, type Region } from '../../../regions/schema.js';
import { DATABASE_NAME, DATABASE_PORT, DATABASE_USER, LOCK_CACHE_PORT, NODE_PORT, SECRET_NAMES, databaseIdentifier, lockCacheId, parameterName, regionHostname } from '../../../infra/config/names.js';
import type { DnsSettings } from '../../../infra/config/settings.js';
import type { DatabaseStatus, DrillProvider, EpochRecord, NodeStatus, Topology } from '../provider.js';
import { AwsCalls, describeError, isError, isUnreachable, type AwsCallsOptions } from './aws-calls.js';
import { DatabaseUnreachableError, withDatabaseSession, readCaBundle, type DatabaseSessionOptions, type DatabaseTarget } from './database-session.js';
import { DEFAULT_DATABASE_TIMINGS, RdsDatabases, isServing, type DatabaseTimings, type Lookup } from './databases.js';
import { createPgEpochSql, type EpochSql } from './epoch-sql.js';
import { readReplicationPosition, type ReplicationPosition } from './replication-status-sql.js';
import { restoreWritePath, revokeWritePath } from './write-path-fence-sql.js';
import { createIoredisLockHome, type LockHomeRedis } from './lock-home-redis.js';

/** Path a withdrawn region's health check probes in `resource-path` mode: no node answers it with 2xx/3xx. */
export const WITHDRAWN_PATH = '/geo-callfs-drill-withdrawn';

/** Regions that serve the MRAP routing-control API (S3 UG, "failover controls"). */
export const MRAP_CONTROL_REGIONS = ['us-east-1', 'us-west-2', 'ap-southeast-2', 'ap-northeast-1', 'eu-west-1'] as const;

/** Route 53 calls per second the provider allows itself (the account's documented rate is 10, shared by every caller). */
export const DEFAULT_ROUTE53_RATE = 5;

/** The reason StopTask records for a task the drill stopped; it names the node slot. */
const STOP_REASON = /^geo-callfs drill: stopNode (\S+)$/;

/** `a` before (< 0), at or after (> 0) `b`, as WAL positions. */
function compareLsn(a: string, b: string): number {
  const x = parseLsn(a);
  const y = parseLsn(b);
  if (x === null || y === null) return -1;
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface ProviderTimings extends DatabaseTimings {
  /** From TestFailover until the replication group is available again. */
  readonly redisTimeoutMs: number;
  /** From StopTask until the service runs its desired count again. */
  readonly nodeReplaceTimeoutMs: number;
}

export const DEFAULT_TIMINGS: ProviderTimings = { ...DEFAULT_DATABASE_TIMINGS, redisTimeoutMs: 15 * 60_000, nodeReplaceTimeoutMs: 10 * 60_000 };

export interface AwsProviderOptions extends AwsCallsOptions {
  /** The hosted zone and the global hostname: infra's settings (`settingsFromContext(...).dns`). */
  readonly dns: Pick<DnsSettings, 'hostedZoneId' | 'globalHostname'>;
  /** @default REGIONS of regions/ */
  readonly regions?: readonly Region[];
  /**
   * How a region is taken out of the answers. `invert`: the health check of its latency record
   * is inverted. Sticky only while the region's `healthCheckPath` succeeds: a region whose
   * health path fails (nodes up, dependencies down) reads healthy once inverted and comes back
   * into the answers. `resource-path`: the check probes WITHDRAWN_PATH instead, which fails in
   * every state of the region.
   * @default 'invert'
   */
  readonly withdrawBy?: 'invert' | 'resource-path';
  /** Per region name, a client address (`ip` or `ip/mask`) in that region for TestDNSAnswer. */
  readonly clientSubnets?: Readonly<Record<string, string>>;
  /** ARN of an S3 Multi-Region Access Point over the regions' buckets (infra creates none). */
  readonly mrapArn?: string;
  /** Account of the MRAP; default: the one in `mrapArn`. */
  readonly accountId?: string;
  /** Where SubmitMultiRegionAccessPointRoutes is sent, tried in order. */
  readonly mrapControlRegions?: readonly string[];
  /** The epoch row SQL (default: over `pg`, TLS verified against the RDS CA bundle). */
  readonly sql?: EpochSql;
  /** PEM of the CA bundle database certificates must chain to; default: read from `caBundlePath`. */
  readonly caBundle?: string;
  /** @default RDS_CA_BUNDLE_PATH (where the node image ships the RDS bundle) */
  readonly caBundlePath?: string;
  /** Secret with the administrative database credentials the drill's SQL uses. @default SECRET_NAMES.databaseCredentials */
  readonly adminSecret?: string;
  /** The nodes' database role, whose write path the fence revokes. @default DATABASE_USER */
  readonly appRole?: string;
  /** Port of the node containers (`/health?details`). @default NODE_PORT */
  readonly nodePort?: number;
  /**
   * Scheme of the node containers. The deployment's nodes serve HTTPS with a self-signed
   * certificate (`server.tls_self_signed`), which this unauthenticated health read does not
   * verify (it sends nothing secret and only decides whether a task counts as ready).
   * @default 'https'
   */
  readonly nodeScheme?: 'http' | 'https';
  /** @default DEFAULT_ROUTE53_RATE */
  readonly route53RequestsPerSecond?: number;
  readonly lockHome?: LockHomeRedis;
  /** @default DEFAULT_LOCK_KEY_PREFIX */
  readonly lockKeyPrefix?: string;
  /** Backup retention of a promoted replica that has none of its own (the stacks' primary keeps 14 days). */
  readonly backupRetentionDays?: number;
  readonly timings?: Partial<ProviderTimings>;
  /** HTTP client of probeWrite. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Warnings that do not fail an operation. @default stderr */
  readonly log?: (line: string) => void;
}

interface CacheGroup {
  readonly host: string;
  readonly port: number;
  readonly nodeGroupId: string;
  readonly status: string;
}

/** `a.b.c.d` or `a.b.c.d/24` → TestDNSAnswer's client subnet fields. */
function clientSubnet(value: string): { EDNS0ClientSubnetIP: string; EDNS0ClientSubnetMask?: string } {
  const [ip = value, mask] = value.split('/');
  return mask === undefined ? { EDNS0ClientSubnetIP: ip } : { EDNS0ClientSubnetIP: ip, EDNS0ClientSubnetMask: mask };
}

export function createAwsProvider(options: AwsProviderOptions): DrillProvider {
  return new AwsDrillProvider(options);
}

export class AwsDrillProvider implements DrillProvider {
  readonly name = 'aws' as const;

  /** A region's bucket as the CDK app names it (`regionBucketName`: derived from the account unless the file names one). */
  #bucketOf(region: Region): string {
    const mrapAccount = this.#options.mrapArn === undefined ? undefined : /^arn:[^:]+:s3::(\d{12}):accesspoint\//.exec(this.#options.mrapArn)?.[1];
    return regionBucketName(region, this.#options.accountId ?? mrapAccount);
  }
  readonly #aws: AwsCalls;
  readonly #regions: readonly Region[];
  readonly #options: AwsProviderOptions;
  readonly #timings: ProviderTimings;
  readonly #rds: RdsDatabases;
  #sql: EpochSql | undefined;
  #ca: string | undefined;
  readonly #appRole: string;
  #route53Turn: Promise<void> = Promise.resolve();
  #route53Last = 0;
  readonly #regionAnswers = new Map<string, { at: number; addresses: string[] }>();
  #warnedNoSubnets = false;
  readonly #lockHome: LockHomeRedis;
  readonly #log: (line: string) => void;
  #healthChecks: Promise<ReadonlyMap<string, string>> | undefined;
  #apiKey: Promise<string> | undefined;
  readonly #caches = new Map<string, CacheGroup>();
  readonly #dbCredentials = new Map<string, { user: string; password: string }>();
  readonly #nodeServices = new Map<string, { cluster: string; service: string }>();

  constructor(options: AwsProviderOptions) {
    this.#options = options;
    this.#aws = new AwsCalls(options);
    this.#regions = options.regions ?? REGIONS;
    this.#timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.#rds = new RdsDatabases(this.#aws, this.#regions, this.#timings, options.backupRetentionDays ?? 14);
    this.#appRole = options.appRole ?? DATABASE_USER;
    this.#lockHome = options.lockHome ?? createIoredisLockHome({ connectTimeoutMs: this.#aws.timeouts.connectionMs, commandTimeoutMs: this.#aws.timeouts.requestMs });
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  #region(name: string): Region {
    const region = this.#regions.find((r) => r.name === name);
    if (region === undefined) throw new Error(`unknown region "${name}" (regions/: ${this.#regions.map((r) => r.name).join(', ')})`);
    return region;
  }

  // ---- topology -------------------------------------------------------------------------------

  async topology(): Promise<Topology> {
    const [databases, nodes] = await Promise.all([this.databases(), this.nodeStatus(), Promise.all(this.#regions.map((r) => this.#loadCache(r).catch(() => undefined)))]);
    const primaryRegion = this.#pickPrimary(databases);
    let lockHomeRegion = primaryRegion;
    try {
      const epoch = await this.readEpoch(primaryRegion);
      const match = this.#regions.find((r) => epoch.lockHome !== null && this.#caches.has(r.name) && this.redisAddress(r.name) === epoch.lockHome);
      if (match !== undefined) lockHomeRegion = match.name;
    } catch (error) {
      this.#log(`topology: the epoch row of ${primaryRegion} cannot be read (${describeError(error)}); taking the lock home to be next to the primary`);
    }
    const byRegion: Record<string, string[]> = Object.fromEntries(this.#regions.map((r) => [r.name, []]));
    for (const node of nodes) byRegion[node.region]?.push(node.id);
    return {
      regions: [primaryRegion, ...this.#regions.map((r) => r.name).filter((n) => n !== primaryRegion)],
      primaryRegion,
      lockHomeRegion,
      nodes: byRegion,
    };
  }

  /** The writable primary; with several (a fence not done yet), the one most replicas follow; with none, the home of regions/. */
  #pickPrimary(databases: readonly DatabaseStatus[]): string {
    const primaries = databases.filter((d) => d.role === 'primary');
    const followers = (name: string): number => databases.filter((d) => d.upstream === name).length;
    const best = [...primaries].sort((a, b) => followers(b.region) - followers(a.region))[0];
    if (best !== undefined) return best.region;
    const home = this.#regions.find((r) => r.role === 'home') ?? this.#regions[0];
    if (home === undefined) throw new Error('aws drill provider: no regions');
    return home.name;
  }

  // ---- traffic (DNS) --------------------------------------------------------------------------

  /** Health check id of each region's latency record, read once from the hosted zone. */
  #healthCheckIds(): Promise<ReadonlyMap<string, string>> {
    this.#healthChecks ??= (async () => {
      const name = `${this.#options.dns.globalHostname}.`;
      const ids = new Map<string, string>();
      let start: { StartRecordName?: string; StartRecordType?: 'A'; StartRecordIdentifier?: string } = { StartRecordName: name, StartRecordType: 'A' };
      for (;;) {
        const out = await this.#route53Call(`Route 53 ListResourceRecordSets ${name}`, () => this.#aws.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: this.#options.dns.hostedZoneId, ...start })));
        const sets = out.ResourceRecordSets ?? [];
        for (const set of sets) {
          if (set.Name === name && set.Type === 'A' && set.SetIdentifier !== undefined && set.HealthCheckId !== undefined) ids.set(set.SetIdentifier, set.HealthCheckId);
        }
        const last = sets[sets.length - 1];
        if (out.IsTruncated !== true || last?.Name !== name || out.NextRecordName !== name) break;
        start = { StartRecordName: out.NextRecordName, StartRecordType: 'A', StartRecordIdentifier: out.NextRecordIdentifier };
      }
      return ids;
    })();
    this.#healthChecks.catch(() => (this.#healthChecks = undefined));
    return this.#healthChecks;
  }

  async #healthCheckId(region: Region): Promise<string | undefined> {
    return (await this.#healthCheckIds()).get(region.name);
  }

  async withdrawRegion(name: string): Promise<string> {
    const region = this.#region(name);
    const id = await this.#healthCheckId(region);
    if (id === undefined) return `${name}: no latency record for ${this.#options.dns.globalHostname} (dnsWeight 0?): not in the answers`;
    const byPath = this.#options.withdrawBy === 'resource-path';
    await this.#route53Call(`Route 53 UpdateHealthCheck ${id}`, () => this.#aws.route53().send(new UpdateHealthCheckCommand(byPath ? { HealthCheckId: id, ResourcePath: WITHDRAWN_PATH, Inverted: false } : { HealthCheckId: id, Inverted: true })));
    return byPath
      ? `${name}: health check ${id} now probes ${WITHDRAWN_PATH}: out of the answers for ${this.#options.dns.globalHostname} until restored`
      : `${name}: health check ${id} inverted: out of the answers for ${this.#options.dns.globalHostname} until restored`;
  }

  async restoreRegion(name: string): Promise<string> {
    const region = this.#region(name);
    const id = await this.#healthCheckId(region);
    if (id === undefined) return `${name}: no latency record for ${this.#options.dns.globalHostname} (dnsWeight 0?): nothing to restore`;
    const byPath = this.#options.withdrawBy === 'resource-path';
    await this.#route53Call(`Route 53 UpdateHealthCheck ${id}`, () => this.#aws.route53().send(new UpdateHealthCheckCommand(byPath ? { HealthCheckId: id, ResourcePath: region.healthCheckPath, Inverted: false } : { HealthCheckId: id, Inverted: false })));
    return `${name}: health check ${id} restored (${region.healthCheckPath}, not inverted): back in the answers once healthy`;
  }

  /**
   * Every Route 53 call goes through one gate that spaces them `1 / route53RequestsPerSecond`
   * apart: Route 53 throttles per account (all callers together, the console included), and a
   * drill polling answers for every region must stay well inside that rate.
   */
  async #route53Call<O>(label: string, send: () => Promise<O>): Promise<O> {
    const spacing = 1000 / (this.#options.route53RequestsPerSecond ?? DEFAULT_ROUTE53_RATE);
    const turn = this.#route53Turn.then(async () => {
      const wait = this.#route53Last + spacing - this.#aws.clock.now();
      if (wait > 0) await this.#aws.clock.sleep(wait);
      this.#route53Last = this.#aws.clock.now();
    });
    this.#route53Turn = turn.catch(() => undefined);
    await turn;
    return this.#aws.call(label, send);
  }

  /**
   * The regions whose addresses the global hostname answers to a client of `fromRegion`, from
   * Route 53's own answer (TestDNSAnswer with that region's client subnet, latency routing and
   * health applied) compared with each region hostname's answer (cached for a minute: load
   * balancer addresses change rarely). Without a client subnet for the region, the health checks'
   * status is used instead, which says what the checkers see, not what clients are answered.
   */
  async answeringRegions(fromRegion: string): Promise<string[]> {
    this.#region(fromRegion);
    const subnet = this.#options.clientSubnets?.[fromRegion];
    const ids = await this.#healthCheckIds();
    const listed = this.#regions.filter((r) => ids.has(r.name));
    if (subnet !== undefined) {
      const answer = async (recordName: string): Promise<string[]> => {
        const out = await this.#route53Call(`Route 53 TestDNSAnswer ${recordName}`, () => this.#aws.route53().send(new TestDNSAnswerCommand({ HostedZoneId: this.#options.dns.hostedZoneId, RecordName: recordName, RecordType: 'A', ...clientSubnet(subnet) })));
        return out.ResponseCode === 'NOERROR' ? (out.RecordData ?? []) : [];
      };
      const global = new Set(await answer(this.#options.dns.globalHostname));
      const answering: string[] = [];
      for (const region of listed) {
        const name = regionHostname(region, this.#options.dns.globalHostname);
        const cached = this.#regionAnswers.get(name);
        let own = cached !== undefined && this.#aws.clock.now() - cached.at < 60_000 ? cached.addresses : undefined;
        if (own === undefined) {
          own = await answer(name);
          this.#regionAnswers.set(name, { at: this.#aws.clock.now(), addresses: own });
        }
        if (own.some((ip) => global.has(ip))) answering.push(region.name);
      }
      return answering;
    }
    if (!this.#warnedNoSubnets) {
      this.#warnedNoSubnets = true;
      this.#log(`answering regions: no client subnet for ${fromRegion} (--client-subnet ${fromRegion}=<public ip>/24): judging from health check status, which is not what clients are answered`);
    }
    const answering: string[] = [];
    for (const region of listed) {
      const id = ids.get(region.name) ?? '';
      const config = await this.#route53Call(`Route 53 GetHealthCheck ${id}`, () => this.#aws.route53().send(new GetHealthCheckCommand({ HealthCheckId: id })));
      const status = await this.#route53Call(`Route 53 GetHealthCheckStatus ${id}`, () => this.#aws.route53().send(new GetHealthCheckStatusCommand({ HealthCheckId: id })));
      const observations = status.HealthCheckObservations ?? [];
      const succeeding = observations.filter((o) => o.StatusReport?.Status?.startsWith('Success') === true).length;
      // Checker observations are raw probe results; Route 53 calls the endpoint healthy above 18 %, then applies inversion.
      const raw = observations.length > 0 && succeeding / observations.length > 0.18;
      const healthCheckConfig = config.HealthCheck?.HealthCheckConfig;
      const healthy = healthCheckConfig?.Disabled === true ? true : healthCheckConfig?.Inverted === true ? !raw : raw;
      if (healthy) answering.push(region.name);
    }
    return answering;
  }

  // ---- metadata database ----------------------------------------------------------------------

  /**
   * Roles and states from RDS, positions over SQL: the primaries' write positions are read first,
   * then the replicas', so a replica that has replayed up to them is 0 ms behind; otherwise its
   * lag is the age of the last transaction it replayed. A database SQL cannot reach keeps its
   * role with a null position (a check that needs it waits or fails).
   */
  async databases(): Promise<DatabaseStatus[]> {
    const found = await Promise.all(this.#regions.map(async (r) => ({ region: r, lookup: await this.#rds.lookup(r) })));
    const statuses = found.map(({ region, lookup }) => ({ region, lookup, status: this.#rds.status(region, lookup) }));
    const position = async (region: Region, lookup: Lookup): Promise<ReplicationPosition | null> => {
      if (lookup.kind !== 'instance') return null;
      try {
        return await withDatabaseSession(await this.#dbTarget(region, lookup.db), this.#sessionOptions(), readReplicationPosition);
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
    const region = this.#region(name);
    const found = await this.#rds.lookup(region);
    if (found.kind !== 'instance' || !isServing(found.db)) return 'unreachable';
    if (found.db.ReadReplicaSourceDBInstanceIdentifier !== undefined && found.db.ReadReplicaSourceDBInstanceIdentifier !== '') return 'fenced';
    let target: DatabaseTarget;
    try {
      target = await this.#dbTarget(region, found.db);
      // 1. The epoch row: nodes that read it stop writing.
      await this.#epochSql().markFenced(target);
      // 2. What binds every session, a node's that never reads the row included: the nodes' role
      //    loses its write privileges and its sessions end (./write-path-fence-sql.ts).
      const outcome = await withDatabaseSession(target, this.#sessionOptions(), (client) => revokeWritePath(client, this.#appRole));
      this.#log(`fence ${name}: ${this.#appRole} can no longer write; ${outcome.sessionsEnded} session(s) ended`);
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      this.#log(`fence ${name}: the database does not accept connections from here (${describeError(error)})`);
      return 'unreachable';
    }
    // 3. The mark `databases()` reads.
    await this.#rds.tagFenced(region, found.db);
    return 'fenced';
  }

  async promoteDatabase(name: string): Promise<string> {
    const region = this.#region(name);
    const line = await this.#rds.promote(region);
    // The fence's revocation reached this database as WAL while it replicated: give the nodes'
    // role its write path back here (the promoted database is the one they will write to).
    await withDatabaseSession(await this.#dbTarget(region), this.#sessionOptions(), (client) => restoreWritePath(client, this.#appRole));
    return `${line}; ${this.#appRole} may write to it`;
  }

  followPrimary(name: string, primaryRegion: string): Promise<string> {
    return this.#rds.follow(this.#region(name), this.#region(primaryRegion));
  }

  setSynchronousRegions(primaryRegion: string, regions: readonly string[]): Promise<string> {
    this.#region(primaryRegion);
    const asked = regions.length === 0 ? 'none' : regions.join(', ');
    return Promise.resolve(`${primaryRegion}: RDS for PostgreSQL has no synchronous cross-region replication; replicas stay asynchronous (asked for: ${asked})`);
  }

  async readEpoch(name: string): Promise<EpochRecord> {
    return this.#epochSql().readEpoch(await this.#dbTarget(this.#region(name)));
  }

  async writeEpoch(name: string, record: EpochRecord): Promise<string> {
    await this.#epochSql().writeEpoch(await this.#dbTarget(this.#region(name)), record);
    return `${name}: epoch ${record.epoch} written (primary ${record.primaryRegion ?? '?'}, lock home ${record.lockHome ?? 'configured'}, ${record.fenced ? 'fenced' : 'unfenced'})`;
  }

  #sessionOptions(): DatabaseSessionOptions {
    this.#ca ??= this.#options.caBundle ?? readCaBundle(this.#options.caBundlePath);
    return { ca: this.#ca, connectTimeoutMs: this.#aws.timeouts.connectionMs, statementTimeoutMs: this.#aws.timeouts.requestMs };
  }

  #epochSql(): EpochSql {
    this.#sql ??= this.#options.sql ?? createPgEpochSql({ ...this.#sessionOptions() });
    return this.#sql;
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
    const secretName = this.#options.adminSecret ?? SECRET_NAMES.databaseCredentials;
    let credentials = this.#dbCredentials.get(region.name);
    if (credentials === undefined) {
      const secret = await this.#aws.call(`Secrets Manager GetSecretValue ${secretName}`, () => this.#aws.secrets(region.awsRegion).send(new GetSecretValueCommand({ SecretId: secretName })));
      const parsed = JSON.parse(secret.SecretString ?? '{}') as { username?: unknown; password?: unknown };
      if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') throw new Error(`${region.name}: secret ${secretName} holds no username and password`);
      credentials = { user: parsed.username, password: parsed.password };
      this.#dbCredentials.set(region.name, credentials);
    }
    return { host, port: db.Endpoint?.Port ?? DATABASE_PORT, database: DATABASE_NAME, ...credentials };
  }

  // ---- locks (Redis) --------------------------------------------------------------------------

  async #loadCache(region: Region): Promise<CacheGroup> {
    const id = lockCacheId(region);
    const out = await this.#aws.call(`ElastiCache DescribeReplicationGroups ${id}`, () => this.#aws.elastiCache(region.awsRegion).send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id })));
    const group = out.ReplicationGroups?.[0];
    const nodeGroup = group?.NodeGroups?.[0];
    const endpoint = nodeGroup?.PrimaryEndpoint;
    if (group === undefined || nodeGroup?.NodeGroupId === undefined || endpoint?.Address === undefined) throw new Error(`${region.name}: replication group ${id} has no primary endpoint`);
    const cache = { host: endpoint.Address, port: endpoint.Port ?? LOCK_CACHE_PORT, nodeGroupId: nodeGroup.NodeGroupId, status: group.Status ?? '?' };
    this.#caches.set(region.name, cache);
    return cache;
  }

  redisAddress(name: string): string {
    this.#region(name);
    const cache = this.#caches.get(name);
    if (cache === undefined) throw new Error(`${name}: the Redis address is not known: call topology() first (or the region's ElastiCache API did not answer then)`);
    return `${cache.host}:${cache.port}`;
  }

  async armLockHome(name: string, epoch: number, fenceFloor: number): Promise<string> {
    const region = this.#region(name);
    const cache = this.#caches.get(name) ?? (await this.#loadCache(region));
    const secret = await this.#aws.call(`Secrets Manager GetSecretValue ${SECRET_NAMES.lockCacheAuthToken}`, () => this.#aws.secrets(region.awsRegion).send(new GetSecretValueCommand({ SecretId: SECRET_NAMES.lockCacheAuthToken })));
    if (secret.SecretString === undefined || secret.SecretString === '') throw new Error(`${name}: secret ${SECRET_NAMES.lockCacheAuthToken} is empty`);
    const prefix = this.#options.lockKeyPrefix ?? DEFAULT_LOCK_KEY_PREFIX;
    const fence = await this.#lockHome.arm({ host: cache.host, port: cache.port, password: secret.SecretString }, prefix, epoch, fenceFloor);
    return `${name}: lock home ${cache.host}:${cache.port} armed with epoch ${epoch} (${prefix}fence = ${fence})`;
  }

  async stopRedis(name: string): Promise<string> {
    const region = this.#region(name);
    const cache = await this.#loadCache(region);
    const id = lockCacheId(region);
    try {
      await this.#aws.call(`ElastiCache TestFailover ${id}`, () => this.#aws.elastiCache(region.awsRegion).send(new TestFailoverCommand({ ReplicationGroupId: id, NodeGroupId: cache.nodeGroupId })));
    } catch (error) {
      if (isError(error, 'InvalidReplicationGroupStateFault', 'InvalidReplicationGroupState') && cache.status !== 'available') {
        return `${name}: ${id} is ${cache.status}: a failover is already under way`;
      }
      throw error;
    }
    // TestFailover replaces the primary node by a replica that keeps the replicated data and the
    // primary endpoint: what this exercises is the nodes reconnecting through a failover, not a
    // Redis that comes back empty (ElastiCache has no stop for a replication group).
    return `${name}: ElastiCache has no stop: ${id} node group ${cache.nodeGroupId} fails over (TestFailover); the replica it promotes keeps the data and the endpoint, so this exercises a failover, not an empty Redis`;
  }

  async startRedis(name: string): Promise<string> {
    const region = this.#region(name);
    const id = lockCacheId(region);
    await this.#aws.waitFor(
      `${id} to be available`,
      async () => {
        const cache = await this.#loadCache(region);
        return { done: cache.status === 'available', state: cache.status };
      },
      this.#timings.pollIntervalMs,
      this.#timings.redisTimeoutMs,
    );
    return `${name}: ${id} is available again after the failover (${this.redisAddress(name)}, data as replicated)`;
  }

  // ---- nodes ----------------------------------------------------------------------------------

  async #nodeService(region: Region): Promise<{ cluster: string; service: string }> {
    const cached = this.#nodeServices.get(region.name);
    if (cached !== undefined) return cached;
    const names = [parameterName(region, 'node-cluster-name'), parameterName(region, 'node-service-name')];
    const out = await this.#aws.call(`SSM GetParameters ${names.join(' ')}`, () => this.#aws.ssm(region.awsRegion).send(new GetParametersCommand({ Names: names })));
    const value = (n: string): string | undefined => out.Parameters?.find((p) => p.Name === n)?.Value;
    const cluster = value(names[0] ?? '');
    const service = value(names[1] ?? '');
    if (cluster === undefined || service === undefined) throw new Error(`${region.name}: SSM parameters ${names.join(', ')} missing: redeploy the region stack (it publishes them)`);
    const found = { cluster, service };
    this.#nodeServices.set(region.name, found);
    return found;
  }

  /**
   * Nodes are the service's task slots, `<region>/<n>` for n = 1..desiredCount, matched by count
   * and readiness rather than by task id: ECS replaces a stopped task by another with a new id,
   * and ListTasks (desiredStatus RUNNING, its default) drops a task the moment it is told to stop.
   * A slot is ready while that many tasks are RUNNING, HEALTHY and answer `/health?details`; each
   * ready slot reports one such task's epoch. With k tasks missing, k slots are down: first the
   * slots the drill stopped (its StopTask reason names the slot; stopped tasks stay listed under
   * desiredStatus STOPPED for an hour), then the highest-numbered ones.
   */
  async nodeStatus(): Promise<NodeStatus[]> {
    const perRegion = await Promise.all(
      this.#regions.map(async (region): Promise<NodeStatus[]> => {
        try {
          const view = await this.#regionTasks(region);
          const ready = view.tasks.filter((t) => t.ready);
          const slots = Array.from({ length: Math.max(view.desired, view.tasks.length) }, (_, i) => `${region.name}/${i + 1}`);
          const missing = Math.max(0, slots.length - ready.length);
          const down = new Set<string>();
          for (const slot of view.stoppedSlots) if (down.size < missing && slots.includes(slot)) down.add(slot);
          for (const slot of [...slots].reverse()) if (down.size < missing) down.add(slot);
          let next = 0;
          return slots.map((id) => {
            if (down.has(id)) return { id, region: region.name, ready: false, epoch: null };
            const task = ready[next++];
            return { id, region: region.name, ready: task !== undefined, epoch: task?.epoch ?? null };
          });
        } catch (error) {
          if (!isUnreachable(error)) throw error;
          this.#log(`nodes of ${region.name}: ECS does not answer (${describeError(error)})`);
          return [];
        }
      }),
    );
    return perRegion.flat();
  }

  /** The region's service: desired count, its tasks with their readiness and epoch, the slots the drill stopped. */
  async #regionTasks(region: Region): Promise<{ desired: number; tasks: Array<{ arn: string; ready: boolean; epoch: number | null; startedAt: number }>; stoppedSlots: string[] }> {
    const { cluster, service } = await this.#nodeService(region);
    const ecs = this.#aws.ecs(region.awsRegion);
    const described = await this.#aws.call(`ECS DescribeServices ${service}`, () => ecs.send(new DescribeServicesCommand({ cluster, services: [service] })));
    const desired = described.services?.[0]?.desiredCount ?? 0;
    const list = async (desiredStatus: 'RUNNING' | 'STOPPED'): Promise<Task[]> => {
      const listed = await this.#aws.call(`ECS ListTasks ${service} ${desiredStatus}`, () => ecs.send(new ListTasksCommand({ cluster, serviceName: service, desiredStatus })));
      const arns = (listed.taskArns ?? []).slice(0, 100);
      if (arns.length === 0) return [];
      const out = await this.#aws.call(`ECS DescribeTasks ${service}`, () => ecs.send(new DescribeTasksCommand({ cluster, tasks: arns })));
      return out.tasks ?? [];
    };
    const [running, stopped] = await Promise.all([list('RUNNING'), list('STOPPED')]);
    const tasks = await Promise.all(
      running
        .sort((a, b) => (a.startedAt?.getTime() ?? Infinity) - (b.startedAt?.getTime() ?? Infinity) || (a.taskArn ?? '').localeCompare(b.taskArn ?? ''))
        .map(async (task) => {
          // The container health check probes /health (liveness); the epoch comes from the node itself.
          const healthy = task.lastStatus === 'RUNNING' && task.healthStatus === 'HEALTHY';
          const ip = task.attachments?.flatMap((a) => a.details ?? []).find((d) => d.name === 'privateIPv4Address')?.value;
          const details = healthy && ip !== undefined ? await this.#nodeDetails(ip) : null;
          return { arn: task.taskArn ?? '', ready: details !== null, epoch: details?.epoch ?? null, startedAt: task.startedAt?.getTime() ?? 0 };
        }),
    );
    const stoppedSlots = stopped
      .sort((a, b) => (b.stoppingAt?.getTime() ?? b.stoppedAt?.getTime() ?? 0) - (a.stoppingAt?.getTime() ?? a.stoppedAt?.getTime() ?? 0))
      .flatMap((t) => {
        const slot = STOP_REASON.exec(t.stoppedReason ?? '')?.[1];
        return slot === undefined ? [] : [slot];
      });
    return { desired, tasks, stoppedSlots };
  }

  /** `GET /health?details` of a node task on its private address; null when it does not answer 200. */
  async #nodeDetails(ip: string): Promise<{ epoch: number | null } | null> {
    const scheme = this.#options.nodeScheme ?? 'https';
    const url = `${scheme}://${ip}:${this.#options.nodePort ?? NODE_PORT}/health?details`;
    const timeoutMs = Math.min(5000, this.#aws.timeouts.requestMs);
    try {
      const injected = this.#options.fetch;
      const { status, body } =
        injected === undefined && scheme === 'https'
          ? await readUnverifiedTls(url, timeoutMs)
          : await (injected ?? fetch)(url, { signal: AbortSignal.timeout(timeoutMs) }).then(async (r) => ({ status: r.status, body: (await r.json().catch(() => null)) as unknown }));
      if (status !== 200 || typeof body !== 'object' || body === null) return null;
      const epoch = (body as { epoch?: unknown }).epoch;
      return { epoch: typeof epoch === 'number' ? epoch : null };
    } catch {
      return null;
    }
  }

  #slot(id: string): { region: Region; slot: number } {
    const match = /^([^/]+)\/(\d+)$/.exec(id);
    if (match === null) throw new Error(`node id "${id}": expected <region>/<n> as nodeStatus() reports it`);
    return { region: this.#region(match[1] ?? ''), slot: Number(match[2]) };
  }

  /** Stops one ready task of the slot's region, naming the slot in the stop reason (so `nodeStatus` reports that slot down). */
  async stopNode(id: string): Promise<string> {
    const { region, slot } = this.#slot(id);
    const { cluster } = await this.#nodeService(region);
    const view = await this.#regionTasks(region);
    const ready = view.tasks.filter((t) => t.ready);
    const task = ready[Math.min(slot, ready.length) - 1];
    if (task === undefined) return `${id}: no ready task in ${region.name} to stop (${view.tasks.length} task(s) listed, ${view.desired} desired)`;
    await this.#aws.call(`ECS StopTask ${task.arn}`, () => this.#aws.ecs(region.awsRegion).send(new StopTaskCommand({ cluster, task: task.arn, reason: `geo-callfs drill: stopNode ${id}` })));
    return `${id}: ECS task ${task.arn.split('/').pop() ?? '?'} stopped (the service replaces it with a new task)`;
  }

  /** Waits until the slot's region runs its desired count of ready tasks again (ECS replaces a stopped task by itself). */
  async startNode(id: string): Promise<string> {
    const { region } = this.#slot(id);
    const counts = await this.#aws.waitFor(
      `${region.name} to run its desired count of ready tasks again`,
      async () => {
        const view = await this.#regionTasks(region);
        const ready = view.tasks.filter((t) => t.ready).length;
        return { done: view.desired > 0 && ready >= view.desired, state: `${ready}/${view.desired} ready`, value: `${ready}/${view.desired}` };
      },
      this.#timings.pollIntervalMs,
      this.#timings.nodeReplaceTimeoutMs,
    );
    return `${id}: ${region.name} runs ${counts ?? '?'} ready tasks again`;
  }

  // ---- verification ---------------------------------------------------------------------------

  async probeWrite(name: string): Promise<string> {
    const region = this.#region(name);
    this.#apiKey ??= (async () => {
      const secret = await this.#aws.call(`Secrets Manager GetSecretValue ${SECRET_NAMES.apiKeys}`, () =>
        this.#aws.secrets(region.awsRegion).send(new GetSecretValueCommand({ SecretId: SECRET_NAMES.apiKeys })),
      );
      const key = (secret.SecretString ?? '').split(',')[0]?.trim() ?? '';
      if (key === '') throw new Error(`secret ${SECRET_NAMES.apiKeys} is empty`);
      return key;
    })();
    this.#apiKey.catch(() => (this.#apiKey = undefined));
    const key = await this.#apiKey;
    const fetchFn = this.#options.fetch ?? fetch;
    const host = regionHostname(region, this.#options.dns.globalHostname);
    const url = `https://${host}/v1/files/drill-probes/${name}-${this.#aws.clock.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const body = `probe from ${name} at ${new Date(this.#aws.clock.now()).toISOString()}\n`;
    const auth = { authorization: `Bearer ${key}` };
    const timeout = (): AbortSignal => AbortSignal.timeout(this.#aws.timeouts.requestMs);
    const started = this.#aws.clock.now();
    const created = await fetchFn(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body, signal: timeout() });
    if (created.status !== 201 && created.status !== 200) throw new Error(`write through ${host} answered ${created.status}: ${(await created.text()).slice(0, 200)}`);
    await created.arrayBuffer();
    const read = await fetchFn(url, { headers: auth, signal: timeout() });
    const text = await read.text();
    if (read.status !== 200 || text !== body) throw new Error(`read-back through ${host} answered ${read.status} with ${text.length} characters`);
    await fetchFn(url, { method: 'DELETE', headers: auth, signal: timeout() }).then((r) => r.arrayBuffer()).catch(() => null);
    return `${name}: write + read-back ok via ${created.headers.get('x-callfs-served-by') ?? '?'} in ${this.#aws.clock.now() - started} ms`;
  }

  // ---- objects (S3) ---------------------------------------------------------------------------

  async routeObjects(activeRegions: readonly string[]): Promise<string> {
    const active = activeRegions.map((n) => this.#region(n));
    if (active.length === 0) throw new Error('routeObjects: at least one active region is needed');
    const mrapArn = this.#options.mrapArn;
    if (mrapArn !== undefined) return this.#routeMrap(mrapArn, active);

    const problems: string[] = [];
    const repaired: string[] = [];
    for (const region of active) {
      const s3 = this.#aws.s3(region.awsRegion);
      let rules: ReplicationRule[];
      let role: string | undefined;
      try {
        const out = await this.#aws.call(`S3 GetBucketReplication ${this.#bucketOf(region)}`, () => s3.send(new GetBucketReplicationCommand({ Bucket: this.#bucketOf(region) })));
        rules = out.ReplicationConfiguration?.Rules ?? [];
        role = out.ReplicationConfiguration?.Role;
      } catch (error) {
        if (!isError(error, 'ReplicationConfigurationNotFoundError')) throw error;
        problems.push(`${this.#bucketOf(region)} has no replication configuration`);
        continue;
      }
      let changed = false;
      const updated = rules.map((rule) => {
        const peer = active.find((p) => p.name !== region.name && rule.Destination?.Bucket === `arn:aws:s3:::${this.#bucketOf(p)}`);
        if (peer === undefined || rule.Status === 'Enabled') return rule;
        changed = true;
        repaired.push(`${region.name}→${peer.name}`);
        return { ...rule, Status: 'Enabled' as const };
      });
      for (const peer of active.filter((p) => p.name !== region.name)) {
        if (!rules.some((rule) => rule.Destination?.Bucket === `arn:aws:s3:::${this.#bucketOf(peer)}`)) problems.push(`${this.#bucketOf(region)} has no rule to ${this.#bucketOf(peer)}`);
      }
      if (changed) {
        await this.#aws.call(`S3 PutBucketReplication ${this.#bucketOf(region)}`, () => s3.send(new PutBucketReplicationCommand({ Bucket: this.#bucketOf(region), ReplicationConfiguration: { Role: role, Rules: updated } })));
      }
    }
    if (problems.length > 0) throw new Error(`routeObjects: ${problems.join('; ')} (deploy the region stacks with replication on)`);
    const withdrawn = this.#regions.filter((r) => !active.includes(r));
    return [
      `objects: ${active.map((r) => r.name).join(', ')} replicate to each other${repaired.length > 0 ? ` (re-enabled ${repaired.join(', ')})` : ''}`,
      withdrawn.length > 0 ? `; rules to ${withdrawn.map((r) => r.name).join(', ')} are kept as deployed (S3 queues those copies until the region is back)` : '',
    ].join('');
  }

  async #routeMrap(mrapArn: string, active: readonly Region[]): Promise<string> {
    const account = this.#options.accountId ?? /^arn:[^:]+:s3::(\d{12}):accesspoint\//.exec(mrapArn)?.[1];
    if (account === undefined) throw new Error(`routeObjects: no account id in ${mrapArn}; pass accountId`);
    const routes = this.#regions.map((r) => ({ Bucket: this.#bucketOf(r), Region: r.awsRegion, TrafficDialPercentage: active.includes(r) ? 100 : 0 }));
    const tried: string[] = [];
    for (const controlRegion of this.#options.mrapControlRegions ?? MRAP_CONTROL_REGIONS) {
      try {
        await this.#aws.call(`S3 Control SubmitMultiRegionAccessPointRoutes (${controlRegion})`, () => this.#aws.s3Control(controlRegion).send(new SubmitMultiRegionAccessPointRoutesCommand({ AccountId: account, Mrap: mrapArn, RouteUpdates: routes })));
        return `objects: ${mrapArn} routes 100 % to ${active.map((r) => r.name).join(', ')} and 0 % to the others (via ${controlRegion}; takes about 2 min)`;
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        tried.push(`${controlRegion}: ${describeError(error)}`);
      }
    }
    throw new Error(`routeObjects: no MRAP control region answered (${tried.join('; ')})`);
  }
}

/** GET of a node's JSON over HTTPS without verifying its self-signed certificate (health reads only). */
async function readUnverifiedTls(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false, timeout: timeoutMs } });
  try {
    const response = await undiciRequest(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.statusCode, body: await response.body.json().catch(() => null) };
  } finally {
    await dispatcher.close();
  }
}
