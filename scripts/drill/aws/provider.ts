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
 * | answeringRegions | with `clientSubnets[from]`: Route 53 TestDNSAnswer of the global hostname with that EDNS0 client subnet, then TestDNSAnswer of each region hostname; the regions whose addresses appear. Without: per region GetHealthCheck + GetHealthCheckStatus, the regions whose check Route 53 calls healthy (>18 % of checkers, inversion applied); target health (evaluateTargetHealth on the alias) is not seen this way |
 * | databases | RDS DescribeDBInstances per region (roles: see ./databases.ts) |
 * | fenceDatabase | RDS DescribeDBInstances (not serving / API unreachable → `unreachable`; a replica → `fenced`, nothing to do) → SQL MARK_FENCED (app/fencing) (SSM GetParameter metadata-endpoint + Secrets Manager GetSecretValue first) → RDS ModifyDBParameterGroup {default_transaction_read_only = 1, immediate} → AddTagsToResource geo-callfs:fenced → SQL `SHOW default_transaction_read_only` until on → SQL pg_terminate_backend of the nodes' sessions. SQL out of reach: the parameter group alone fences, with a warning |
 * | promoteDatabase | RDS DescribeDBInstances → PromoteReadReplica {BackupRetentionPeriod} (InvalidDBInstanceState retried with backoff until a deadline) → DescribeDBInstances every pollIntervalMs until available without a source |
 * | followPrimary | RDS DescribeDBInstances (primary) → DescribeDBInstances (region); already a replica of it → done. Else ModifyDBInstance (rename aside) → DescribeDBInstances until gone → [ResetDBParameterGroup if it was fenced] → CreateDBInstanceReadReplica {source ARN; the SDK pre-signs for the source region} → DescribeDBInstances until available |
 * | setSynchronousRegions | none: RDS for PostgreSQL has no synchronous cross-region replication (says so) |
 * | readEpoch / writeEpoch | SSM GetParameter metadata-endpoint + Secrets Manager GetSecretValue (cached) → SQL on that endpoint |
 * | redisAddress | the primary endpoint from DescribeReplicationGroups, cached by topology() |
 * | armLockHome | Secrets Manager GetSecretValue (AUTH token) → Redis (TLS): SET epoch, raise fence |
 * | stopRedis | ElastiCache DescribeReplicationGroups → TestFailover (primary node group) |
 * | startRedis | ElastiCache DescribeReplicationGroups until available |
 * | nodeStatus | SSM GetParameters (node-cluster-name, node-service-name; cached) → ECS ListTasks → DescribeTasks, per region |
 * | stopNode | ECS StopTask |
 * | startNode | ECS DescribeServices until runningCount ≥ desiredCount (ECS replaces the task) |
 * | probeWrite | Secrets Manager GetSecretValue (API keys, cached) → HTTPS POST, GET, DELETE of a probe file through `<region>.<global hostname>` |
 * | routeObjects | with `mrapArn`: S3 Control SubmitMultiRegionAccessPointRoutes (100 active, 0 others) in the first control region that answers. Without: per active region S3 GetBucketReplication → PutBucketReplication only if a rule to another active region is disabled |
 *
 * Every client has connection and request timeouts and throttling is retried by ./aws-calls.ts.
 * SQL and Redis run from the machine running the drill, so it needs a route into the VPCs
 * (isolated subnets): a bastion or a tunnel; both sit behind injected interfaces.
 */
import { DescribeReplicationGroupsCommand, TestFailoverCommand } from '@aws-sdk/client-elasticache';
import { DescribeServicesCommand, DescribeTasksCommand, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { GetHealthCheckCommand, GetHealthCheckStatusCommand, ListResourceRecordSetsCommand, TestDNSAnswerCommand, UpdateHealthCheckCommand } from '@aws-sdk/client-route-53';
import { GetBucketReplicationCommand, PutBucketReplicationCommand, type ReplicationRule } from '@aws-sdk/client-s3';
import { SubmitMultiRegionAccessPointRoutesCommand } from '@aws-sdk/client-s3-control';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, GetParametersCommand } from '@aws-sdk/client-ssm';
import { REGIONS } from '../../../regions/index.js';
import { regionBucketName, type Region } from '../../../regions/schema.js';
import { DATABASE_NAME, DATABASE_PORT, LOCK_CACHE_PORT, SECRET_NAMES, databaseIdentifier, lockCacheId, parameterName, regionHostname } from '../../../infra/config/names.js';
import type { DnsSettings } from '../../../infra/config/settings.js';
import type { DatabaseStatus, DrillProvider, EpochRecord, NodeStatus, Topology } from '../provider.js';
import { AwsCalls, describeError, isError, isUnreachable, type AwsCallsOptions } from './aws-calls.js';
import { DEFAULT_DATABASE_TIMINGS, RdsDatabases, isServing, type DatabaseTimings } from './databases.js';
import { createPgEpochSql, type DatabaseTarget, type EpochSql } from './epoch-sql.js';
import { NODE_LOCK_KEY_PREFIX, createIoredisLockHome, type LockHomeRedis } from './lock-home-redis.js';

/** Path a withdrawn region's health check probes in `resource-path` mode: no node answers it with 2xx/3xx. */
export const WITHDRAWN_PATH = '/geo-callfs-drill-withdrawn';

/** Regions that serve the MRAP routing-control API (S3 UG, "failover controls"). */
export const MRAP_CONTROL_REGIONS = ['us-east-1', 'us-west-2', 'ap-southeast-2', 'ap-northeast-1', 'eu-west-1'] as const;

export interface ProviderTimings extends DatabaseTimings {
  /** From ModifyDBParameterGroup until new sessions start read-only. */
  readonly fenceApplyTimeoutMs: number;
  /** From TestFailover until the replication group is available again. */
  readonly redisTimeoutMs: number;
  /** From StopTask until the service runs its desired count again. */
  readonly nodeReplaceTimeoutMs: number;
}

export const DEFAULT_TIMINGS: ProviderTimings = { ...DEFAULT_DATABASE_TIMINGS, fenceApplyTimeoutMs: 2 * 60_000, redisTimeoutMs: 15 * 60_000, nodeReplaceTimeoutMs: 10 * 60_000 };

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
  readonly sql?: EpochSql;
  readonly lockHome?: LockHomeRedis;
  /** @default NODE_LOCK_KEY_PREFIX */
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
  readonly #sql: EpochSql;
  readonly #lockHome: LockHomeRedis;
  readonly #log: (line: string) => void;
  #healthChecks: Promise<ReadonlyMap<string, string>> | undefined;
  #apiKey: Promise<string> | undefined;
  readonly #caches = new Map<string, CacheGroup>();
  readonly #dbTargets = new Map<string, DatabaseTarget>();
  readonly #nodeServices = new Map<string, { cluster: string; service: string }>();

  constructor(options: AwsProviderOptions) {
    this.#options = options;
    this.#aws = new AwsCalls(options);
    this.#regions = options.regions ?? REGIONS;
    this.#timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.#rds = new RdsDatabases(this.#aws, this.#regions, this.#timings, options.backupRetentionDays ?? 14);
    this.#sql = options.sql ?? createPgEpochSql({ connectTimeoutMs: this.#aws.timeouts.connectionMs, statementTimeoutMs: this.#aws.timeouts.requestMs });
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
        const out = await this.#aws.call(`Route 53 ListResourceRecordSets ${name}`, () => this.#aws.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: this.#options.dns.hostedZoneId, ...start })));
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
    await this.#aws.call(`Route 53 UpdateHealthCheck ${id}`, () => this.#aws.route53().send(new UpdateHealthCheckCommand(byPath ? { HealthCheckId: id, ResourcePath: WITHDRAWN_PATH, Inverted: false } : { HealthCheckId: id, Inverted: true })));
    return byPath
      ? `${name}: health check ${id} now probes ${WITHDRAWN_PATH}: out of the answers for ${this.#options.dns.globalHostname} until restored`
      : `${name}: health check ${id} inverted: out of the answers for ${this.#options.dns.globalHostname} until restored`;
  }

  async restoreRegion(name: string): Promise<string> {
    const region = this.#region(name);
    const id = await this.#healthCheckId(region);
    if (id === undefined) return `${name}: no latency record for ${this.#options.dns.globalHostname} (dnsWeight 0?): nothing to restore`;
    const byPath = this.#options.withdrawBy === 'resource-path';
    await this.#aws.call(`Route 53 UpdateHealthCheck ${id}`, () => this.#aws.route53().send(new UpdateHealthCheckCommand(byPath ? { HealthCheckId: id, ResourcePath: region.healthCheckPath, Inverted: false } : { HealthCheckId: id, Inverted: false })));
    return `${name}: health check ${id} restored (${region.healthCheckPath}, not inverted): back in the answers once healthy`;
  }

  async answeringRegions(fromRegion: string): Promise<string[]> {
    this.#region(fromRegion);
    const subnet = this.#options.clientSubnets?.[fromRegion];
    const ids = await this.#healthCheckIds();
    const listed = this.#regions.filter((r) => ids.has(r.name));
    if (subnet !== undefined) {
      const answer = async (recordName: string): Promise<string[]> => {
        const out = await this.#aws.call(`Route 53 TestDNSAnswer ${recordName}`, () => this.#aws.route53().send(new TestDNSAnswerCommand({ HostedZoneId: this.#options.dns.hostedZoneId, RecordName: recordName, RecordType: 'A', ...clientSubnet(subnet) })));
        return out.ResponseCode === 'NOERROR' ? (out.RecordData ?? []) : [];
      };
      const global = new Set(await answer(this.#options.dns.globalHostname));
      const answering: string[] = [];
      for (const region of listed) {
        const own = await answer(regionHostname(region, this.#options.dns.globalHostname));
        if (own.some((ip) => global.has(ip))) answering.push(region.name);
      }
      return answering;
    }
    const answering: string[] = [];
    for (const region of listed) {
      const id = ids.get(region.name) ?? '';
      const config = await this.#aws.call(`Route 53 GetHealthCheck ${id}`, () => this.#aws.route53().send(new GetHealthCheckCommand({ HealthCheckId: id })));
      const status = await this.#aws.call(`Route 53 GetHealthCheckStatus ${id}`, () => this.#aws.route53().send(new GetHealthCheckStatusCommand({ HealthCheckId: id })));
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

  databases(): Promise<DatabaseStatus[]> {
    return this.#rds.databases();
  }

  async fenceDatabase(name: string): Promise<'fenced' | 'unreachable'> {
    const region = this.#region(name);
    const found = await this.#rds.lookup(region);
    if (found.kind !== 'instance' || !isServing(found.db)) return 'unreachable';
    if (found.db.ReadReplicaSourceDBInstanceIdentifier !== undefined && found.db.ReadReplicaSourceDBInstanceIdentifier !== '') return 'fenced';
    let target: DatabaseTarget | undefined;
    try {
      target = await this.#dbTarget(region);
      await this.#sql.markFenced(target);
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      target = undefined;
      this.#log(`fence ${name}: the database does not accept connections from here (${describeError(error)}); fencing through the parameter group only, the epoch row is not marked`);
    }
    await this.#rds.makeReadOnly(region, found.db);
    if (target !== undefined) {
      const sessions = target;
      await this.#aws.waitFor(
        `default_transaction_read_only on ${databaseIdentifier(region)}`,
        async () => ({ done: await this.#sql.readOnlyByDefault(sessions), state: 'new sessions still read-write' }),
        this.#timings.pollIntervalMs,
        this.#timings.fenceApplyTimeoutMs,
      );
      await this.#sql.endSessions(sessions);
    }
    return 'fenced';
  }

  promoteDatabase(name: string): Promise<string> {
    return this.#rds.promote(this.#region(name));
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
    return this.#sql.readEpoch(await this.#dbTarget(this.#region(name)));
  }

  async writeEpoch(name: string, record: EpochRecord): Promise<string> {
    await this.#sql.writeEpoch(await this.#dbTarget(this.#region(name)), record);
    return `${name}: epoch ${record.epoch} written (primary ${record.primaryRegion ?? '?'}, lock home ${record.lockHome ?? 'configured'}, ${record.fenced ? 'fenced' : 'unfenced'})`;
  }

  async #dbTarget(region: Region): Promise<DatabaseTarget> {
    const cached = this.#dbTargets.get(region.name);
    if (cached !== undefined) return cached;
    const name = parameterName(region, 'metadata-endpoint');
    const parameter = await this.#aws.call(`SSM GetParameter ${name}`, () => this.#aws.ssm(region.awsRegion).send(new GetParameterCommand({ Name: name })));
    const host = parameter.Parameter?.Value;
    if (host === undefined || host === '') throw new Error(`${region.name}: SSM parameter ${name} is empty`);
    const secret = await this.#aws.call(`Secrets Manager GetSecretValue ${SECRET_NAMES.databaseCredentials}`, () => this.#aws.secrets(region.awsRegion).send(new GetSecretValueCommand({ SecretId: SECRET_NAMES.databaseCredentials })));
    const credentials = JSON.parse(secret.SecretString ?? '{}') as { username?: unknown; password?: unknown };
    if (typeof credentials.username !== 'string' || typeof credentials.password !== 'string') {
      throw new Error(`${region.name}: secret ${SECRET_NAMES.databaseCredentials} holds no username and password`);
    }
    const target = { host, port: DATABASE_PORT, database: DATABASE_NAME, user: credentials.username, password: credentials.password };
    this.#dbTargets.set(region.name, target);
    return target;
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
    const prefix = this.#options.lockKeyPrefix ?? NODE_LOCK_KEY_PREFIX;
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
    return `${name}: ElastiCache has no stop: failing over ${id} node group ${cache.nodeGroupId} (TestFailover), its primary is lost for the drill`;
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
    return `${name}: ${id} is available again (${this.redisAddress(name)})`;
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

  async nodeStatus(): Promise<NodeStatus[]> {
    const perRegion = await Promise.all(
      this.#regions.map(async (region): Promise<NodeStatus[]> => {
        try {
          const { cluster, service } = await this.#nodeService(region);
          const ecs = this.#aws.ecs(region.awsRegion);
          const listed = await this.#aws.call(`ECS ListTasks ${service}`, () => ecs.send(new ListTasksCommand({ cluster, serviceName: service, desiredStatus: 'RUNNING' })));
          const arns = listed.taskArns ?? [];
          if (arns.length === 0) return [];
          const described = await this.#aws.call(`ECS DescribeTasks ${service}`, () => ecs.send(new DescribeTasksCommand({ cluster, tasks: arns })));
          return (described.tasks ?? []).map((task) => ({
            id: `${region.name}/${(task.taskArn ?? '').split('/').pop() ?? ''}`,
            region: region.name,
            // The container health check probes /health (liveness); /ready is behind the load balancer.
            ready: task.lastStatus === 'RUNNING' && task.healthStatus === 'HEALTHY',
            epoch: null,
          }));
        } catch (error) {
          if (!isUnreachable(error)) throw error;
          this.#log(`nodes of ${region.name}: ECS does not answer (${describeError(error)})`);
          return [];
        }
      }),
    );
    return perRegion.flat();
  }

  #node(id: string): { region: Region; taskId: string } {
    const slash = id.indexOf('/');
    if (slash <= 0 || slash === id.length - 1) throw new Error(`node id "${id}": expected <region>/<ECS task id> as nodeStatus() reports it`);
    return { region: this.#region(id.slice(0, slash)), taskId: id.slice(slash + 1) };
  }

  async stopNode(id: string): Promise<string> {
    const { region, taskId } = this.#node(id);
    const { cluster } = await this.#nodeService(region);
    await this.#aws.call(`ECS StopTask ${taskId}`, () => this.#aws.ecs(region.awsRegion).send(new StopTaskCommand({ cluster, task: taskId, reason: 'geo-callfs drill: stopNode' })));
    return `${id}: ECS task stopped (the service starts a replacement with a new id)`;
  }

  async startNode(id: string): Promise<string> {
    const { region } = this.#node(id);
    const { cluster, service } = await this.#nodeService(region);
    const counts = await this.#aws.waitFor(
      `service ${service} to run its desired count again`,
      async () => {
        const out = await this.#aws.call(`ECS DescribeServices ${service}`, () => this.#aws.ecs(region.awsRegion).send(new DescribeServicesCommand({ cluster, services: [service] })));
        const s = out.services?.[0];
        const running = s?.runningCount ?? 0;
        const desired = s?.desiredCount ?? 0;
        return { done: s !== undefined && running >= desired, state: `${running}/${desired} running`, value: `${running}/${desired}` };
      },
      this.#timings.pollIntervalMs,
      this.#timings.nodeReplaceTimeoutMs,
    );
    return `${id}: ECS replaced the stopped task (${counts ?? '?'} running)`;
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
