/**
 * The drill's SQL inside the region's VPC: with the AWS provider against the stand-in, one SQL
 * step (reading the epoch row) starts the region's drill SQL runner task with RunTask, waits for
 * it with DescribeTasks until STOPPED and reads its result from CloudWatch Logs, and the stand-in
 * ran the runner's real entry point against the region's real Postgres (TLS verified against the
 * test's CA bundle). The same step through the direct connection gives the same record, and a
 * batch that fails names the region, the task and the statement (or the refused connection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSqlBatch, DRILL_SQL_ENV } from '../../app/drill-sql/batch.js';
import { READ_EPOCH_RECORD } from '../../app/fencing/index.js';
import { DATABASE_NAME, databaseIdentifier, parameterName } from '../../infra/config/names.js';
import { DRILL_SQL_CONTAINER_NAME, DRILL_SQL_STARTED_BY, drillSqlLogStream } from '../../infra/config/drill-sql-runner.js';
import { AwsCalls } from '../../scripts/drill/aws/aws-calls.js';
import { DEFAULT_ECS_SQL_TIMINGS, EcsSqlReach } from '../../scripts/drill/aws/sql-reach-ecs.js';
import { startAwsWorld, type AwsWorld } from '../support/aws-standin-world.js';

let world: AwsWorld;

beforeAll(async () => {
  world = await startAwsWorld();
}, 120_000);

afterAll(async () => {
  await world?.close();
}, 60_000);

function region(name: string): { name: string; awsRegion: string } {
  const found = world.regions.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no region ${name}`);
  return found;
}

describe('SQL reach through the drill SQL runner task', () => {
  it('runs one SQL step as RunTask → DescribeTasks until STOPPED → GetLogEvents, with the batch in the container override', async () => {
    const us = region('us');
    const provider = world.provider();
    const callsBefore = world.standin.calls.length;
    const runsBefore = world.standin.runTasks?.runs.length ?? 0;

    const record = await provider.readEpoch('us');

    const [expected] = await world.query<{ epoch: string }>('us', 'SELECT epoch::text FROM callfs_epoch WHERE id = 1');
    expect(record.epoch).toBe(Number(expected?.epoch));
    const calls = world.standin.calls.slice(callsBefore).map((c) => `${c.service}@${c.region} ${c.operation} ${c.status}`);
    // The instance's endpoint from RDS; the runner's placement from SSM (once per region); then the task.
    expect(calls[0]).toBe(`rds@${us.awsRegion} DescribeDBInstances 200`);
    expect(calls[1]).toBe(`ssm@${us.awsRegion} GetParameters 200`);
    expect(calls[2]).toBe(`ecs@${us.awsRegion} RunTask 200`);
    const rest = calls.slice(3);
    const stopped = rest.findIndex((c) => !c.startsWith(`ecs@${us.awsRegion} DescribeTasks`));
    expect(stopped, calls.join('\n')).toBeGreaterThan(0);
    expect(rest.slice(stopped)).toEqual([`logs@${us.awsRegion} GetLogEvents 200`, `logs@${us.awsRegion} GetLogEvents 200`]);
    // No Secrets Manager call: the task reads the credentials itself.
    expect(calls.some((c) => c.startsWith('secretsmanager'))).toBe(false);

    const runs = world.standin.runTasks?.runs.slice(runsBefore) ?? [];
    expect(runs).toHaveLength(1);
    const run = runs[0];
    const input = run?.input as {
      cluster: string;
      taskDefinition: string;
      launchType: string;
      startedBy: string;
      networkConfiguration: unknown;
      overrides: { containerOverrides: Array<{ name: string; environment: Array<{ name: string; value: string }> }> };
    };
    const published = (value: Parameters<typeof parameterName>[1]): string | undefined => world.standin.lookups.parameters.get(`${us.awsRegion}:${parameterName(us, value)}`);
    expect(input.cluster).toBe(published('node-cluster-name'));
    expect(input.taskDefinition).toBe(published('drill-sql-task-definition'));
    expect(input.launchType).toBe('FARGATE');
    expect(input.startedBy).toBe(DRILL_SQL_STARTED_BY);
    expect(input.networkConfiguration).toEqual({ awsvpcConfiguration: { subnets: published('drill-sql-subnets')?.split(','), securityGroups: [published('drill-sql-security-group')], assignPublicIp: 'DISABLED' } });
    const override = input.overrides.containerOverrides;
    expect(override.map((o) => o.name)).toEqual([DRILL_SQL_CONTAINER_NAME]);
    const env = Object.fromEntries((override[0]?.environment ?? []).map((v) => [v.name, v.value]));
    const instance = world.standin.rds.instances.find((i) => i.region === us.awsRegion && !i.identifier.includes('-old-') && !i.identifier.endsWith('-next'));
    expect(env[DRILL_SQL_ENV.host]).toBe(instance?.address);
    expect(env[DRILL_SQL_ENV.port]).toBe(String(instance?.port));
    expect(env[DRILL_SQL_ENV.database]).toBe(DATABASE_NAME);
    expect(decodeSqlBatch(env[DRILL_SQL_ENV.batch] ?? '')).toEqual({ statements: [{ sql: READ_EPOCH_RECORD }] });
    // The credentials are never in the override.
    expect(Object.keys(env).some((k) => /USER|PASSWORD/.test(k))).toBe(false);
    expect(JSON.stringify(input.overrides)).not.toContain('admin-password');

    // The stand-in ran the entry point: its log stream holds the marked result line, and no secret.
    const logGroup = published('drill-sql-log-group') ?? '';
    const lines = world.standin.logs.messages(us.awsRegion, logGroup, drillSqlLogStream(run?.taskId ?? ''));
    expect(lines.some((l) => l.startsWith('geo-callfs-drill-sql-result {"ok":true'))).toBe(true);
    expect(lines.join('\n')).not.toContain('admin-password');
  }, 60_000);

  it('gives the same record through the direct connection (for a bastion or VPN)', async () => {
    const viaEcs = await world.provider().readEpoch('eu');
    const viaDirect = await world.provider({ sqlVia: 'direct' }).readEpoch('eu');
    expect(viaDirect).toEqual(viaEcs);
  }, 60_000);

  it('a task whose statement fails, or that cannot connect, names the region, the task id and what failed', async () => {
    const eu = world.regions.find((r) => r.name === 'eu');
    if (eu === undefined) throw new Error('no eu');
    const reach = new EcsSqlReach(new AwsCalls({ endpoint: world.standin.endpoint, credentials: { accessKeyId: 'AKIDSTANDIN0000000000', secretAccessKey: 'stand-in-secret-key' } }), { ...DEFAULT_ECS_SQL_TIMINGS, pollIntervalMs: 50 });
    const instance = world.standin.rds.instances.find((i) => i.region === eu.awsRegion && i.identifier === databaseIdentifier(eu));
    const target = { host: instance?.address ?? '', port: instance?.port ?? 0, database: DATABASE_NAME, user: '', password: '' };
    await expect(reach.run(eu, target, { statements: [{ sql: 'SELECT 1' }, { sql: 'SELEKT 2' }] })).rejects.toThrow(
      /^eu: drill SQL task [0-9a-f]{32} \(exit code 1\): statement 1 of the batch failed \(SQLSTATE 42601\): syntax error/,
    );
    const refused = reach.run(eu, { ...target, port: 1 }, { statements: [{ sql: 'SELECT 1' }] });
    await expect(refused).rejects.toMatchObject({ name: 'DatabaseUnreachable', message: expect.stringMatching(/^eu: drill SQL task [0-9a-f]{32} \(exit code 1\): cannot connect to the database/) });
  }, 60_000);

  it('a direct connection whose certificate does not verify is unreachable, as a task\'s refused connection is', async () => {
    const direct = world.provider({ sqlVia: 'direct', caBundle: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' });
    await expect(direct.readEpoch('ap')).rejects.toMatchObject({ name: 'DatabaseUnreachable' });
  }, 60_000);

  it('a fence whose guard finds the nodes\' role unbindable stops the batch there and says why', async () => {
    const provider = world.provider();
    // The nodes' role cannot be fenced if it does not exist: the guard stops the batch with the reason.
    const missingRole = world.provider({ appRole: 'no_such_role' });
    await expect(missingRole.fenceDatabase('eu')).rejects.toThrow(/the fence cannot bind the nodes' role: role no_such_role does not exist/);
    // The database stayed as it was (nothing after the guard ran, the mark committed before it).
    const [row] = await world.query<{ fenced: boolean }>('eu', 'SELECT fenced FROM callfs_epoch WHERE id = 1');
    expect(row?.fenced).toBe(true);
    await provider.writeEpoch('eu', { ...(await provider.readEpoch('eu')), fenced: false });
  }, 60_000);
});
