/**
 * @module RegionAlarms: the CloudWatch alarms of one region: 5xx answers of the load balancer
 * and of the nodes, unhealthy or missing targets, the read replica's lag behind the primary, and
 * per outgoing bucket replication rule its latency (above the 15-minute RTC threshold) and failed
 * operations. Alarms carry no actions here: drills, ARC and operators read their state; wire
 * notifications to them as the team prefers.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import type { OutgoingReplication } from './replicated-bucket.js';

export interface RegionAlarmsProps {
  /** Short region name, used in alarm descriptions. */
  readonly regionName: string;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  /** The region's read replica, when the region is not the home. */
  readonly replica?: rds.IDatabaseInstance;
  readonly sourceBucketName: string;
  readonly outgoingReplication: readonly OutgoingReplication[];
  /**
   * 5xx answers within 5 minutes that raise an alarm.
   * @default 10
   */
  readonly max5xxPer5Min?: number;
  /**
   * Replica lag that raises an alarm.
   * @default 60
   */
  readonly maxReplicaLagSec?: number;
}

export class RegionAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: RegionAlarmsProps) {
    super(scope, id);
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
    this.add('Node5xx', {
      alarmDescription: `region ${props.regionName}: nodes answered 5xx`,
      metric: props.targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      threshold: max5xx,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
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
    for (const rule of props.outgoingReplication) {
      const dimensionsMap = { SourceBucket: props.sourceBucketName, DestinationBucket: rule.destinationBucketName, RuleId: rule.ruleId };
      this.add(`ReplicationLatency-${rule.peer}`, {
        alarmDescription: `region ${props.regionName}: objects take longer than the 15-minute RTC threshold to reach ${rule.peer}`,
        metric: new cloudwatch.Metric({ namespace: 'AWS/S3', metricName: 'ReplicationLatency', dimensionsMap, period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 900,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.add(`ReplicationFailures-${rule.peer}`, {
        alarmDescription: `region ${props.regionName}: objects failed to replicate to ${rule.peer}`,
        metric: new cloudwatch.Metric({ namespace: 'AWS/S3', metricName: 'OperationsFailedReplication', dimensionsMap, period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }

  private add(id: string, props: cloudwatch.AlarmProps): void {
    this.alarms.push(new cloudwatch.Alarm(this, id, props));
  }
}
