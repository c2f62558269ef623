/**
 * @module The AWS stand-in: one HTTP server on loopback that answers the control-plane calls of
 * the drills (RDS, Route 53, ECS, ElastiCache, S3, SSM, Secrets Manager, STS, and CloudWatch Logs
 * for the drill SQL runner's output) for a deployment laid
 * out as the CDK app lays it out (the names of infra/config/names.ts). The real SDK v3 clients talk
 * to it through an endpoint override, with their whole middleware stack: signing, serialisation,
 * the RDS cross-region pre-signed URL, error parsing and retries. It keeps state, moves resources
 * through their documented states with compressed durations, and enforces the documented rules
 * the drills depend on; each rule cites its AWS page where it is encoded.
 *
 * It never reaches the network: the server listens on 127.0.0.1 only, the node tasks it runs
 * answer on loopback addresses, and the drill SQL runner processes it starts connect to the
 * instance endpoints it reports (the tests' loopback Postgres servers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { databaseIdentifier, lockCacheId, parameterName } from '../../infra/config/names.js';
import { StandinClock, TokenBucket } from './clock.js';
import { EcsService, type NodeHealth } from './ecs.js';
import { ELASTICACHE_NAMESPACE, ElastiCacheService, LookupServices, S3ReplicationService, STS_NAMESPACE, replicationXml, type CacheGroup } from './others.js';
import { AwsError, QueryParams, jsonAnswer, jsonError, queryAnswer, queryError, readBody, restXmlAnswer, restXmlError, signedScope, type Answer } from './protocol.js';
import { RdsService } from './rds.js';
import { RDS_NAMESPACE, instanceArn, type RdsBacking } from './rds-model.js';
import { LogsService } from './logs.js';
import { RunTaskService, type RunnerProcess } from './ecs-run-task.js';
import { publishDrillSqlRunner } from './drill-sql-runner.js';
import { ROUTE53_NAMESPACE, Route53Service, type ZoneRegion } from './route53.js';

export const STANDIN_ACCOUNT = '123456789012';

export interface StandinRegion {
  readonly name: string;
  readonly awsRegion: string;
  readonly cidr: string;
  readonly healthCheckPath: string;
  readonly bucketName: string;
  /** The region's database as deployed: the home region's is the primary, the others replicate from it. */
  readonly database: { readonly address: string; readonly port: number; readonly handle?: unknown };
  readonly cache: { readonly address: string; readonly port: number };
  readonly nodeCount: number;
}

export interface StandinOptions {
  /** The regions, the home region (the primary's) first. */
  readonly regions: readonly StandinRegion[];
  readonly hostedZoneId: string;
  readonly globalHostname: string;
  /** Real milliseconds per documented second. @default 5 */
  readonly msPerSecond?: number;
  /**
   * Per service, a different compression (real ms per documented second): AWS's durations span
   * minutes (a task launch) to hours (a cross-region replica), and a test may stretch the short
   * ones so a state that lasts a minute on AWS is long enough to be observed by polling.
   */
  readonly timeScale?: Partial<Record<'rds' | 'ecs' | 'route53' | 'elasticache' | 'runTask', number>>;
  readonly rdsBacking?: RdsBacking | null;
  /** What a node task reports on `/health?details`. @default no epoch */
  readonly nodeHealth?: (region: string, taskId: string) => Promise<NodeHealth>;
  /** Port of every node task on its own loopback address. */
  readonly nodePort: number;
  /** Secret name → value, in every region (replicated secrets). */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly onCacheFailover?: (group: CacheGroup) => Promise<void>;
  /** Extra rate limits per service name (`rds`, `ecs`, ...); Route 53's documented one always applies. */
  readonly rateLimits?: Readonly<Record<string, { readonly capacity: number; readonly perSecond: number }>>;
  /**
   * The drill SQL runner each region's stack defines (RunTask + CloudWatch Logs, ./ecs-run-task.ts):
   * how its entry point runs here, and the file standing in for the image's RDS CA bundle.
   */
  readonly drillSqlRunner?: { readonly process: RunnerProcess; readonly caBundlePath: string };
  /** Errors of background transitions (a failed replica creation, ...). @default stderr */
  readonly onError?: (error: unknown) => void;
}

export interface StandinCall {
  readonly at: number;
  readonly service: string;
  readonly region: string;
  readonly operation: string;
  readonly status: number;
}

export interface AwsStandin {
  /** `http://127.0.0.1:<port>`: every client's endpoint. */
  readonly endpoint: string;
  readonly rds: RdsService;
  readonly ecs: EcsService;
  readonly route53: Route53Service;
  readonly elastiCache: ElastiCacheService;
  readonly lookups: LookupServices;
  readonly logs: LogsService;
  readonly runTasks: RunTaskService | null;
  readonly s3: S3ReplicationService;
  readonly calls: readonly StandinCall[];
  readonly clock: StandinClock;
  /** Errors of background transitions so far. */
  readonly errors: readonly unknown[];
  close(): Promise<void>;
}

function clusterName(region: string): string {
  return `geo-callfs-${region}-cluster`;
}
function serviceName(region: string): string {
  return `geo-callfs-${region}-nodes`;
}

export async function startAwsStandin(options: StandinOptions): Promise<AwsStandin> {
  const errors: unknown[] = [];
  const onError = (error: unknown): void => {
    errors.push(error);
    (options.onError ?? ((e: unknown) => process.stderr.write(`aws stand-in: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)))(error);
  };
  const clock = new StandinClock(options.msPerSecond ?? 5);
  const clockOf = (service: 'rds' | 'ecs' | 'route53' | 'elasticache' | 'runTask'): StandinClock => {
    const scale = options.timeScale?.[service];
    if (scale === undefined) return clock;
    const own = new StandinClock(scale);
    clocks.push(own);
    return own;
  };
  const clocks: StandinClock[] = [clock];
  const home = options.regions[0];
  if (home === undefined) throw new Error('aws stand-in: no regions');

  const rds = new RdsService(clockOf('rds'), options.rdsBacking ?? null, STANDIN_ACCOUNT, onError);
  for (const region of options.regions) {
    const group = `${databaseIdentifier(region)}-params`;
    rds.parameterGroups.push({ name: group, region: region.awsRegion, family: 'postgres16', parameters: new Map() });
    rds.instances.push({
      identifier: databaseIdentifier(region),
      region: region.awsRegion,
      account: STANDIN_ACCOUNT,
      status: 'available',
      sourceArn: region === home ? undefined : instanceArn(home.awsRegion, STANDIN_ACCOUNT, databaseIdentifier(home)),
      parameterGroup: { name: group, applyStatus: 'in-sync' },
      backupRetentionPeriod: region === home ? 14 : 0,
      tags: [{ Key: 'geo-callfs:region', Value: region.name }],
      address: region.database.address,
      port: region.database.port,
      handle: region.database.handle,
      engineVersion: '16.4',
      instanceClass: 'db.r6g.large',
      multiAz: true,
      storageType: 'gp3',
      encrypted: true,
      kmsKeyId: `arn:aws:kms:${region.awsRegion}:${STANDIN_ACCOUNT}:key/metadata-${region.name}`,
      subnetGroup: `geo-callfs-${region.name}-isolated`,
      securityGroups: [`sg-metadata-${region.name}`],
      caCertificate: 'rds-ca-rsa2048-g1',
      renamingTo: undefined,
      createdAt: clock.now(),
    });
  }

  const ecs = new EcsService(clockOf('ecs'), STANDIN_ACCOUNT, options.nodePort, options.nodeHealth ?? (() => Promise.resolve({ status: 'ok', epoch: null, lock_home: null })), onError);
  for (const region of options.regions) ecs.addService(region.awsRegion, clusterName(region.name), serviceName(region.name), region.nodeCount);

  const lookups = new LookupServices(STANDIN_ACCOUNT);
  for (const region of options.regions) {
    lookups.parameters.set(`${region.awsRegion}:${parameterName(region, 'node-cluster-name')}`, clusterName(region.name));
    lookups.parameters.set(`${region.awsRegion}:${parameterName(region, 'node-service-name')}`, serviceName(region.name));
    lookups.parameters.set(`${region.awsRegion}:${parameterName(region, 'metadata-endpoint')}`, `${databaseIdentifier(region)}.standin.${region.awsRegion}.rds.amazonaws.com`);
    for (const [name, value] of Object.entries(options.secrets ?? {})) lookups.secrets.set(`${region.awsRegion}:${name}`, value);
  }

  // ---- drill SQL runner (one-shot tasks and their log streams)
  const logs = new LogsService();
  const runner = options.drillSqlRunner;
  const runTasks = runner === undefined ? null : new RunTaskService(clockOf('runTask'), STANDIN_ACCOUNT, logs, runner.process, (r, id) => lookups.secrets.get(`${r}:${id}`), onError);
  if (runTasks !== null && runner !== undefined) {
    for (const region of options.regions) publishDrillSqlRunner(region, clusterName(region.name), STANDIN_ACCOUNT, runner.caBundlePath, runTasks, lookups);
  }
  // ----

  const elastiCache = new ElastiCacheService(clockOf('elasticache'), options.onCacheFailover ?? (() => Promise.resolve()), onError);
  for (const region of options.regions) elastiCache.add(region.awsRegion, lockCacheId(region), region.cache.address, region.cache.port);

  const s3 = new S3ReplicationService();
  for (const region of options.regions) {
    s3.buckets.add(region.bucketName);
    const peers = options.regions.filter((r) => r !== region).map((r) => ({ id: `to-${r.name}`, bucketArn: `arn:aws:s3:::${r.bucketName}`, enabled: true }));
    s3.configurations.set(region.bucketName, replicationXml(`arn:aws:iam::${STANDIN_ACCOUNT}:role/geo-callfs-${region.name}-replication`, peers));
  }

  const zoneRegions: ZoneRegion[] = options.regions.map((r, i) => ({ name: r.name, awsRegion: r.awsRegion, cidr: r.cidr, healthCheckPath: r.healthCheckPath, addresses: [`198.51.100.${10 + i * 2}`, `198.51.100.${11 + i * 2}`] }));
  // A region's hostname answers its health path while at least one node task is running and
  // healthy behind the load balancer; any other path (a withdrawn check's) fails.
  const probe = (region: string, path: string): boolean => {
    const r = options.regions.find((x) => x.name === region);
    if (r === undefined || path !== r.healthCheckPath) return false;
    return ecs.tasks.some((t) => t.region === r.awsRegion && t.desiredStatus === 'RUNNING' && t.lastStatus === 'RUNNING' && t.healthStatus === 'HEALTHY');
  };
  const route53 = new Route53Service(clockOf('route53'), options.hostedZoneId, options.globalHostname, zoneRegions, probe);

  await ecs.startAll();

  const buckets = new Map(Object.entries(options.rateLimits ?? {}).map(([service, rate]) => [service, new TokenBucket(rate.capacity, rate.perSecond)]));
  const calls: StandinCall[] = [];

  async function answer(request: IncomingMessage): Promise<{ answer: Answer; service: string; region: string; operation: string }> {
    const requestId = randomUUID();
    const scope = signedScope(request);
    const url = new URL(request.url ?? '/', 'http://standin');
    const body = await readBody(request);
    const service = scope?.service ?? '?';
    const region = scope?.region ?? '?';
    const target = String(request.headers['x-amz-target'] ?? '');
    const jsonOperation = target.split('.').pop() ?? '';
    const query = service === 'rds' || service === 'elasticache' || service === 'sts' ? new QueryParams(body) : null;
    const operation = query?.get('Action') ?? (jsonOperation !== '' ? jsonOperation : `${request.method ?? 'GET'} ${url.pathname}`);
    const fail = (error: AwsError): Answer => {
      if (query !== null) return queryError(error, requestId);
      if (service === 'route53') return restXmlError(error, requestId, true);
      if (service === 's3') return restXmlError(error, requestId, false);
      return jsonError(error, requestId);
    };
    try {
      if (scope === null) throw new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
      if (buckets.get(service)?.take() === false) {
        throw service === 's3' ? new AwsError('SlowDown', 'Please reduce your request rate.', 503) : new AwsError(query !== null ? 'Throttling' : 'ThrottlingException', 'Rate exceeded');
      }
      switch (service) {
        case 'rds':
          return { answer: queryAnswer(operation, RDS_NAMESPACE, rds.handle(region, operation, query ?? new QueryParams('')), requestId), service, region, operation };
        case 'elasticache':
          return { answer: queryAnswer(operation, ELASTICACHE_NAMESPACE, elastiCache.handle(region, operation, query ?? new QueryParams('')), requestId), service, region, operation };
        case 'sts':
          return { answer: queryAnswer(operation, STS_NAMESPACE, lookups.sts(operation, scope.accessKeyId), requestId), service, region, operation };
        case 'ecs': {
          const input = JSON.parse(body === '' ? '{}' : body) as Record<string, unknown>;
          if (runTasks?.owns(region, jsonOperation, input) === true) return { answer: jsonAnswer(runTasks.handle(region, jsonOperation, input)), service, region, operation };
          return { answer: jsonAnswer(ecs.handle(region, jsonOperation, input)), service, region, operation };
        }
        case 'logs':
          return { answer: jsonAnswer(logs.handle(region, jsonOperation, JSON.parse(body === '' ? '{}' : body) as Record<string, unknown>)), service, region, operation };
        case 'ssm':
          return { answer: jsonAnswer(lookups.ssm(region, jsonOperation, JSON.parse(body === '' ? '{}' : body) as Record<string, unknown>)), service, region, operation };
        case 'secretsmanager':
          return { answer: jsonAnswer(lookups.secretsManager(region, jsonOperation, JSON.parse(body === '' ? '{}' : body) as Record<string, unknown>)), service, region, operation };
        case 'route53': {
          const out = route53.handle(request.method ?? 'GET', url.pathname, url.searchParams, body);
          return { answer: restXmlAnswer(out.root, ROUTE53_NAMESPACE, out.content), service, region, operation: out.root.replace(/Response$/, '') };
        }
        case 's3': {
          const bucket = url.pathname.split('/')[1] ?? '';
          const out = s3.handle(request.method ?? 'GET', bucket, url.searchParams, body);
          return { answer: { status: out.status, headers: { 'content-type': 'application/xml' }, body: out.xml }, service, region, operation: `${request.method ?? 'GET'} ?replication` };
        }
        default:
          throw new AwsError('UnknownService', `the stand-in does not serve ${service}`, 400);
      }
    } catch (error) {
      if (error instanceof AwsError) return { answer: fail(error), service, region, operation };
      onError(error);
      return { answer: fail(new AwsError('InternalFailure', 'the stand-in failed to handle the request', 500)), service, region, operation };
    }
  }

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    answer(request).then(
      ({ answer: out, service, region, operation }) => {
        calls.push({ at: clock.now(), service, region, operation, status: out.status });
        response.writeHead(out.status, { ...out.headers, 'x-amzn-requestid': out.headers['x-amzn-requestid'] ?? randomUUID() }).end(out.body);
      },
      (error: unknown) => {
        onError(error);
        response.writeHead(500).end();
      },
    );
  });
  // Node closes a kept-alive connection after 5 s idle, and a client that sends on it at that
  // moment gets a reset. AWS endpoints keep idle connections far longer; so does the stand-in,
  // so the drills' pauses between calls do not turn into resets AWS would not cause.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    rds,
    ecs,
    route53,
    elastiCache,
    lookups,
    logs,
    runTasks,
    s3,
    calls,
    clock,
    errors,
    async close() {
      for (const c of clocks) c.close();
      ecs.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
