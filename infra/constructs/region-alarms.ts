/**
 * @module RegionAlarms: the CloudWatch alarms of one region and the SNS topic they notify. The
 * topic's subscriptions come from the region file (`alarmNotifications`: e-mail addresses, and
 * existing topics of the same AWS region that every alarm notifies as well). Alarms: 5xx answers
 * of the load balancer and of the nodes (counts and rate), unhealthy or missing targets, fewer
 * running tasks than desired, the read replica's lag (while the region is not home), the lock
 * cache (engine CPU, memory, replication lag), and per outgoing bucket replication rule its
 * latency (above the 15-minute RTC threshold), pending operations and failed operations.
 * Every alarm notifies on ALARM and on OK, so a page is followed by its all-clear.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { Region } from '../../regions/schema.js';
import type { OutgoingReplication } from './replicated-bucket.js';

export type AlarmNotification = Region['alarmNotifications'][number];

export interface AlarmTopicProps {
  readonly description: string;
  readonly notifications: readonly AlarmNotification[];
}

/**
 * The topic alarms of one stack notify: an SNS topic (TLS-only publishing) with the e-mail
 * subscriptions, plus the existing topics named in the region files.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;
  readonly actions: readonly cloudwatch.IAlarmAction[];

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Resource', { displayName: props.description, enforceSSL: true });
    const external: cloudwatch.IAlarmAction[] = [];
    props.notifications.forEach((target, i) => {
      if ('email' in target) this.topic.addSubscription(new subscriptions.EmailSubscription(target.email));
      else external.push(new cloudwatchActions.SnsAction(sns.Topic.fromTopicArn(this, `Existing${i}`, target.topicArn)));
    });
    this.actions = [new cloudwatchActions.SnsAction(this.topic), ...external];
  }

  /** Makes `alarm` notify this topic (and the existing ones) on ALARM and on OK. */
  notify(alarm: cloudwatch.Alarm): void {
    alarm.addAlarmAction(...this.actions);
    alarm.addOkAction(...this.actions);
  }
}

export interface RegionAlarmsProps {
  /** Short region name, used in alarm descriptions. */
  readonly regionName: string;
  readonly notifications: readonly AlarmNotification[];
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly service: ecs.FargateService;
  /** The region's database while it serves as a read replica (the region is not home). */
  readonly replica?: rds.IDatabaseInstance;
  /** Replication group id of the region's Redis and its node count (members `<id>-001`, ...). */
  readonly lockCache: { readonly replicationGroupId: string; readonly nodeCount: number };
  readonly sourceBucketName: string;
  readonly outgoingReplication: readonly OutgoingReplication[];
  /**
   * 5xx answers within 5 minutes that raise an alarm.
   * @default 10
   */
  readonly max5xxPer5Min?: number;
  /**
   * Share of requests answered 5xx by the nodes (percent, over 5 minutes) that raises an alarm.
   * @default 5
   */
  readonly max5xxPercent?: number;
  /**
   * Replica lag that raises an alarm.
   * @default 60
   */
  readonly maxReplicaLagSec?: number;
  /**
   * Objects waiting to replicate to one region that raise an alarm (held for 15 minutes).
   * @default 1000
   */
  readonly maxPendingReplicationOperations?: number;
}

export class RegionAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly topic: AlarmTopic;

  constructor(scope: Construct, id: string, props: RegionAlarmsProps) {
    super(scope, id);
    this.topic = new AlarmTopic(this, 'Topic', { description: `geo-callfs region ${props.regionName} alarms`, notifications: props.notifications });
    const fiveMinutes = Duration.minutes(5);
    const max5xx = props.max5xxPer5Min ?? 10;
    this.add('LoadBalancer5xx', {
      alarmDescription: `region ${props.regionName}: the load balancer answered 5xx itself (no healthy node, timeouts)`,
      metric: props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      threshold: max5xx,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const node5xx = props.targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: fiveMinutes, statistic: cloudwatch.Stats.SUM });
    this.add('Node5xx', {
      alarmDescription: `region ${props.regionName}: nodes answered 5xx`,
      metric: node5xx,
      threshold: max5xx,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.add('Node5xxRate', {
      alarmDescription: `region ${props.regionName}: more than ${props.max5xxPercent ?? 5} % of requests answered 5xx by the nodes`,
      metric: new cloudwatch.MathExpression({
        expression: '100 * errors / MAX([requests, 1])',
        usingMetrics: { errors: node5xx, requests: props.targetGroup.metrics.requestCount({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }) },
        period: fiveMinutes,
        label: 'node 5xx (% of requests)',
      }),
      threshold: props.max5xxPercent ?? 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.add('UnhealthyNodes', {
      alarmDescription: `region ${props.regionName}: at least one node fails the load balancer's health check`,
      metric: props.targetGroup.metrics.unhealthyHostCount({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.add('NoHealthyNode', {
      alarmDescription: `region ${props.regionName}: no node passes the load balancer's health check`,
      metric: props.targetGroup.metrics.healthyHostCount({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MINIMUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    // Container Insights publishes both counts per service; the alarm fires when tasks keep failing to start.
    const taskCount = (metricName: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensionsMap: { ClusterName: props.service.cluster.clusterName, ServiceName: props.service.serviceName },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MINIMUM,
      });
    this.add('TasksBelowDesired', {
      alarmDescription: `region ${props.regionName}: fewer node tasks are running than the service wants`,
      metric: new cloudwatch.MathExpression({
        expression: 'desired - running',
        usingMetrics: { desired: taskCount('DesiredTaskCount'), running: taskCount('RunningTaskCount') },
        period: Duration.minutes(1),
        label: 'tasks missing',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 10,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (props.replica !== undefined) {
      this.add('ReplicaLag', {
        alarmDescription: `region ${props.regionName}: the Postgres read replica lags the primary`,
        metric: props.replica.metric('ReplicaLag', { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: props.maxReplicaLagSec ?? 60,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }
    for (let i = 1; i <= props.lockCache.nodeCount; i++) {
      const member = `${props.lockCache.replicationGroupId}-${String(i).padStart(3, '0')}`;
      const cacheMetric = (metricName: string): cloudwatch.Metric =>
        new cloudwatch.Metric({ namespace: 'AWS/ElastiCache', metricName, dimensionsMap: { CacheClusterId: member }, period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM });
      this.add(`LockCacheCpu-${i}`, {
        alarmDescription: `region ${props.regionName}: Redis ${member} engine CPU above 80 %`,
        metric: cacheMetric('EngineCPUUtilization'),
        threshold: 80,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.add(`LockCacheMemory-${i}`, {
        alarmDescription: `region ${props.regionName}: Redis ${member} memory above 80 %`,
        metric: cacheMetric('DatabaseMemoryUsagePercentage'),
        threshold: 80,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    this.add('LockCacheReplicationLag', {
      alarmDescription: `region ${props.regionName}: the Redis replica lags its primary by more than 5 s`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/ElastiCache',
        metricName: 'ReplicationLag',
        dimensionsMap: { CacheClusterId: `${props.lockCache.replicationGroupId}-002` },
        period: fiveMinutes,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const rule of props.outgoingReplication) {
      const dimensionsMap = { SourceBucket: props.sourceBucketName, DestinationBucket: rule.destinationBucketName, RuleId: rule.ruleId };
      const s3Metric = (metricName: string, statistic: string): cloudwatch.Metric => new cloudwatch.Metric({ namespace: 'AWS/S3', metricName, dimensionsMap, period: fiveMinutes, statistic });
      this.add(`ReplicationLatency-${rule.peer}`, {
        alarmDescription: `region ${props.regionName}: objects take longer than the 15-minute RTC threshold to reach ${rule.peer}`,
        metric: s3Metric('ReplicationLatency', cloudwatch.Stats.MAXIMUM),
        threshold: 900,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.add(`ReplicationPending-${rule.peer}`, {
        alarmDescription: `region ${props.regionName}: objects keep piling up waiting to replicate to ${rule.peer}`,
        metric: s3Metric('OperationsPendingReplication', cloudwatch.Stats.MAXIMUM),
        threshold: props.maxPendingReplicationOperations ?? 1000,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.add(`ReplicationFailures-${rule.peer}`, {
        alarmDescription: `region ${props.regionName}: objects failed to replicate to ${rule.peer}`,
        metric: s3Metric('OperationsFailedReplication', cloudwatch.Stats.SUM),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }

  private add(id: string, props: cloudwatch.AlarmProps): void {
    const alarm = new cloudwatch.Alarm(this, id, props);
    this.topic.notify(alarm);
    this.alarms.push(alarm);
  }
}
