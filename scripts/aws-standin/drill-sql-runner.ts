/**
 * @module A region's drill SQL runner as the region stack deploys it (infra/constructs/drill-sql-runner.ts),
 * laid out in the stand-in: the task definition (its container, its variables, its secrets from
 * the shared database credentials secret, its awslogs group and prefix), the private subnets and
 * the security group it runs in, and the SSM parameters the drill finds them by.
 */
import { SECRET_NAMES, parameterName } from '../../infra/config/names.js';
import { DRILL_SQL_CONTAINER_NAME, DRILL_SQL_LOG_STREAM_PREFIX, DRILL_SQL_TASK_ENV } from '../../infra/config/drill-sql-runner.js';
import type { RunTaskService } from './ecs-run-task.js';
import type { LookupServices } from './others.js';

export interface RunnerRegion {
  readonly name: string;
  readonly awsRegion: string;
}

export function publishDrillSqlRunner(region: RunnerRegion, cluster: string, account: string, caBundlePath: string, runTasks: RunTaskService, lookups: LookupServices): void {
  const definition = {
    region: region.awsRegion,
    cluster,
    taskDefinitionArn: `arn:aws:ecs:${region.awsRegion}:${account}:task-definition/geo-callfs-${region.name}-drill-sql:1`,
    containerName: DRILL_SQL_CONTAINER_NAME,
    logGroup: `geo-callfs-${region.name}-drill-sql`,
    streamPrefix: DRILL_SQL_LOG_STREAM_PREFIX,
    subnets: [`subnet-${region.name}-nodes-a`, `subnet-${region.name}-nodes-b`],
    securityGroups: [`sg-drill-sql-${region.name}`],
    // The image's bundle path in the task definition; here the file standing in for it.
    environment: { [DRILL_SQL_TASK_ENV.caBundle]: caBundlePath },
    secrets: {
      [DRILL_SQL_TASK_ENV.user]: { secretId: SECRET_NAMES.databaseCredentials, jsonKey: 'username' },
      [DRILL_SQL_TASK_ENV.password]: { secretId: SECRET_NAMES.databaseCredentials, jsonKey: 'password' },
    },
  };
  runTasks.addDefinition(definition);
  const publish = (value: Parameters<typeof parameterName>[1], text: string): void => {
    lookups.parameters.set(`${region.awsRegion}:${parameterName(region, value)}`, text);
  };
  publish('drill-sql-task-definition', definition.taskDefinitionArn);
  publish('drill-sql-subnets', definition.subnets.join(','));
  publish('drill-sql-security-group', definition.securityGroups[0] ?? '');
  publish('drill-sql-log-group', definition.logGroup);
}
