/**
 * @module The drill's SQL run inside the region's VPC: a one-shot ECS task of the node image
 * (the drill SQL runner the region stack defines, infra/constructs/drill-sql-runner.ts) runs the
 * batch against the instance and logs one marked result line. Per batch:
 *
 * | step | AWS call | waits for |
 * |---|---|---|
 * | once per region | SSM GetParameters: node-cluster-name, drill-sql-task-definition, -subnets, -security-group, -log-group | |
 * | start | ECS RunTask {cluster, taskDefinition, FARGATE, awsvpc (private subnets, the runner's security group, no public IP), startedBy, container override: the batch (gzip + base64) and the endpoint} | a task ARN (a `failures` entry fails the step) |
 * | wait | ECS DescribeTasks every poll interval | lastStatus STOPPED (PROVISIONING → PENDING → RUNNING → ... → STOPPED: a Fargate task starts in about 20-90 s) |
 * | result | CloudWatch Logs GetLogEvents {group, `drill-sql/drill-sql/<task id>`, startFromHead} until the token repeats | the marked line (retried briefly: events can land just after the task stops) |
 *
 * The credentials never travel in the override (RunTask's input is recorded by CloudTrail and
 * shown by DescribeTasks): ECS injects them from Secrets Manager into the task. Every call has
 * the provider's timeouts; a task that does not stop in time, stops without running its
 * container, or leaves no result is an error naming the region, the task id and the stop reason.
 */
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTasksCommand, RunTaskCommand, type Task } from '@aws-sdk/client-ecs';
import { GetParametersCommand } from '@aws-sdk/client-ssm';
import { DRILL_SQL_ENV, encodeSqlBatch, findSqlResult, type SqlBatch } from '../../../app/drill-sql/batch.js';
import { DATABASE_NAME, parameterName } from '../../../infra/config/names.js';
import { DRILL_SQL_CONTAINER_NAME, DRILL_SQL_STARTED_BY, drillSqlLogStream } from '../../../infra/config/drill-sql-runner.js';
import type { Region } from '../../../regions/schema.js';
import type { AwsCalls } from './aws-calls.js';
import type { DatabaseTarget } from './database-session.js';
import { SqlReachUnavailableError, batchError, type RegionalSqlReach, type SqlBatchRows } from './sql-reach.js';

/**
 * "A total of 8192 characters are allowed for overrides. This limit includes the JSON formatting
 * characters of the override structure." (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskOverride.html)
 */
export const RUN_TASK_OVERRIDE_LIMIT = 8192;

export interface EcsSqlTimings {
  /** Between two DescribeTasks of a running runner task. */
  readonly pollIntervalMs: number;
  /** From RunTask to STOPPED. */
  readonly taskTimeoutMs: number;
  /** After STOPPED, how long the result line may take to appear in the log stream. */
  readonly logTimeoutMs: number;
  /** Connect and statement timeouts the runner applies to its session. */
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

export const DEFAULT_ECS_SQL_TIMINGS: EcsSqlTimings = { pollIntervalMs: 3000, taskTimeoutMs: 5 * 60_000, logTimeoutMs: 30_000, connectTimeoutMs: 5000, statementTimeoutMs: 15_000 };

/** What a region publishes about its runner (SSM parameters of infra's RegionStack). */
export interface RunnerPlacement {
  readonly cluster: string;
  readonly taskDefinition: string;
  readonly subnets: readonly string[];
  readonly securityGroup: string;
  readonly logGroup: string;
}

const PUBLISHED = ['node-cluster-name', 'drill-sql-task-definition', 'drill-sql-subnets', 'drill-sql-security-group', 'drill-sql-log-group'] as const;

export class EcsSqlReach implements RegionalSqlReach {
  readonly #placements = new Map<string, Promise<RunnerPlacement | null>>();

  constructor(
    private readonly aws: AwsCalls,
    private readonly timings: EcsSqlTimings = DEFAULT_ECS_SQL_TIMINGS,
  ) {}

  /** The region's runner, read once from SSM; null when the region publishes none. */
  placement(region: Region): Promise<RunnerPlacement | null> {
    let found = this.#placements.get(region.name);
    if (found === undefined) {
      found = (async () => {
        const names = PUBLISHED.map((value) => parameterName(region, value));
        const out = await this.aws.call(`SSM GetParameters ${names.join(' ')}`, () => this.aws.ssm(region.awsRegion).send(new GetParametersCommand({ Names: names })));
        const values = names.map((n) => out?.Parameters?.find((p) => p.Name === n)?.Value);
        const [cluster, taskDefinition, subnets, securityGroup, logGroup] = values;
        if (cluster === undefined || taskDefinition === undefined || subnets === undefined || securityGroup === undefined || logGroup === undefined) return null;
        return { cluster, taskDefinition, subnets: subnets.split(',').filter((s) => s !== ''), securityGroup, logGroup };
      })();
      found.catch(() => this.#placements.delete(region.name));
      this.#placements.set(region.name, found);
    }
    return found;
  }

  async available(region: Region): Promise<boolean> {
    return (await this.placement(region)) !== null;
  }

  needsCredentials(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async run(region: Region, target: DatabaseTarget, batch: SqlBatch): Promise<SqlBatchRows> {
    const placement = await this.placement(region);
    if (placement === null) {
      throw new SqlReachUnavailableError(`${region.name}: SSM parameters ${PUBLISHED.map((v) => parameterName(region, v)).join(', ')} missing: deploy the region stack (it defines the drill SQL runner) or run the drill with --sql-via direct`);
    }
    const taskArn = await this.#start(region, placement, target, batch);
    const taskId = taskArn.split('/').pop() ?? taskArn;
    const where = `${region.name}: drill SQL task ${taskId}`;
    const task = await this.#stopped(region, placement, taskArn, where);
    const container = task.containers?.find((c) => c.name === DRILL_SQL_CONTAINER_NAME);
    const stopped = `stop code ${task.stopCode ?? '?'}, reason "${task.stoppedReason ?? '?'}"${container?.reason === undefined ? '' : `, container: ${container.reason}`}`;
    if (container?.exitCode === undefined) throw new Error(`${where} stopped without running its container (${stopped})`);
    const result = await this.#result(region, placement, taskId, where);
    if (result === null) throw new Error(`${where} exited with ${container.exitCode} but logged no result line to ${placement.logGroup} (${stopped})`);
    if (!result.ok) throw batchError(`${where} (exit code ${container.exitCode})`, result);
    if (container.exitCode !== 0) throw new Error(`${where} logged a result but exited with ${container.exitCode} (${stopped})`);
    return result;
  }

  async #start(region: Region, placement: RunnerPlacement, target: DatabaseTarget, batch: SqlBatch): Promise<string> {
    const overrides = {
      containerOverrides: [
        {
          name: DRILL_SQL_CONTAINER_NAME,
          environment: [
            { name: DRILL_SQL_ENV.batch, value: encodeSqlBatch(batch) },
            { name: DRILL_SQL_ENV.host, value: target.host },
            { name: DRILL_SQL_ENV.port, value: String(target.port) },
            { name: DRILL_SQL_ENV.database, value: target.database === '' ? DATABASE_NAME : target.database },
            { name: DRILL_SQL_ENV.connectTimeoutMs, value: String(this.timings.connectTimeoutMs) },
            { name: DRILL_SQL_ENV.statementTimeoutMs, value: String(this.timings.statementTimeoutMs) },
          ],
        },
      ],
    };
    const size = JSON.stringify(overrides).length;
    if (size > RUN_TASK_OVERRIDE_LIMIT) throw new Error(`${region.name}: the SQL batch does not fit a RunTask override (${size} of ${RUN_TASK_OVERRIDE_LIMIT} characters): split it`);
    const out = await this.aws.call(`ECS RunTask ${placement.taskDefinition}`, () =>
      this.aws.ecs(region.awsRegion).send(
        new RunTaskCommand({
          cluster: placement.cluster,
          taskDefinition: placement.taskDefinition,
          launchType: 'FARGATE',
          count: 1,
          startedBy: DRILL_SQL_STARTED_BY,
          networkConfiguration: { awsvpcConfiguration: { subnets: [...placement.subnets], securityGroups: [placement.securityGroup], assignPublicIp: 'DISABLED' } },
          overrides,
        }),
      ),
    );
    const arn = out.tasks?.[0]?.taskArn;
    if (arn === undefined) {
      const failures = (out.failures ?? []).map((f) => `${f.arn ?? '?'}: ${f.reason ?? '?'}${f.detail === undefined ? '' : ` (${f.detail})`}`).join('; ');
      throw new Error(`${region.name}: RunTask of the drill SQL runner in ${placement.cluster} started no task${failures === '' ? '' : `: ${failures}`}`);
    }
    return arn;
  }

  async #stopped(region: Region, placement: RunnerPlacement, taskArn: string, where: string): Promise<Task> {
    const task = await this.aws.waitFor<Task>(
      `${where} to stop`,
      async () => {
        const out = await this.aws.call(`ECS DescribeTasks ${taskArn}`, () => this.aws.ecs(region.awsRegion).send(new DescribeTasksCommand({ cluster: placement.cluster, tasks: [taskArn] })));
        const found = out.tasks?.[0];
        if (found === undefined) throw new Error(`${where}: DescribeTasks does not know it (${(out.failures ?? []).map((f) => f.reason ?? '?').join('; ')})`);
        return { done: found.lastStatus === 'STOPPED', state: found.lastStatus ?? '?', value: found };
      },
      this.timings.pollIntervalMs,
      this.timings.taskTimeoutMs,
    );
    if (task === undefined) throw new Error(`${where}: no description after it stopped`);
    return task;
  }

  /** The marked line of the task's log stream, waiting `logTimeoutMs` at most for it to arrive. */
  async #result(region: Region, placement: RunnerPlacement, taskId: string, where: string): Promise<ReturnType<typeof findSqlResult>> {
    const logs = this.aws.logs(region.awsRegion);
    const stream = drillSqlLogStream(taskId);
    const read = async (): Promise<string[]> => {
      const lines: string[] = [];
      let token: string | undefined;
      for (let page = 0; page < 100; page++) {
        try {
          const out = await this.aws.call(`CloudWatch Logs GetLogEvents ${placement.logGroup} ${stream}`, () =>
            logs.send(new GetLogEventsCommand({ logGroupName: placement.logGroup, logStreamName: stream, startFromHead: true, ...(token === undefined ? {} : { nextToken: token }) })),
          );
          for (const event of out.events ?? []) if (event.message !== undefined) lines.push(event.message);
          // "If you have reached the end of the stream, it returns the same token you passed in."
          // (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html)
          if (out.nextForwardToken === undefined || out.nextForwardToken === token) break;
          token = out.nextForwardToken;
        } catch (error) {
          // The stream exists once the container has written to it; until then there is nothing to read.
          if ((error as { name?: unknown }).name === 'ResourceNotFoundException') break;
          throw error;
        }
      }
      return lines;
    };
    return (
      (await this.aws.waitFor(
        `${where}: its result line in ${placement.logGroup}/${stream}`,
        async () => {
          const result = findSqlResult(await read());
          return { done: result !== null, state: 'no result line yet', value: result };
        },
        Math.min(this.timings.pollIntervalMs, 2000),
        this.timings.logTimeoutMs,
      ).catch((error: unknown) => {
        if (error instanceof Error && error.message.startsWith('timed out')) return null;
        throw error;
      })) ?? null
    );
  }
}
