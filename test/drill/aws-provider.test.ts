/**
 * The `aws` drill provider against mocked AWS clients (aws-sdk-client-mock): the inputs of the
 * calls whose shape the stand-in does not judge (health check updates, MRAP routes, replication
 * rules, the lock home's arming) and the provider's own throttling retries. What the AWS services
 * accept and in which order (fence, promotion, re-pointing, nodes) is tested against the AWS
 * stand-in through the real SDK: test/drill/aws-e2e.test.ts. No test reaches the
 * network: every client class the provider uses is mocked, credentials are fake, the SQL and
 * Redis parts are in-memory fakes, `fetch` is stubbed to fail, and the clock is simulated.
 */
import { DescribeReplicationGroupsCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { ECSClient } from '@aws-sdk/client-ecs';
import {
  AddTagsToResourceCommand,
  CreateDBInstanceReadReplicaCommand,
  DBInstanceNotFoundFault,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  ModifyDBInstanceCommand,
  ModifyDBParameterGroupCommand,
  PromoteReadReplicaCommand,
  RDSClient,
  ResetDBParameterGroupCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import {
  GetHealthCheckCommand,
  GetHealthCheckStatusCommand,
  ListResourceRecordSetsCommand,
  PriorRequestNotComplete,
  Route53Client,
  TestDNSAnswerCommand,
  ThrottlingException,
  UpdateHealthCheckCommand,
} from '@aws-sdk/client-route-53';
import { GetBucketReplicationCommand, PutBucketReplicationCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ControlClient, SubmitMultiRegionAccessPointRoutesCommand } from '@aws-sdk/client-s3-control';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { AwsCalls, type Clock } from '../../scripts/drill/aws/aws-calls.js';
import type { DatabaseTarget } from '../../scripts/drill/aws/database-session.js';
import type { EpochSql } from '../../scripts/drill/aws/epoch-sql.js';
import type { LockHomeRedis } from '../../scripts/drill/aws/lock-home-redis.js';
import { createAwsProvider, type AwsProviderOptions } from '../../scripts/drill/aws/provider.js';
import type { EpochRecord } from '../../scripts/drill/provider.js';

// ---- no network, fake credentials ---------------------------------------------------------------

const ENV_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED'] as const;
const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
beforeAll(() => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIAFAKEFAKEFAKEFAKE';
  process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret-for-tests-only';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  vi.stubGlobal('fetch', () => Promise.reject(new Error('network access in a unit test')));
});
afterAll(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  vi.unstubAllGlobals();
});

const mocks = {
  route53: mockClient(Route53Client),
  rds: mockClient(RDSClient),
  elasticache: mockClient(ElastiCacheClient),
  ecs: mockClient(ECSClient),
  ssm: mockClient(SSMClient),
  secrets: mockClient(SecretsManagerClient),
  s3: mockClient(S3Client),
  s3control: mockClient(S3ControlClient),
};

// ---- the call log across clients (AWS calls, SQL and Redis fakes) ------------------------------

interface LoggedCall {
  readonly at: string;
  readonly command: string;
  readonly input: unknown;
}

/** Data-plane calls of the fakes, each with the number of AWS calls made before it. */
let dataPlane: { readonly awsCallsBefore: number; readonly call: LoggedCall }[] = [];

function awsCallCount(): number {
  return Object.values(mocks).reduce((n, m) => n + m.send.callCount, 0);
}

/** Every call in order: AWS calls by sinon's global call id (untyped in @types/sinon), the fakes' calls slotted in between. */
async function callLog(): Promise<LoggedCall[]> {
  const aws: { id: number; call: LoggedCall }[] = [];
  for (const [service, mock] of Object.entries(mocks)) {
    for (const call of mock.send.getCalls()) {
      const client = call.thisValue as { config: { region: () => Promise<string> } };
      const command = call.args[0] as { constructor: { name: string }; input: unknown };
      aws.push({ id: (call as unknown as { callId: number }).callId, call: { at: `${service}@${await client.config.region()}`, command: command.constructor.name.replace(/Command$/, ''), input: command.input } });
    }
  }
  aws.sort((a, b) => a.id - b.id);
  const log: LoggedCall[] = [];
  let next = 0;
  for (const [i, entry] of aws.entries()) {
    while (next < dataPlane.length && (dataPlane[next]?.awsCallsBefore ?? 0) <= i) log.push((dataPlane[next++] as { call: LoggedCall }).call);
    log.push(entry.call);
  }
  while (next < dataPlane.length) log.push((dataPlane[next++] as { call: LoggedCall }).call);
  return log;
}

/** The log as `where Command` lines, for whole sequences. */
async function callLines(): Promise<string[]> {
  return (await callLog()).map((c) => `${c.at} ${c.command}`);
}

function recordDataPlane(at: string, command: string, input: unknown): void {
  dataPlane.push({ awsCallsBefore: awsCallCount(), call: { at, command, input } });
}

// ---- fakes ---------------------------------------------------------------------------------------

class FakeClock implements Clock {
  t = Date.UTC(2026, 10, 25, 12, 0, 0);
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

class FakeSql implements EpochSql {
  epoch: EpochRecord = { epoch: 7, fenced: false, primaryRegion: 'eu', lockHome: 'eu-redis.cache.amazonaws.com:6379' };
  readOnlyAfterChecks = 1;
  unreachable = false;
  #check(target: DatabaseTarget, command: string, input?: unknown): void {
    recordDataPlane(`sql@${target.host}`, command, input);
    if (this.unreachable) throw Object.assign(new Error(`cannot connect to ${target.host}`), { name: 'DatabaseUnreachable' });
  }
  readEpoch(target: DatabaseTarget): Promise<EpochRecord> {
    this.#check(target, 'readEpoch');
    return Promise.resolve(this.epoch);
  }
  writeEpoch(target: DatabaseTarget, record: EpochRecord): Promise<void> {
    this.#check(target, 'writeEpoch', record);
    this.epoch = record;
    return Promise.resolve();
  }
  markFenced(target: DatabaseTarget): Promise<void> {
    this.#check(target, 'markFenced');
    this.epoch = { ...this.epoch, fenced: true };
    return Promise.resolve();
  }
  readOnlyByDefault(target: DatabaseTarget): Promise<boolean> {
    this.#check(target, 'readOnlyByDefault');
    this.readOnlyAfterChecks -= 1;
    return Promise.resolve(this.readOnlyAfterChecks <= 0);
  }
  endSessions(target: DatabaseTarget): Promise<number> {
    this.#check(target, 'endSessions');
    return Promise.resolve(4);
  }
}

class FakeRedis implements LockHomeRedis {
  arm(target: { host: string; port: number; password: string }, keyPrefix: string, epoch: number, fenceFloor: number): Promise<number> {
    recordDataPlane(`redis@${target.host}:${target.port}`, 'arm', { password: target.password, keyPrefix, epoch, fenceFloor });
    return Promise.resolve(fenceFloor);
  }
}

const ACCOUNT = '123456789012';
const AWS_REGION = { eu: 'eu-west-1', us: 'us-east-1', ap: 'ap-southeast-1' } as const;
type Name = keyof typeof AWS_REGION;
const id = (name: string): string => `geo-callfs-metadata-${name}`;
const arn = (name: Name, identifier = id(name)): string => `arn:aws:rds:${AWS_REGION[name]}:${ACCOUNT}:db:${identifier}`;

function instance(name: Name, extra: Partial<DBInstance> = {}): DBInstance {
  return {
    DBInstanceIdentifier: id(name),
    DBInstanceArn: arn(name),
    DBInstanceStatus: 'available',
    DBInstanceClass: 'db.r6g.large',
    MultiAZ: true,
    StorageType: 'gp3',
    StorageEncrypted: true,
    KmsKeyId: `arn:aws:kms:${AWS_REGION[name]}:${ACCOUNT}:key/key-${name}`,
    DBSubnetGroup: { DBSubnetGroupName: `subnets-${name}` },
    VpcSecurityGroups: [{ VpcSecurityGroupId: `sg-${name}`, Status: 'active' }],
    DBParameterGroups: [{ DBParameterGroupName: `geocallfs-${name}-params`, ParameterApplyStatus: 'in-sync' }],
    Endpoint: { Address: `${id(name)}.xyz.${AWS_REGION[name]}.rds.amazonaws.com`, Port: 5432 },
    EnabledCloudwatchLogsExports: ['postgresql'],
    CACertificateIdentifier: 'rds-ca-rsa2048-g1',
    AutoMinorVersionUpgrade: true,
    DeletionProtection: true,
    CopyTagsToSnapshot: true,
    BackupRetentionPeriod: 0,
    TagList: [
      { Key: 'aws:cloudformation:stack-name', Value: `GeoCallfs-${name}` },
      { Key: 'project', Value: 'geo-callfs' },
    ],
    ...extra,
  };
}

/**
 * RDS as a small world: instances per AWS region, each with a queue of states later
 * DescribeDBInstances calls move it through (one step per describe).
 */
class RdsWorld {
  readonly instances = new Map<string, { db: DBInstance; next: Partial<DBInstance>[] }>();
  /** What PromoteReadReplica does: throw (not promotable yet) or start the promotion. */
  promoteBehaviour: () => void = () => undefined;

  constructor() {
    const region = async (getClient: () => unknown): Promise<string> => (getClient() as { config: { region: () => Promise<string> } }).config.region();
    const key = (awsRegion: string, identifier: string): string => `${awsRegion}/${identifier}`;
    const notFound = (identifier: string): DBInstanceNotFoundFault => new DBInstanceNotFoundFault({ message: `DBInstance ${identifier} not found.`, $metadata: { httpStatusCode: 404 } });
    mocks.rds.on(DescribeDBInstancesCommand).callsFake(async (input: { DBInstanceIdentifier?: string }, getClient) => {
      const r = await region(getClient);
      if (input.DBInstanceIdentifier === undefined) return { DBInstances: [...this.instances.entries()].filter(([k]) => k.startsWith(`${r}/`)).map(([, v]) => v.db) };
      const entry = this.instances.get(key(r, input.DBInstanceIdentifier));
      if (entry === undefined) throw notFound(input.DBInstanceIdentifier);
      const step = entry.next.shift();
      if (step !== undefined) entry.db = { ...entry.db, ...step };
      return { DBInstances: [entry.db] };
    });
    mocks.rds.on(PromoteReadReplicaCommand).callsFake(async (input: { DBInstanceIdentifier: string }, getClient) => {
      this.promoteBehaviour();
      const entry = this.instances.get(key(await region(getClient), input.DBInstanceIdentifier));
      if (entry === undefined) throw notFound(input.DBInstanceIdentifier);
      entry.next.push({ DBInstanceStatus: 'modifying', ReadReplicaSourceDBInstanceIdentifier: undefined }, { DBInstanceStatus: 'rebooting' }, { DBInstanceStatus: 'available' });
      return { DBInstance: entry.db };
    });
    mocks.rds.on(ModifyDBParameterGroupCommand).callsFake((input: { DBParameterGroupName: string }) => ({ DBParameterGroupName: input.DBParameterGroupName }));
    mocks.rds.on(ResetDBParameterGroupCommand).callsFake((input: { DBParameterGroupName: string }) => ({ DBParameterGroupName: input.DBParameterGroupName }));
    mocks.rds.on(AddTagsToResourceCommand).callsFake(async (input: { ResourceName: string; Tags: { Key: string; Value: string }[] }, getClient) => {
      const r = await region(getClient);
      for (const [k, v] of this.instances) if (k.startsWith(`${r}/`) && v.db.DBInstanceArn === input.ResourceName) v.db = { ...v.db, TagList: [...(v.db.TagList ?? []), ...input.Tags] };
      return {};
    });
    mocks.rds.on(ModifyDBInstanceCommand).callsFake(async (input: { DBInstanceIdentifier: string; NewDBInstanceIdentifier?: string }, getClient) => {
      const r = await region(getClient);
      const entry = this.instances.get(key(r, input.DBInstanceIdentifier));
      if (entry === undefined) throw notFound(input.DBInstanceIdentifier);
      const renamed = input.NewDBInstanceIdentifier;
      if (renamed !== undefined) {
        this.instances.delete(key(r, input.DBInstanceIdentifier));
        this.instances.set(key(r, renamed), { db: { ...entry.db, DBInstanceIdentifier: renamed }, next: [] });
      }
      return { DBInstance: entry.db };
    });
    mocks.rds.on(CreateDBInstanceReadReplicaCommand).callsFake(async (input: { DBInstanceIdentifier: string; SourceDBInstanceIdentifier: string }, getClient) => {
      const r = await region(getClient);
      const name = (Object.keys(AWS_REGION) as Name[]).find((n) => AWS_REGION[n] === r) ?? 'eu';
      const db = instance(name, { DBInstanceStatus: 'creating', ReadReplicaSourceDBInstanceIdentifier: input.SourceDBInstanceIdentifier, BackupRetentionPeriod: 0 });
      this.instances.set(key(r, input.DBInstanceIdentifier), { db, next: [{ DBInstanceStatus: 'creating' }, { DBInstanceStatus: 'available' }] });
      return { DBInstance: db };
    });
  }

  put(name: Name, db: DBInstance, next: Partial<DBInstance>[] = []): void {
    this.instances.set(`${AWS_REGION[name]}/${db.DBInstanceIdentifier ?? id(name)}`, { db, next });
  }

  get(name: Name, identifier = id(name)): DBInstance | undefined {
    return this.instances.get(`${AWS_REGION[name]}/${identifier}`)?.db;
  }
}

/** The usual deployment: eu primary, us and ap replicas of it. */
function deployed(world: RdsWorld): void {
  world.put('eu', instance('eu', { BackupRetentionPeriod: 14 }));
  world.put('us', instance('us', { ReadReplicaSourceDBInstanceIdentifier: arn('eu'), StatusInfos: [{ StatusType: 'read replication', Status: 'replicating', Normal: true }] }));
  world.put('ap', instance('ap', { ReadReplicaSourceDBInstanceIdentifier: arn('eu'), StatusInfos: [{ StatusType: 'read replication', Status: 'replicating', Normal: true }] }));
}

const HOSTED_ZONE = 'Z0123456789ABCDEFGHIJ';
const GLOBAL = 'files.example.com';
const HEALTH_CHECKS = { eu: 'hc-eu-1111', us: 'hc-us-2222', ap: 'hc-ap-3333' } as const;

function routeRecords(): void {
  mocks.route53.on(ListResourceRecordSetsCommand).resolves({
    IsTruncated: false,
    MaxItems: 300,
    ResourceRecordSets: (Object.keys(HEALTH_CHECKS) as Name[]).map((n) => ({
      Name: `${GLOBAL}.`,
      Type: 'A',
      SetIdentifier: n,
      Region: AWS_REGION[n],
      HealthCheckId: HEALTH_CHECKS[n],
      AliasTarget: { HostedZoneId: HOSTED_ZONE, DNSName: `${n}.${GLOBAL}.`, EvaluateTargetHealth: true },
    })),
  });
}

function secretsAndParameters(): void {
  mocks.ssm.on(GetParameterCommand).callsFake(async (input: { Name: string }, getClient) => {
    const r = await (getClient() as { config: { region: () => Promise<string> } }).config.region();
    return { Parameter: { Name: input.Name, Value: `${input.Name.split('/')[2] ?? '?'}-db.${r}.rds.amazonaws.com` } };
  });
  mocks.secrets.on(GetSecretValueCommand, { SecretId: 'geo-callfs/metadata-db' }).resolves({ SecretString: JSON.stringify({ username: 'callfs', password: 'pw' }) });
  mocks.secrets.on(GetSecretValueCommand, { SecretId: 'geo-callfs/lock-cache-token' }).resolves({ SecretString: 'redis-token' });
}

let clock: FakeClock;
let sql: FakeSql;
let logLines: string[];

function provider(extra: Partial<AwsProviderOptions> = {}) {
  return createAwsProvider({
    dns: { hostedZoneId: HOSTED_ZONE, globalHostname: GLOBAL },
    credentials: { accessKeyId: 'AKIAFAKEFAKEFAKEFAKE', secretAccessKey: 'fake' },
    clock,
    random: () => 0.5,
    // The stacks name each bucket after the account (regionBucketName).
    accountId: ACCOUNT,
    sql,
    lockHome: new FakeRedis(),
    log: (line) => logLines.push(line),
    // Pacing of Route 53 calls is the e2e test's (test/drill/aws-e2e.test.ts); here every call is immediate.
    route53RequestsPerSecond: Infinity,
    timings: { pollIntervalMs: 1000, notPromotableBackoffMs: 1000, promotableTimeoutMs: 10_000 },
    ...extra,
  });
}

beforeEach(() => {
  for (const mock of Object.values(mocks)) mock.reset();
  dataPlane = [];
  clock = new FakeClock();
  sql = new FakeSql();
  logLines = [];
});

// ---- DNS -------------------------------------------------------------------------------------------

describe('withdrawRegion / restoreRegion', () => {
  it('inverts the health check of the region\'s latency record, and reverts it', async () => {
    routeRecords();
    mocks.route53.on(UpdateHealthCheckCommand).resolves({ HealthCheck: undefined });
    const p = provider();
    expect(await p.withdrawRegion('us')).toMatch(/hc-us-2222 inverted/);
    expect(await p.restoreRegion('us')).toMatch(/restored/);
    expect(await callLog()).toEqual([
      { at: 'route53@us-east-1', command: 'ListResourceRecordSets', input: { HostedZoneId: HOSTED_ZONE, StartRecordName: `${GLOBAL}.`, StartRecordType: 'A' } },
      { at: 'route53@us-east-1', command: 'UpdateHealthCheck', input: { HealthCheckId: 'hc-us-2222', Inverted: true } },
      { at: 'route53@us-east-1', command: 'UpdateHealthCheck', input: { HealthCheckId: 'hc-us-2222', Inverted: false } },
    ]);
  });

  it('in resource-path mode, points the check at a path no node answers, and back at the region\'s health path', async () => {
    routeRecords();
    mocks.route53.on(UpdateHealthCheckCommand).resolves({});
    const p = provider({ withdrawBy: 'resource-path' });
    await p.withdrawRegion('ap');
    await p.restoreRegion('ap');
    const updates = mocks.route53.commandCalls(UpdateHealthCheckCommand).map((c) => c.args[0].input);
    expect(updates).toEqual([
      { HealthCheckId: 'hc-ap-3333', ResourcePath: '/geo-callfs-drill-withdrawn', Inverted: false },
      { HealthCheckId: 'hc-ap-3333', ResourcePath: '/ready/read', Inverted: false },
    ]);
  });

  it('retries a throttled UpdateHealthCheck with backoff, then succeeds', async () => {
    routeRecords();
    mocks.route53
      .on(UpdateHealthCheckCommand)
      .rejectsOnce(new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }))
      .rejectsOnce(new PriorRequestNotComplete({ message: 'The request was rejected because Route 53 was still processing a prior request.', $metadata: { httpStatusCode: 400 } }))
      .resolves({});
    await provider().withdrawRegion('eu');
    const updates = mocks.route53.commandCalls(UpdateHealthCheckCommand);
    expect(updates).toHaveLength(3);
    for (const call of updates) expect(call.args[0].input).toEqual({ HealthCheckId: 'hc-eu-1111', Inverted: true });
    // full jitter with random() = 0.5: half of 200 ms, then half of 400 ms
    expect(clock.sleeps).toEqual([100, 200]);
  });

  it('gives up after the bounded number of attempts when Route 53 keeps throttling', async () => {
    routeRecords();
    mocks.route53.on(UpdateHealthCheckCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }));
    await expect(provider({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } }).withdrawRegion('eu')).rejects.toThrow(
      /Route 53 UpdateHealthCheck hc-eu-1111: still throttled after 3 attempts \(ThrottlingException: Rate exceeded\)/,
    );
    expect(mocks.route53.commandCalls(UpdateHealthCheckCommand)).toHaveLength(3);
    expect(clock.sleeps).toEqual([50, 100]);
  });

  it('sends a read again when its kept-alive connection was reset under it, and never a write', async () => {
    const calls = new AwsCalls();
    const reset = (): Error => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    let reads = 0;
    await expect(calls.call('RDS DescribeDBInstances geo-callfs-metadata-us', () => (reads++ === 0 ? Promise.reject(reset()) : Promise.resolve('found')))).resolves.toBe('found');
    expect(reads).toBe(2);
    let writes = 0;
    await expect(calls.call('RDS PromoteReadReplica geo-callfs-metadata-us', () => (writes++, Promise.reject(reset())))).rejects.toThrow(/socket hang up/);
    expect(writes).toBe(1);
    let stubborn = 0;
    await expect(calls.call('Route 53 TestDNSAnswer', () => (stubborn++, Promise.reject(reset())))).rejects.toThrow(/socket hang up/);
    expect(stubborn).toBe(3);
    let timeouts = 0;
    await expect(calls.call('RDS DescribeDBInstances geo-callfs-metadata-us', () => (timeouts++, Promise.reject(Object.assign(new Error('timed out'), { name: 'TimeoutError' }))))).rejects.toThrow(/timed out/);
    expect(timeouts).toBe(1);
  });

  it('does not retry errors that are not throttling', async () => {
    routeRecords();
    mocks.route53.on(UpdateHealthCheckCommand).rejects(Object.assign(new Error('no such check'), { name: 'NoSuchHealthCheck' }));
    await expect(provider().withdrawRegion('eu')).rejects.toThrow(/no such check/);
    expect(mocks.route53.commandCalls(UpdateHealthCheckCommand)).toHaveLength(1);
  });
});

// ---- databases -------------------------------------------------------------------------------------

describe('fenceDatabase', () => {
  it('answers unreachable when the instance is not serving, and changes nothing', async () => {
    const world = new RdsWorld();
    world.put('eu', instance('eu', { DBInstanceStatus: 'inaccessible-encryption-credentials' }));
    expect(await provider().fenceDatabase('eu')).toBe('unreachable');
    expect(await callLines()).toEqual(['rds@eu-west-1 DescribeDBInstances']);
  });

  it('answers unreachable when the region\'s RDS API does not answer', async () => {
    mocks.rds.on(DescribeDBInstancesCommand).rejects(Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError' }));
    expect(await provider().fenceDatabase('eu')).toBe('unreachable');
    expect(await callLines()).toEqual(['rds@eu-west-1 DescribeDBInstances']);
  });

});

describe('promoteDatabase', () => {
  it('fails with a clear error when the replica never becomes promotable before the deadline', async () => {
    const world = new RdsWorld();
    deployed(world);
    world.promoteBehaviour = () => {
      throw new InvalidDBInstanceStateFault({ message: 'DB Instance is not in an available state (modifying).', $metadata: { httpStatusCode: 400 } });
    };
    await expect(provider().promoteDatabase('ap')).rejects.toThrow(
      /promote geo-callfs-metadata-ap: the replica is still not promotable after 10 s and 4 attempts \(InvalidDBInstanceStateFault: DB Instance is not in an available state \(modifying\)\.\)/,
    );
    // 1 + 2 + 4 s of backoff fit in 10 s; the next (8 s) would not
    expect(clock.sleeps).toEqual([1000, 2000, 4000]);
  });

});

describe('setSynchronousRegions', () => {
  it('says that RDS has no synchronous cross-region replication, without calling AWS', async () => {
    expect(await provider().setSynchronousRegions('eu', ['us'])).toMatch(/no synchronous cross-region replication/);
    expect(await callLog()).toEqual([]);
  });
});

// ---- Redis -----------------------------------------------------------------------------------------

describe('redis', () => {
  function groups(status: string[] = ['available']): void {
    const stub = mocks.elasticache.on(DescribeReplicationGroupsCommand);
    const answer = (s: string) => (input: { ReplicationGroupId: string }) => ({
      ReplicationGroups: [{ ReplicationGroupId: input.ReplicationGroupId, Status: s, NodeGroups: [{ NodeGroupId: '0001', Status: s, PrimaryEndpoint: { Address: `master.${input.ReplicationGroupId}.cache.amazonaws.com`, Port: 6379 } }] }],
    });
    for (const s of status.slice(0, -1)) stub.callsFakeOnce(answer(s));
    stub.callsFake(answer(status[status.length - 1] ?? 'available'));
  }

  it('arms the lock home with the AUTH token from Secrets Manager and the nodes\' key prefix', async () => {
    groups();
    secretsAndParameters();
    expect(await provider().armLockHome('us', 8, 1_700_000_000_000_000)).toMatch(/armed with epoch 8/);
    expect(await callLog()).toEqual([
      { at: 'elasticache@us-east-1', command: 'DescribeReplicationGroups', input: { ReplicationGroupId: 'geo-callfs-locks-us' } },
      { at: 'secrets@us-east-1', command: 'GetSecretValue', input: { SecretId: 'geo-callfs/lock-cache-token' } },
      { at: 'redis@master.geo-callfs-locks-us.cache.amazonaws.com:6379', command: 'arm', input: { password: 'redis-token', keyPrefix: 'callfs:lock:', epoch: 8, fenceFloor: 1_700_000_000_000_000 } },
    ]);
  });

  it('redisAddress needs topology() first', () => {
    expect(() => provider().redisAddress('eu')).toThrow(/call topology\(\) first/);
  });
});

// ---- S3 ----------------------------------------------------------------------------------------------

describe('routeObjects', () => {
  it('with an MRAP: dials 100 % to the active regions\' buckets and 0 % to the others', async () => {
    mocks.s3control.on(SubmitMultiRegionAccessPointRoutesCommand).resolves({});
    const mrapArn = `arn:aws:s3::${ACCOUNT}:accesspoint/mfzwi23gnjvgw.mrap`;
    expect(await provider({ mrapArn }).routeObjects(['us', 'ap'])).toMatch(/100 % to us, ap/);
    expect(await callLog()).toEqual([
      {
        at: 's3control@us-east-1',
        command: 'SubmitMultiRegionAccessPointRoutes',
        input: {
          AccountId: ACCOUNT,
          Mrap: mrapArn,
          RouteUpdates: [
            { Bucket: `geo-callfs-${ACCOUNT}-eu-west-1`, Region: 'eu-west-1', TrafficDialPercentage: 0 },
            { Bucket: `geo-callfs-${ACCOUNT}-ap-southeast-1`, Region: 'ap-southeast-1', TrafficDialPercentage: 100 },
            { Bucket: `geo-callfs-${ACCOUNT}-us-east-1`, Region: 'us-east-1', TrafficDialPercentage: 100 },
          ],
        },
      },
    ]);
  });

  it('with an MRAP: tries the next control region when one does not answer', async () => {
    mocks.s3control
      .on(SubmitMultiRegionAccessPointRoutesCommand)
      .rejectsOnce(Object.assign(new Error('socket hang up'), { name: 'ECONNRESET' }))
      .resolves({});
    await provider({ mrapArn: `arn:aws:s3::${ACCOUNT}:accesspoint/x.mrap` }).routeObjects(['eu']);
    expect(await callLines()).toEqual(['s3control@us-east-1 SubmitMultiRegionAccessPointRoutes', 's3control@us-west-2 SubmitMultiRegionAccessPointRoutes']);
  });

  it('without an MRAP: checks the replication rules between active buckets and re-enables a disabled one only', async () => {
    const rule = (to: string, status: 'Enabled' | 'Disabled', priority: number) => ({
      ID: `to-${to}`,
      Priority: priority,
      Status: status,
      Filter: { Prefix: '' },
      DeleteMarkerReplication: { Status: 'Enabled' as const },
      Destination: { Bucket: `arn:aws:s3:::geo-callfs-${ACCOUNT}-${to}` },
    });
    mocks.s3.on(GetBucketReplicationCommand, { Bucket: `geo-callfs-${ACCOUNT}-us-east-1` }).resolves({
      ReplicationConfiguration: { Role: 'arn:aws:iam::123456789012:role/us-replication', Rules: [rule('eu-west-1', 'Enabled', 0), rule('ap-southeast-1', 'Disabled', 1)] },
    });
    mocks.s3.on(GetBucketReplicationCommand, { Bucket: `geo-callfs-${ACCOUNT}-ap-southeast-1` }).resolves({
      ReplicationConfiguration: { Role: 'arn:aws:iam::123456789012:role/ap-replication', Rules: [rule('eu-west-1', 'Enabled', 0), rule('us-east-1', 'Enabled', 1)] },
    });
    mocks.s3.on(PutBucketReplicationCommand).resolves({});
    const line = await provider().routeObjects(['us', 'ap']);
    expect(line).toBe('objects: us, ap replicate to each other (re-enabled us→ap); rules to eu are kept as deployed (S3 queues those copies until the region is back)');
    expect(await callLog()).toEqual([
      { at: 's3@us-east-1', command: 'GetBucketReplication', input: { Bucket: `geo-callfs-${ACCOUNT}-us-east-1` } },
      {
        at: 's3@us-east-1',
        command: 'PutBucketReplication',
        input: {
          Bucket: `geo-callfs-${ACCOUNT}-us-east-1`,
          ReplicationConfiguration: { Role: 'arn:aws:iam::123456789012:role/us-replication', Rules: [rule('eu-west-1', 'Enabled', 0), rule('ap-southeast-1', 'Enabled', 1)] },
        },
      },
      { at: 's3@ap-southeast-1', command: 'GetBucketReplication', input: { Bucket: `geo-callfs-${ACCOUNT}-ap-southeast-1` } },
    ]);
  });
});

// ---- a whole primary failover ---------------------------------------------------------------------

// ---- topology, answers, nodes -------------------------------------------------------------------

describe('topology, answeringRegions and nodes', () => {
  it('answeringRegions with a client subnet: TestDNSAnswer of the global name, then of each region name', async () => {
    routeRecords();
    const answers: Record<string, string[]> = { [GLOBAL]: ['203.0.113.10', '203.0.113.11'], [`eu.${GLOBAL}`]: ['203.0.113.10', '203.0.113.11'], [`us.${GLOBAL}`]: ['198.51.100.7'], [`ap.${GLOBAL}`]: ['192.0.2.9'] };
    mocks.route53.on(TestDNSAnswerCommand).callsFake((input: { RecordName: string }) => ({ ResponseCode: 'NOERROR', RecordData: answers[input.RecordName] ?? [] }));
    expect(await provider({ clientSubnets: { eu: '81.2.69.0/24' } }).answeringRegions('eu')).toEqual(['eu']);
    expect(mocks.route53.commandCalls(TestDNSAnswerCommand).map((c) => c.args[0].input)).toEqual(
      [GLOBAL, `eu.${GLOBAL}`, `ap.${GLOBAL}`, `us.${GLOBAL}`].map((name) => ({ HostedZoneId: HOSTED_ZONE, RecordName: name, RecordType: 'A', EDNS0ClientSubnetIP: '81.2.69.0', EDNS0ClientSubnetMask: '24' })),
    );
  });

  it('answeringRegions without one: the regions whose health check Route 53 calls healthy, inversion applied', async () => {
    routeRecords();
    const check = (inverted: boolean) => ({ HealthCheck: { Id: 'x', CallerReference: 'x', HealthCheckVersion: 1, HealthCheckConfig: { Type: 'HTTPS' as const, Inverted: inverted } } });
    mocks.route53.on(GetHealthCheckCommand).resolves(check(false));
    mocks.route53.on(GetHealthCheckCommand, { HealthCheckId: HEALTH_CHECKS.eu }).resolves(check(true));
    const ok = { StatusReport: { Status: 'Success: HTTP Status Code 200, OK' } };
    const failed = { StatusReport: { Status: 'Failure: HTTP Status Code 503, Service Unavailable' } };
    mocks.route53.on(GetHealthCheckStatusCommand).resolves({ HealthCheckObservations: [ok, ok, failed, ok, ok, ok] });
    mocks.route53.on(GetHealthCheckStatusCommand, { HealthCheckId: HEALTH_CHECKS.ap }).resolves({ HealthCheckObservations: [failed, failed, failed, failed, failed, failed] });
    // eu: healthy but inverted (withdrawn); ap: failing; us: healthy
    expect(await provider().answeringRegions('us')).toEqual(['us']);
  });
});
