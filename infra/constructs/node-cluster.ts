/**
 * @module NodeCluster: the region's file-API nodes. ECS Fargate tasks running the node's
 * container (non-root, read-only root filesystem with a scratch /tmp) in the private `Nodes`
 * subnets, behind an internet-facing Application Load Balancer that terminates HTTPS and
 * redirects HTTP. The target group checks `/ready/read` (the node can serve reads); rolling deploys roll back on their own when
 * tasks fail (deployment circuit breaker); target tracking scales on CPU and on requests per
 * task. Configuration arrives as `CALLFS_` environment variables, secrets only as ECS secrets.
 *
 * Nothing crosses the network in clear between tasks: every node serves HTTPS on the node port
 * with a self-signed certificate it makes at start (`server.tls_self_signed`) and announces in
 * the member registry, the shared Postgres reached over verified TLS; peers trust exactly the
 * announced certificate. The load balancer speaks HTTPS to the targets too (it does not
 * validate target certificates, so a self-signed one is enough).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeImagePull, bucketObjectsFinding } from '../aspects/nag.js';
import { NODE_PORT } from '../config/names.js';

export interface NodeClusterProps {
  readonly vpc: ec2.IVpc;
  readonly image: ecs.ContainerImage;
  /** Fargate CPU units of one task. */
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  /** Tasks in normal operation, and the autoscaling floor. */
  readonly nodeCount: number;
  readonly maxNodeCount: number;
  readonly certificate: acm.ICertificate;
  /** Non-secret configuration (CALLFS_* and friends). */
  readonly environment: Readonly<Record<string, string>>;
  /** Secret configuration: environment variable → Secrets Manager reference. */
  readonly secrets: Readonly<Record<string, ecs.Secret>>;
  /** The bucket the nodes write to. */
  readonly bucket: s3.IBucket;
  /** Buckets the nodes may read through to (other regions' copies). */
  readonly readableBuckets: readonly s3.IBucket[];
  readonly accessLogBucket: s3.IBucket;
  readonly logRetention: logs.RetentionDays;
  /**
   * Path of the load balancer's target health check (D2: `/ready/read`, can this node serve reads).
   * @default '/ready/read'
   */
  readonly healthCheckPath?: string;
  /**
   * Average CPU utilization the service scales to.
   * @default 60
   */
  readonly targetCpuPercent?: number;
  /**
   * Requests per task per minute the service scales to.
   * @default 1000
   */
  readonly targetRequestsPerNode?: number;
}

/**
 * The node's listener settings the target group depends on: HTTPS with a self-signed certificate
 * made at start. Applied over `environment`, so a caller cannot turn the node back to plain HTTP
 * behind an HTTPS target group.
 */
export const NODE_TLS_ENVIRONMENT: Readonly<Record<string, string>> = {
  CALLFS_SERVER__PROTOCOL: 'https',
  CALLFS_SERVER__TLS_SELF_SIGNED: 'true',
};

/**
 * The container's liveness check: GET /health over HTTPS on loopback, within 3 s. It asks the
 * process it runs beside, so the certificate is not verified (it is made at start and held only
 * in memory); nothing secret is sent.
 */
export function livenessCommand(port: number): string {
  return [
    `require('node:https').get({ host: '127.0.0.1', port: ${port}, path: '/health', rejectUnauthorized: false, timeout: 3000 },`,
    ' (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on(\'timeout\', () => process.exit(1)).on(\'error\', () => process.exit(1))',
  ].join('');
}

export class NodeCluster extends Construct {
  readonly cluster: ecs.Cluster;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly nodeSecurityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: NodeClusterProps) {
    super(scope, id);
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: props.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryLimitMiB,
      runtimePlatform: { operatingSystemFamily: ecs.OperatingSystemFamily.LINUX, cpuArchitecture: ecs.CpuArchitecture.X86_64 },
    });
    // The root filesystem is read-only; tsx's compile cache and upload spooling use /tmp.
    this.taskDefinition.addVolume({ name: 'tmp' });
    const container = this.taskDefinition.addContainer('node', {
      image: props.image,
      essential: true,
      readonlyRootFilesystem: true,
      environment: { ...props.environment, ...NODE_TLS_ENVIRONMENT },
      secrets: { ...props.secrets },
      portMappings: [{ containerPort: NODE_PORT, name: 'https', protocol: ecs.Protocol.TCP }],
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'node' }),
      stopTimeout: Duration.seconds(30),
      healthCheck: {
        command: ['CMD', 'node', '-e', livenessCommand(NODE_PORT)],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
    });
    container.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });

    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: 'Public HTTPS (and the HTTP redirect) to the region load balancer',
      allowAllOutbound: false,
    });
    lbSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS from clients and Route 53 health checkers');
    lbSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP, answered with a redirect to HTTPS');
    acknowledge(lbSecurityGroup, 'EC23', 'the load balancer is the public entry point of the file API: clients and Route 53 health checkers connect from anywhere');

    this.nodeSecurityGroup = new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
      vpc: props.vpc,
      description: 'geo-callfs nodes: the load balancer and other nodes on the node port',
      allowAllOutbound: true,
    });
    this.nodeSecurityGroup.addIngressRule(lbSecurityGroup, ec2.Port.tcp(NODE_PORT), 'load balancer to nodes');
    this.nodeSecurityGroup.addIngressRule(this.nodeSecurityGroup, ec2.Port.tcp(NODE_PORT), 'node to node in this region');
    lbSecurityGroup.addEgressRule(this.nodeSecurityGroup, ec2.Port.tcp(NODE_PORT), 'load balancer to nodes');

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      // No DesiredCount in the template: autoscaling owns it (floor nodeCount), so a deploy never
      // resets a scaled-out service. ECS starts a new service with one task; scaling raises it.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.nodeSecurityGroup],
      assignPublicIp: false,
      healthCheckGracePeriod: Duration.seconds(60),
      capacityProviderStrategies: [{ capacityProvider: 'FARGATE', weight: 1 }],
    });

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: lbSecurityGroup,
      dropInvalidHeaderFields: true,
      // Long enough for a slow client between chunks of a large upload or download.
      idleTimeout: Duration.seconds(120),
      // Short keep-alive, so clients re-resolve DNS (and leave a drained region) within minutes.
      clientKeepAlive: Duration.minutes(5),
    });
    this.loadBalancer.logAccessLogs(props.accessLogBucket, 'alb');

    // HTTPS to the targets and for their health checks. The load balancer does not validate the
    // targets' certificates, so the nodes' self-signed ones serve ("The load balancer does not
    // validate these certificates. Therefore, you can use self-signed certificates or certificates
    // that have expired": Routing configuration, Target groups for your Application Load
    // Balancers, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-group-routing-configuration).
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc: props.vpc,
      port: NODE_PORT,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        path: props.healthCheckPath ?? '/ready/read',
        protocol: elbv2.Protocol.HTTPS,
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [props.certificate],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultTargetGroups: [this.targetGroup],
      open: false,
    });
    this.loadBalancer.addRedirect({ sourcePort: 80, sourceProtocol: elbv2.ApplicationProtocol.HTTP, targetPort: 443, targetProtocol: elbv2.ApplicationProtocol.HTTPS, open: false });

    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.nodeCount, maxCapacity: props.maxNodeCount });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: props.targetCpuPercent ?? 60,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });
    scaling.scaleOnRequestCount('Requests', {
      requestsPerTarget: props.targetRequestsPerNode ?? 1000,
      targetGroup: this.targetGroup,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });

    // Exactly the S3 calls the node makes (Get/Head/Put/Copy/Delete object, multipart uploads,
    // HeadBucket), on its own bucket; reads only on the other regions' buckets.
    const taskRole = this.taskDefinition.taskRole;
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [props.bucket.arnForObjects('*')] }),
    );
    const readable = props.readableBuckets;
    if (readable.length > 0) taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: readable.map((b) => b.arnForObjects('*')) }));
    taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.bucket, ...readable].map((b) => b.bucketArn) }));
    for (const finding of [bucketObjectsFinding(props.bucket), ...readable.map(bucketObjectsFinding)]) {
      acknowledge(
        taskRole,
        `IAM5[${finding}]`,
        'the node stores files as objects keyed by path, so object actions apply to every key of a bucket (<bucket>/*); the actions are listed one by one and the buckets are this deployment\'s',
      );
    }
    acknowledgeImagePull(this.taskDefinition.obtainExecutionRole());
    acknowledge(
      this.taskDefinition,
      'ECS2',
      'the environment variables are the node\'s non-secret CALLFS_ configuration (listen address, bucket, region, hostnames); every secret is passed through the secrets field from Secrets Manager',
    );
  }
}
