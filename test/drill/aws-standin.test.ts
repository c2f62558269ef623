/**
 * The AWS stand-in's documented rules, through the real SDK v3 clients (no data plane behind it:
 * fake endpoints). Each test is one rule the drills depend on; the AWS page it encodes is cited
 * where the stand-in implements it (scripts/aws-standin/*).
 */
import { CreateDBInstanceReadReplicaCommand, DescribeDBInstancesCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { DescribeServicesCommand, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { DescribeReplicationGroupsCommand, TestFailoverCommand } from '@aws-sdk/client-elasticache';
import { ListResourceRecordSetsCommand, TestDNSAnswerCommand, UpdateHealthCheckCommand } from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseIdentifier, lockCacheId } from '../../infra/config/names.js';
import { REGIONS } from '../../regions/index.js';
import { regionBucketName, type Region } from '../../regions/schema.js';
import { STANDIN_ACCOUNT, startAwsStandin, type AwsStandin } from '../../scripts/aws-standin/server.js';
import { AwsCalls } from '../../scripts/drill/aws/aws-calls.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { eventually } from '../support/wait.js';

let standin: AwsStandin;
let aws: AwsCalls;
const ZONE = 'Z0RULES';
const GLOBAL = 'files.rules.test';

function region(name: string): Region {
  const found = REGIONS.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no region ${name}`);
  return found;
}

beforeAll(async () => {
  const home = REGIONS.find((r) => r.role === 'home') ?? REGIONS[0];
  const ordered = [home, ...REGIONS.filter((r) => r !== home)].filter((r): r is Region => r !== undefined);
  standin = await startAwsStandin({
    regions: ordered.map((r, i) => ({ name: r.name, awsRegion: r.awsRegion, cidr: r.cidr, healthCheckPath: r.healthCheckPath, bucketName: regionBucketName(r, STANDIN_ACCOUNT), database: { address: `db-${r.name}.test`, port: 5432 + i }, cache: { address: `cache-${r.name}.test`, port: 6379 }, nodeCount: 2 })),
    hostedZoneId: ZONE,
    globalHostname: GLOBAL,
    msPerSecond: 1,
    // RDS at 3 ms per simulated second: a rename (300-600 s) lasts about 1-2 s, long enough for the
    // test's calls made during it on a busy machine; a cross-region replica about 4-11 s.
    timeScale: { rds: 3, ecs: 50, route53: 5 },
    nodePort: await freePort(),
  });
  aws = new AwsCalls({ endpoint: standin.endpoint, credentials: { accessKeyId: 'AKIDRULES', secretAccessKey: 'rules-secret' } });
});

afterAll(async () => {
  await standin?.close();
});

describe('RDS', () => {
  it('refuses a parameter group on a cross-region PostgreSQL replica and gives it the engine default instead', async () => {
    const eu = region('eu');
    const us = region('us');
    const source = `arn:aws:rds:${eu.awsRegion}:123456789012:db:${databaseIdentifier(eu)}`;
    await expect(aws.rds(us.awsRegion).send(new CreateDBInstanceReadReplicaCommand({ DBInstanceIdentifier: 'rules-with-group', SourceDBInstanceIdentifier: source, KmsKeyId: 'k', DBParameterGroupName: `${databaseIdentifier(us)}-params` }))).rejects.toMatchObject({
      name: 'InvalidParameterCombination',
    });
    const created = await aws.rds(us.awsRegion).send(new CreateDBInstanceReadReplicaCommand({ DBInstanceIdentifier: 'rules-without-group', SourceDBInstanceIdentifier: source, KmsKeyId: 'k' }));
    expect(created.DBInstance?.DBInstanceStatus).toBe('creating');
    expect(created.DBInstance?.DBParameterGroups?.[0]?.DBParameterGroupName).toBe('default.postgres16');
    // The SDK pre-signed the request for the source region; the stand-in checked it.
    expect(standin.rds.events.find((e) => e.identifier === 'rules-without-group')?.detail['PreSignedUrl']).toBe('present');
  });

  it('keeps an identifier taken until a rename away from it completes', async () => {
    const us = region('us');
    const rds = aws.rds(us.awsRegion);
    await eventually(() => rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'rules-without-group' })), (out) => out.DBInstances?.[0]?.DBInstanceStatus === 'available', 20_000);
    await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'rules-without-group', NewDBInstanceIdentifier: 'rules-renamed', ApplyImmediately: true }));
    const during = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'rules-without-group' }));
    expect(during.DBInstances?.[0]?.DBInstanceStatus).toBe('renaming');
    await expect(rds.send(new CreateDBInstanceReadReplicaCommand({ DBInstanceIdentifier: 'rules-without-group', SourceDBInstanceIdentifier: `arn:aws:rds:${region('eu').awsRegion}:123456789012:db:${databaseIdentifier(region('eu'))}`, KmsKeyId: 'k' }))).rejects.toMatchObject({ name: 'DBInstanceAlreadyExistsFault' });
    await eventually(() => rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'rules-renamed' })).then(() => true, () => false), (found) => found, 20_000);
    await expect(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'rules-without-group' }))).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
  });
});

describe('ECS', () => {
  it('drops a task from ListTasks the moment it is told to stop, counts it running until it has stopped, then replaces it under a new id', async () => {
    const us = region('us');
    const ecs = aws.ecs(us.awsRegion);
    const cluster = 'geo-callfs-us-cluster';
    const serviceName = 'geo-callfs-us-nodes';
    const before = (await ecs.send(new ListTasksCommand({ cluster, serviceName }))).taskArns ?? [];
    expect(before).toHaveLength(2);
    const stopped = before[0] ?? '';
    await ecs.send(new StopTaskCommand({ cluster, task: stopped, reason: 'rules' }));
    expect((await ecs.send(new ListTasksCommand({ cluster, serviceName }))).taskArns).not.toContain(stopped);
    expect((await ecs.send(new ListTasksCommand({ cluster, serviceName, desiredStatus: 'STOPPED' }))).taskArns).toContain(stopped);
    expect((await ecs.send(new DescribeServicesCommand({ cluster, services: [serviceName] }))).services?.[0]?.runningCount).toBe(2);
    const after = await eventually(() => ecs.send(new ListTasksCommand({ cluster, serviceName })), (out) => (out.taskArns ?? []).length === 2, 20_000);
    expect(after.taskArns).not.toContain(stopped);
  });
});

describe('Route 53', () => {
  it('answers a withdrawn region\'s clients with it until the health status has changed, then with the next region', async () => {
    const ap = region('ap');
    const records = await aws.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: ZONE, StartRecordName: `${GLOBAL}.`, StartRecordType: 'A' }));
    const check = records.ResourceRecordSets?.find((r) => r.SetIdentifier === 'ap')?.HealthCheckId ?? '';
    const ask = () => aws.route53().send(new TestDNSAnswerCommand({ HostedZoneId: ZONE, RecordName: GLOBAL, RecordType: 'A', EDNS0ClientSubnetIP: ap.cidr.split('/')[0] ?? '' }));
    const apAddresses = (await ask()).RecordData;
    await aws.route53().send(new UpdateHealthCheckCommand({ HealthCheckId: check, ResourcePath: '/withdrawn' }));
    // Three failed checks of 30 s must pass first (compressed): the answer has not changed yet.
    expect((await ask()).RecordData).toEqual(apAddresses);
    const moved = await eventually(ask, (out) => JSON.stringify(out.RecordData) !== JSON.stringify(apAddresses), 10_000, 50);
    expect(moved.ResponseCode).toBe('NOERROR');
    await aws.route53().send(new UpdateHealthCheckCommand({ HealthCheckId: check, ResourcePath: ap.healthCheckPath }));
  });

  it('throttles past the account\'s rate with Throttling / Rate exceeded', async () => {
    const results = await Promise.allSettled(Array.from({ length: 80 }, () => aws.route53().send(new TestDNSAnswerCommand({ HostedZoneId: ZONE, RecordName: GLOBAL, RecordType: 'A' }))));
    const throttled = results.filter((r) => r.status === 'rejected');
    expect(throttled.length).toBeGreaterThan(0);
    expect((throttled[0] as PromiseRejectedResult).reason).toMatchObject({ message: 'Rate exceeded' });
  });
});

describe('ElastiCache', () => {
  it('fails over keeping the primary endpoint, and refuses a second failover while the group is modifying', async () => {
    const eu = region('eu');
    const cache = aws.elastiCache(eu.awsRegion);
    const id = lockCacheId(eu);
    const before = (await cache.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id }))).ReplicationGroups?.[0]?.NodeGroups?.[0];
    await cache.send(new TestFailoverCommand({ ReplicationGroupId: id, NodeGroupId: '0001' }));
    await expect(cache.send(new TestFailoverCommand({ ReplicationGroupId: id, NodeGroupId: '0001' }))).rejects.toMatchObject({ name: 'InvalidReplicationGroupStateFault' });
    const after = await eventually(() => cache.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id })), (out) => out.ReplicationGroups?.[0]?.Status === 'available', 20_000);
    const group = after.ReplicationGroups?.[0]?.NodeGroups?.[0];
    expect(group?.PrimaryEndpoint).toEqual(before?.PrimaryEndpoint);
    expect(group?.NodeGroupMembers?.find((m) => m.CurrentRole === 'primary')?.CacheClusterId).not.toBe(before?.NodeGroupMembers?.find((m) => m.CurrentRole === 'primary')?.CacheClusterId);
  });
});

describe('the endpoint', () => {
  it('refuses an unsigned request', async () => {
    const response = await fetch(`${standin.endpoint}/`, { method: 'POST', body: 'Action=DescribeDBInstances&Version=2014-10-31' });
    expect(response.status).toBe(403);
  });
});
