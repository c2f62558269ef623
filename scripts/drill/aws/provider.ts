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
 * "SQL" above is one batch through the SQL reach (`sqlVia`, ./sql-reach.ts): by default a
 * one-shot task of the region's drill SQL runner inside its VPC (ECS RunTask → DescribeTasks until
 * STOPPED → CloudWatch Logs GetLogEvents, ./sql-reach-ecs.ts), which reads the credentials itself
 * (no GetSecretValue here), or a direct connection from here. Redis and the nodes' health still
 * run from the machine running the drill, which needs a route into the VPCs for them: a bastion
 * or a tunnel (docs/drills.md). `endpoint` sends every call to the AWS stand-in (scripts/aws-standin).
 *
 * Each group of operations is its own part, over one shared context (./context.ts): traffic on
 * Route 53 (./route53-traffic.ts), databases (./rds-operations.ts), lock caches
 * (./lock-caches.ts), nodes (./node-tasks.ts), objects (./object-routes.ts) and the write probe
 * (./write-probe.ts); this class is the `DrillProvider` they make up, and reads the topology.
 */

import type { DatabaseStatus, DrillProvider, EpochRecord, NodeStatus, Topology } from '../provider.js';
import { describeError } from './aws-calls.js';
import { AwsContext } from './context.js';
import { LockCaches } from './lock-caches.js';
import { NodeTasks } from './node-tasks.js';
import { ObjectRoutes } from './object-routes.js';
import type { AwsProviderOptions } from './options.js';
import { RdsOperations } from './rds-operations.js';
import { Route53Traffic } from './route53-traffic.js';
import { WriteProbe } from './write-probe.js';

export * from './options.js';

export function createAwsProvider(options: AwsProviderOptions): DrillProvider {
  return new AwsDrillProvider(options);
}

export class AwsDrillProvider implements DrillProvider {
  readonly name = 'aws' as const;
  readonly #ctx: AwsContext;
  readonly #traffic: Route53Traffic;
  readonly #databases: RdsOperations;
  readonly #locks: LockCaches;
  readonly #nodes: NodeTasks;
  readonly #objects: ObjectRoutes;
  readonly #probe: WriteProbe;

  constructor(options: AwsProviderOptions) {
    this.#ctx = new AwsContext(options);
    this.#traffic = new Route53Traffic(this.#ctx);
    this.#databases = new RdsOperations(this.#ctx);
    this.#locks = new LockCaches(this.#ctx);
    this.#nodes = new NodeTasks(this.#ctx);
    this.#objects = new ObjectRoutes(this.#ctx);
    this.#probe = new WriteProbe(this.#ctx);
  }

  async topology(): Promise<Topology> {
    const [databases, nodes] = await Promise.all([this.databases(), this.nodeStatus(), Promise.all(this.#ctx.regions.map((r) => this.#locks.loadCache(r).catch(() => undefined)))]);
    const primaryRegion = this.#databases.pickPrimary(databases);
    let lockHomeRegion = primaryRegion;
    try {
      const epoch = await this.readEpoch(primaryRegion);
      const match = this.#ctx.regions.find((r) => epoch.lockHome !== null && this.#locks.knows(r.name) && this.redisAddress(r.name) === epoch.lockHome);
      if (match !== undefined) lockHomeRegion = match.name;
    } catch (error) {
      this.#ctx.log(`topology: the epoch row of ${primaryRegion} cannot be read (${describeError(error)}); taking the lock home to be next to the primary`);
    }
    const byRegion: Record<string, string[]> = Object.fromEntries(this.#ctx.regions.map((r) => [r.name, []]));
    for (const node of nodes) byRegion[node.region]?.push(node.id);
    return {
      regions: [primaryRegion, ...this.#ctx.regions.map((r) => r.name).filter((n) => n !== primaryRegion)],
      primaryRegion,
      lockHomeRegion,
      nodes: byRegion,
    };
  }

  withdrawRegion(name: string): Promise<string> {
    return this.#traffic.withdrawRegion(name);
  }

  restoreRegion(name: string): Promise<string> {
    return this.#traffic.restoreRegion(name);
  }

  answeringRegions(fromRegion: string): Promise<string[]> {
    return this.#traffic.answeringRegions(fromRegion);
  }

  databases(): Promise<DatabaseStatus[]> {
    return this.#databases.databases();
  }

  fenceDatabase(name: string): Promise<'fenced' | 'unreachable'> {
    return this.#databases.fenceDatabase(name);
  }

  promoteDatabase(name: string): Promise<string> {
    return this.#databases.promoteDatabase(name);
  }

  followPrimary(name: string, primaryRegion: string): Promise<string> {
    return this.#databases.followPrimary(name, primaryRegion);
  }

  setSynchronousRegions(primaryRegion: string, regions: readonly string[]): Promise<string> {
    return this.#databases.setSynchronousRegions(primaryRegion, regions);
  }

  readEpoch(name: string): Promise<EpochRecord> {
    return this.#databases.readEpoch(name);
  }

  writeEpoch(name: string, record: EpochRecord): Promise<string> {
    return this.#databases.writeEpoch(name, record);
  }

  redisAddress(name: string): string {
    return this.#locks.redisAddress(name);
  }

  armLockHome(name: string, epoch: number, fenceFloor: number): Promise<string> {
    return this.#locks.armLockHome(name, epoch, fenceFloor);
  }

  stopRedis(name: string): Promise<string> {
    return this.#locks.stopRedis(name);
  }

  startRedis(name: string): Promise<string> {
    return this.#locks.startRedis(name);
  }

  nodeStatus(): Promise<NodeStatus[]> {
    return this.#nodes.nodeStatus();
  }

  stopNode(id: string): Promise<string> {
    return this.#nodes.stopNode(id);
  }

  startNode(id: string): Promise<string> {
    return this.#nodes.startNode(id);
  }

  probeWrite(name: string): Promise<string> {
    return this.#probe.probeWrite(name);
  }

  routeObjects(activeRegions: readonly string[]): Promise<string> {
    return this.#objects.routeObjects(activeRegions);
  }
}
