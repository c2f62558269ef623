/**
 * @module LatencyRecord: one region's answer for the global hostname. A Route 53 latency record
 * (the region's AWS region and a set identifier) aliasing the region's own hostname with target
 * health evaluated, tied to an HTTPS health check of that hostname's health path, so a region
 * failing its checks drops out of the answers. An alarm on the check's status (us-east-1, where
 * Route 53 publishes the metric) makes the drop visible.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';

export interface LatencyRecordProps {
  readonly zone: route53.IHostedZone;
  /** The name users call, e.g. files.example.com. */
  readonly globalHostname: string;
  /** The region's own hostname, e.g. eu.files.example.com (a record in the same zone). */
  readonly regionHostname: string;
  /** AWS region Route 53 measures latency to. */
  readonly awsRegion: string;
  /** Set identifier of the record: the region's short name. */
  readonly setIdentifier: string;
  readonly healthCheckPath: string;
  /**
   * Seconds between two probes of one checker (10 or 30).
   * @default 10
   */
  readonly requestIntervalSec?: 10 | 30;
  /**
   * Consecutive failures before a checker calls the region unhealthy.
   * @default 3
   */
  readonly failureThreshold?: number;
}

/** An alias to another record of the same hosted zone. */
class SameZoneAlias implements route53.IAliasRecordTarget {
  constructor(
    private readonly zone: route53.IHostedZone,
    private readonly dnsName: string,
  ) {}

  bind(): route53.AliasRecordTargetConfig {
    return { hostedZoneId: this.zone.hostedZoneId, dnsName: `${this.dnsName}.`, evaluateTargetHealth: true };
  }
}

export class LatencyRecord extends Construct {
  readonly healthCheck: route53.HealthCheck;
  readonly record: route53.ARecord;
  readonly healthAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: LatencyRecordProps) {
    super(scope, id);
    this.healthCheck = new route53.HealthCheck(this, 'HealthCheck', {
      type: route53.HealthCheckType.HTTPS,
      fqdn: props.regionHostname,
      port: 443,
      resourcePath: props.healthCheckPath,
      enableSNI: true,
      requestInterval: Duration.seconds(props.requestIntervalSec ?? 10),
      failureThreshold: props.failureThreshold ?? 3,
    });
    this.record = new route53.ARecord(this, 'Record', {
      zone: props.zone,
      recordName: `${props.globalHostname}.`,
      region: props.awsRegion,
      setIdentifier: props.setIdentifier,
      healthCheck: this.healthCheck,
      target: route53.RecordTarget.fromAlias(new SameZoneAlias(props.zone, props.regionHostname)),
    });
    this.healthAlarm = new cloudwatch.Alarm(this, 'Unhealthy', {
      alarmDescription: `${props.regionHostname}${props.healthCheckPath} fails the Route 53 health check: the region is out of the answers for ${props.globalHostname}`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Route53',
        metricName: 'HealthCheckStatus',
        dimensionsMap: { HealthCheckId: this.healthCheck.healthCheckId },
        statistic: cloudwatch.Stats.MINIMUM,
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
