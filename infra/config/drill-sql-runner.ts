/**
 * @module The contract of the drill SQL runner task between the CDK app (which defines it,
 * infra/constructs/drill-sql-runner.ts), the AWS drill provider (which starts it and reads its
 * log stream, scripts/drill/aws/sql-reach-ecs.ts) and the AWS stand-in (which runs it). The
 * runner itself (app/drill-sql/) is built into the node image, which cannot import infra/: the
 * variable names below are its `DRILL_SQL_ENV`, and test/infra checks that they agree.
 */

/** The container of the runner's task definition (RunTask overrides name it). */
export const DRILL_SQL_CONTAINER_NAME = 'drill-sql';

/** awslogs stream prefix: each task logs to `<prefix>/<container>/<task id>`. */
export const DRILL_SQL_LOG_STREAM_PREFIX = 'drill-sql';

/** The runner's command in the node image (the image's entry point is the node's start script). */
export const DRILL_SQL_ENTRY_POINT = ['node', 'dist/app/drill-sql/main.js'] as const;

/** Variables the task definition sets: the credentials (from Secrets Manager) and the CA bundle path. */
export const DRILL_SQL_TASK_ENV = {
  user: 'DRILL_SQL_USER',
  password: 'DRILL_SQL_PASSWORD',
  caBundle: 'DRILL_SQL_CA_BUNDLE',
} as const;

/** `startedBy` of the tasks the drill starts (at most 36 characters), so they can be listed and told apart. */
export const DRILL_SQL_STARTED_BY = 'geo-callfs-drill-sql';

/**
 * The log stream of one runner task: "awslogs-stream-prefix ... the format prefix-name/container-name/ecs-task-id"
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html).
 */
export function drillSqlLogStream(taskId: string): string {
  return `${DRILL_SQL_LOG_STREAM_PREFIX}/${DRILL_SQL_CONTAINER_NAME}/${taskId}`;
}
