/**
 * @module DrillSqlRunner: how a failover drill runs SQL inside the region's VPC. A one-shot
 * Fargate task definition of the node image with another command (`node
 * dist/app/drill-sql/main.js`, the drill SQL runner built into the image): the AWS drill provider
 * starts it with RunTask in the nodes' private subnets, passing the batch and the database
 * endpoint in a container override; it connects with TLS verified against the RDS CA bundle the
 * image ships, runs the batch, logs one result line and exits. No service keeps it running.
 *
 * Least privilege: its security group admits nothing and lets out only Postgres to the region's
 * database and HTTPS (what Fargate needs for the image pull, the secret and the log stream, which
 * go through the task's own interface); the execution role reads exactly the database
 * credentials secret (ECS injects username and password, so they never appear in an override);
 * the task role has no permission, since the runner calls no AWS API.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeImagePull } from '../aspects/nag.js';
import { DATABASE_PORT } from '../config/names.js';
import { DRILL_SQL_CONTAINER_NAME, DRILL_SQL_ENTRY_POINT, DRILL_SQL_LOG_STREAM_PREFIX, DRILL_SQL_TASK_ENV } from '../config/drill-sql-runner.js';

export interface DrillSqlRunnerProps {
  readonly vpc: ec2.IVpc;
  /** The node image (the same asset as the nodes'). */
  readonly image: ecs.ContainerImage;
  /** The administrative database credentials (JSON with `username` and `password`). */
  readonly databaseCredentials: secretsmanager.ISecret;
  /** The database's security group: the runner may reach it on the Postgres port. */
  readonly databaseSecurityGroup: ec2.ISecurityGroup;
  /** Where the image keeps the RDS CA bundle (RDS_CA_BUNDLE_PATH). */
  readonly caBundlePath: string;
  readonly logRetention: logs.RetentionDays;
}

export class DrillSqlRunner extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;
  /** The nodes' private subnets (with egress), where the task runs. */
  readonly subnetIds: string[];

  constructor(scope: Construct, id: string, props: DrillSqlRunnerProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      // The smallest Fargate size: one short session of a few statements.
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform: { operatingSystemFamily: ecs.OperatingSystemFamily.LINUX, cpuArchitecture: ecs.CpuArchitecture.X86_64 },
    });
    this.taskDefinition.addContainer(DRILL_SQL_CONTAINER_NAME, {
      containerName: DRILL_SQL_CONTAINER_NAME,
      image: props.image,
      // The image's entry point starts a node; the runner is another program of the same build.
      entryPoint: [...DRILL_SQL_ENTRY_POINT],
      essential: true,
      readonlyRootFilesystem: true,
      environment: { [DRILL_SQL_TASK_ENV.caBundle]: props.caBundlePath },
      secrets: {
        [DRILL_SQL_TASK_ENV.user]: ecs.Secret.fromSecretsManager(props.databaseCredentials, 'username'),
        [DRILL_SQL_TASK_ENV.password]: ecs.Secret.fromSecretsManager(props.databaseCredentials, 'password'),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: DRILL_SQL_LOG_STREAM_PREFIX }),
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'geo-callfs drill SQL runner: out to the region database and to AWS APIs only',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(props.databaseSecurityGroup, ec2.Port.tcp(DATABASE_PORT), 'drill SQL to the region database');
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'image pull, Secrets Manager and CloudWatch Logs (through the NAT gateway)');
    this.subnetIds = props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds;

    acknowledgeImagePull(this.taskDefinition.obtainExecutionRole());
    acknowledge(
      this.taskDefinition,
      'ECS2',
      'the one environment variable is the path of the RDS CA bundle inside the image; the credentials come through the secrets field, the batch through the RunTask override',
    );
  }
}
