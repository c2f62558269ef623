/**
 * The AWS stand-in's one-shot tasks (RunTask of a region's drill SQL runner) and CloudWatch Logs,
 * through the real SDK v3 clients. The runner's "entry point" here is a small node program that
 * prints what it was given, so each rule is seen without a database: the override limits and
 * network configuration RunTask checks, the lifecycle to STOPPED with the container's exit code,
 * the environment a task gets (the task definition's, its secrets, the override's), its output as
 * log events, and a secret ECS cannot read stopping the task before the container runs.
 */
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTasksCommand, RunTaskCommand, type RunTaskCommandInput, type Task } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRILL_SQL_CONTAINER_NAME, DRILL_SQL_TASK_ENV, drillSqlLogStream } from '../../infra/config/drill-sql-runner.js';
import { SECRET_NAMES, parameterName } from '../../infra/config/names.js';
import { REGIONS } from '../../regions/index.js';
import { regionBucketName, type Region } from '../../regions/schema.js';
import { STANDIN_ACCOUNT, startAwsStandin, type AwsStandin } from '../../scripts/aws-standin/server.js';
import { AwsCalls } from '../../scripts/drill/aws/aws-calls.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { eventually } from '../support/wait.js';

let standin: AwsStandin;
let aws: AwsCalls;

/** Prints the variables it was given (never the password's value), then exits with EXIT_WITH. */
const ENTRY = `const e = process.env;
console.log(JSON.stringify({ user: e.${DRILL_SQL_TASK_ENV.user}, hasPassword: (e.${DRILL_SQL_TASK_ENV.password} ?? '') !== '', ca: e.${DRILL_SQL_TASK_ENV.caBundle}, batch: e.DRILL_SQL_BATCH, node: e.NODE_ENV }));
for (let i = 0; i < 3; i++) console.error('line ' + i);
process.exit(Number(e.EXIT_WITH ?? 0));`;

function region(name: string): Region {
  const found = REGIONS.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no region ${name}`);
  return found;
}

function published(r: Region, value: Parameters<typeof parameterName>[1]): string {
  return standin.lookups.parameters.get(`${r.awsRegion}:${parameterName(r, value)}`) ?? '';
}

function runInput(r: Region, environment: Array<{ name: string; value: string }>): RunTaskCommandInput {
  return {
    cluster: published(r, 'node-cluster-name'),
    taskDefinition: published(r, 'drill-sql-task-definition'),
    launchType: 'FARGATE',
    networkConfiguration: { awsvpcConfiguration: { subnets: published(r, 'drill-sql-subnets').split(','), securityGroups: [published(r, 'drill-sql-security-group')], assignPublicIp: 'DISABLED' } },
    overrides: { containerOverrides: [{ name: DRILL_SQL_CONTAINER_NAME, environment }] },
  };
}

async function stopped(r: Region, arn: string): Promise<Task> {
  const task = await eventually(
    async () => (await aws.ecs(r.awsRegion).send(new DescribeTasksCommand({ cluster: published(r, 'node-cluster-name'), tasks: [arn] }))).tasks?.[0],
    (t) => t?.lastStatus === 'STOPPED',
    20_000,
  );
  if (task === undefined) throw new Error(`no task ${arn}`);
  return task;
}

beforeAll(async () => {
  const home = REGIONS.find((r) => r.role === 'home') ?? REGIONS[0];
  const ordered = [home, ...REGIONS.filter((r) => r !== home)].filter((r): r is Region => r !== undefined);
  standin = await startAwsStandin({
    regions: ordered.map((r, i) => ({ name: r.name, awsRegion: r.awsRegion, cidr: r.cidr, healthCheckPath: r.healthCheckPath, bucketName: regionBucketName(r, STANDIN_ACCOUNT), database: { address: `db-${r.name}.test`, port: 5432 + i }, cache: { address: `cache-${r.name}.test`, port: 6379 }, nodeCount: 1 })),
    hostedZoneId: 'Z0RUNTASK',
    globalHostname: 'files.runtask.test',
    msPerSecond: 1,
    timeScale: { ecs: 50, runTask: 5 },
    nodePort: await freePort(),
    // Only eu's copy of the credentials secret exists: in us, ECS cannot read it.
    secrets: { [SECRET_NAMES.databaseCredentials]: JSON.stringify({ username: 'admin', password: 'admin-password' }) },
    drillSqlRunner: { caBundlePath: '/image/rds-bundle.pem', process: { command: process.execPath, args: ['-e', ENTRY], cwd: process.cwd(), imageEnvironment: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production' } } },
  });
  standin.lookups.secrets.delete(`${region('us').awsRegion}:${SECRET_NAMES.databaseCredentials}`);
  aws = new AwsCalls({ endpoint: standin.endpoint, credentials: { accessKeyId: 'AKIDRUNTASK', secretAccessKey: 'run-task-secret' } });
});

afterAll(async () => {
  await standin?.close();
});

describe('RunTask of the drill SQL runner', () => {
  it('refuses a Fargate task without network configuration, an unknown subnet, a foreign container and overrides over 8192 characters', async () => {
    const eu = region('eu');
    const ecs = aws.ecs(eu.awsRegion);
    const good = runInput(eu, [{ name: 'DRILL_SQL_BATCH', value: 'x' }]);
    await expect(ecs.send(new RunTaskCommand({ ...good, networkConfiguration: undefined }))).rejects.toMatchObject({ name: 'InvalidParameterException', message: expect.stringMatching(/Network Configuration must be provided/) });
    await expect(ecs.send(new RunTaskCommand({ ...good, networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-elsewhere'] } } }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(ecs.send(new RunTaskCommand({ ...good, overrides: { containerOverrides: [{ name: 'node', environment: [] }] } }))).rejects.toMatchObject({ name: 'InvalidParameterException', message: expect.stringMatching(/not a container in the TaskDefinition/) });
    await expect(ecs.send(new RunTaskCommand(runInput(eu, [{ name: 'DRILL_SQL_BATCH', value: 'x'.repeat(8200) }])))).rejects.toMatchObject({ name: 'InvalidParameterException', message: expect.stringMatching(/8192/) });
    await expect(ecs.send(new RunTaskCommand({ ...good, taskDefinition: 'someone-elses-task:3' }))).rejects.toMatchObject({ name: 'ClientException' });
  });

  it('runs the entry point with the task definition\'s variables, its secrets and the override\'s, stops with its exit code and keeps its output as log events', async () => {
    const eu = region('eu');
    const out = await aws.ecs(eu.awsRegion).send(new RunTaskCommand(runInput(eu, [{ name: 'DRILL_SQL_BATCH', value: 'batch-1' }, { name: 'EXIT_WITH', value: '3' }])));
    const arn = out.tasks?.[0]?.taskArn ?? '';
    expect(out.tasks?.[0]?.lastStatus).toBe('PROVISIONING');
    const task = await stopped(eu, arn);
    expect(task).toMatchObject({ stopCode: 'EssentialContainerExited', stoppedReason: 'Essential container in task exited', desiredStatus: 'STOPPED' });
    expect(task.containers?.[0]).toMatchObject({ name: DRILL_SQL_CONTAINER_NAME, exitCode: 3, lastStatus: 'STOPPED' });

    const logs = aws.logs(eu.awsRegion);
    const stream = { logGroupName: published(eu, 'drill-sql-log-group'), logStreamName: drillSqlLogStream(arn.split('/').pop() ?? '') };
    const first = await logs.send(new GetLogEventsCommand({ ...stream, startFromHead: true, limit: 2 }));
    const rest = await logs.send(new GetLogEventsCommand({ ...stream, startFromHead: true, nextToken: first.nextForwardToken }));
    const end = await logs.send(new GetLogEventsCommand({ ...stream, startFromHead: true, nextToken: rest.nextForwardToken }));
    const messages = [...(first.events ?? []), ...(rest.events ?? [])].map((e) => e.message ?? '');
    expect(messages).toHaveLength(4);
    expect(JSON.parse(messages.find((m) => m.startsWith('{')) ?? '{}')).toEqual({ user: 'admin', hasPassword: true, ca: '/image/rds-bundle.pem', batch: 'batch-1', node: 'production' });
    expect(messages.filter((m) => m.startsWith('line '))).toEqual(['line 0', 'line 1', 'line 2']);
    // At the end of the stream the forward token comes back unchanged.
    expect(end.events).toEqual([]);
    expect(end.nextForwardToken).toBe(rest.nextForwardToken);
    await expect(logs.send(new GetLogEventsCommand({ ...stream, logStreamName: drillSqlLogStream('no-such-task') }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('stops a task whose secret ECS cannot read before its container runs: no exit code, no log stream', async () => {
    const us = region('us');
    const out = await aws.ecs(us.awsRegion).send(new RunTaskCommand(runInput(us, [{ name: 'DRILL_SQL_BATCH', value: 'batch-2' }])));
    const task = await stopped(us, out.tasks?.[0]?.taskArn ?? '');
    expect(task.stopCode).toBe('TaskFailedToStart');
    expect(task.stoppedReason).toMatch(/^ResourceInitializationError: unable to pull secrets/);
    expect(task.containers?.[0]?.exitCode).toBeUndefined();
  });
});
