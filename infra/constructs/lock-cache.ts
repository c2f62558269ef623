/**
 * @module LockCache: a region's Redis (ElastiCache replication group): a primary and a replica
 * in different zones with automatic failover, encrypted at rest and in transit (TLS required),
 * AUTH token taken from Secrets Manager through a dynamic reference, isolated subnets only,
 * slow log shipped to CloudWatch with a retention. The home region's cache is the lock home of
 * the whole deployment; the others stand by for the day their region becomes home.
 */
import { RemovalPolicy, type SecretValue } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from '../aspects/nag.js';
import { LOCK_CACHE_PORT } from '../config/names.js';

export interface LockCacheProps {
  readonly vpc: ec2.IVpc;
  /** Deterministic replication group id (at most 40 characters). */
  readonly replicationGroupId: string;
  readonly nodeType: string;
  /** The AUTH token: a reference to a secret, never a literal. */
  readonly authToken: SecretValue;
  readonly logRetention: logs.RetentionDays;
  /**
   * Cache nodes: one primary plus replicas, spread over the zones.
   * @default 2
   */
  readonly nodeCount?: number;
}

export class LockCache extends Construct {
  readonly replicationGroup: elasticache.CfnReplicationGroup;
  readonly securityGroup: ec2.SecurityGroup;
  /** Cache nodes of the group (members `<id>-001`, `<id>-002`, ...). */
  readonly nodeCount: number;
  /** Hostname of the current primary; follows failovers. */
  readonly primaryEndpointAddress: string;

  constructor(scope: Construct, id: string, props: LockCacheProps) {
    super(scope, id);
    this.nodeCount = props.nodeCount ?? 2;
    if (props.replicationGroupId.length > 40) throw new Error(`lock cache: replication group id "${props.replicationGroupId}" is longer than 40 characters`);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `Redis ${props.replicationGroupId}: reachable only from the nodes`,
      allowAllOutbound: false,
    });
    const subnets = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: `Isolated subnets of ${props.replicationGroupId}`,
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
    });
    const slowLog = new logs.LogGroup(this, 'SlowLog', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'Resource', {
      replicationGroupId: props.replicationGroupId,
      replicationGroupDescription: `geo-callfs locks (${props.replicationGroupId})`,
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.nodeType,
      numCacheClusters: this.nodeCount,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      port: LOCK_CACHE_PORT,
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      authToken: props.authToken.unsafeUnwrap(),
      snapshotRetentionLimit: 7,
      autoMinorVersionUpgrade: true,
      logDeliveryConfigurations: [
        {
          destinationType: 'cloudwatch-logs',
          destinationDetails: { cloudWatchLogsDetails: { logGroup: slowLog.logGroupName } },
          logFormat: 'json',
          logType: 'slow-log',
        },
      ],
    });
    this.primaryEndpointAddress = this.replicationGroup.attrPrimaryEndPointAddress;
    acknowledge(
      this.replicationGroup,
      'AEC5',
      'the standard Redis port is kept: the cache has no public address, requires TLS and an AUTH token, and its security group admits only the nodes',
    );
  }

  /** Lets `peer` connect on the Redis port. */
  allowFrom(peer: ec2.IPeer, description: string): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(LOCK_CACHE_PORT), description);
  }
}
