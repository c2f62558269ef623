import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { describe, expect, it } from 'vitest';
import { RegionAlarms } from '../../infra/constructs/region-alarms.js';
import { bareStack, resourcesOf } from './support.js';

function build(withReplica: boolean): Template {
  const { stack, vpc } = bareStack('us-east-1');
  const loadBalancer = new elbv2.ApplicationLoadBalancer(stack, 'Lb', { vpc });
  const targetGroup = new elbv2.ApplicationTargetGroup(stack, 'Tg', { vpc, port: 8080, targetType: elbv2.TargetType.IP });
  loadBalancer.addListener('L', { port: 80, defaultTargetGroups: [targetGroup] });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const task = new ecs.FargateTaskDefinition(stack, 'Task');
  task.addContainer('node', { image: ecs.ContainerImage.fromRegistry('node:test') });
  const service = new ecs.FargateService(stack, 'Service', { cluster, taskDefinition: task });
  const replica = rds.DatabaseInstance.fromDatabaseInstanceAttributes(stack, 'Replica', { instanceIdentifier: 'meta-us', instanceEndpointAddress: 'x', port: 5432, securityGroups: [] });
  new RegionAlarms(stack, 'Alarms', {
    regionName: 'us',
    notifications: [{ email: 'oncall@example.com' }, { topicArn: 'arn:aws:sns:us-east-1:123456789012:pager' }],
    loadBalancer,
    targetGroup,
    service,
    lockCache: { replicationGroupId: 'locks-us', nodeCount: 2 },
    replica: withReplica ? replica : undefined,
    sourceBucketName: 'files-us',
    outgoingReplication: [
      { peer: 'eu', ruleId: 'to-eu', destinationBucketName: 'files-eu' },
      { peer: 'ap', ruleId: 'to-ap', destinationBucketName: 'files-ap' },
    ],
  });
  return Template.fromStack(stack);
}

const metricsOf = (t: Template) => resourcesOf(t, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties.MetricName);

describe('RegionAlarms', () => {
  const t = build(true);

  it('watches load balancer and node 5xx, unhealthy and missing targets, and the replica lag', () => {
    expect(metricsOf(t)).toEqual(expect.arrayContaining(['HTTPCode_ELB_5XX_Count', 'HTTPCode_Target_5XX_Count', 'UnHealthyHostCount', 'HealthyHostCount', 'ReplicaLag']));
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ReplicaLag', Namespace: 'AWS/RDS', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'meta-us' }], Threshold: 60 });
  });

  it('watches replication latency and failures per outgoing rule', () => {
    for (const peer of ['eu', 'ap']) {
      const dimensions = [
        { Name: 'DestinationBucket', Value: `files-${peer}` },
        { Name: 'RuleId', Value: `to-${peer}` },
        { Name: 'SourceBucket', Value: 'files-us' },
      ];
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'ReplicationLatency', Dimensions: dimensions, Threshold: 900 });
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'OperationsFailedReplication', Dimensions: dimensions });
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'OperationsPendingReplication', Dimensions: dimensions, Threshold: 1000 });
    }
  });

  it('watches the lock cache: engine CPU and memory of each member, and the replica\'s lag', () => {
    for (const member of ['locks-us-001', 'locks-us-002']) {
      for (const metric of ['EngineCPUUtilization', 'DatabaseMemoryUsagePercentage']) {
        t.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/ElastiCache', MetricName: metric, Dimensions: [{ Name: 'CacheClusterId', Value: member }] });
      }
    }
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/ElastiCache', MetricName: 'ReplicationLag', Dimensions: [{ Name: 'CacheClusterId', Value: 'locks-us-002' }] });
  });

  it('watches running tasks against desired ones and the 5xx share of requests (metric math)', () => {
    const expressions = resourcesOf(t, 'AWS::CloudWatch::Alarm').flatMap(([, r]) => ((r.Properties.Metrics as Array<{ Expression?: string; MetricStat?: { Metric: { MetricName: string } } }> | undefined) ?? []));
    expect(expressions.map((m) => m.Expression).filter(Boolean)).toEqual(expect.arrayContaining(['desired - running', '100 * errors / MAX([requests, 1])']));
    expect(expressions.map((m) => m.MetricStat?.Metric.MetricName).filter(Boolean)).toEqual(expect.arrayContaining(['DesiredTaskCount', 'RunningTaskCount', 'RequestCount', 'HTTPCode_Target_5XX_Count']));
  });

  it('sends every alarm and its all-clear to the region topic and to the existing topic, and subscribes the e-mail', () => {
    const alarms = resourcesOf(t, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBe(7 + 5 + 3 * 2);
    const [topicId] = Object.keys(t.findResources('AWS::SNS::Topic'));
    for (const [id, alarm] of alarms) {
      for (const key of ['AlarmActions', 'OKActions']) {
        expect([id, key, alarm.Properties[key]]).toEqual([id, key, [{ Ref: topicId }, 'arn:aws:sns:us-east-1:123456789012:pager']]);
      }
    }
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topicId } });
  });

  it('has no replica-lag alarm in the home region', () => {
    expect(metricsOf(build(false))).not.toContain('ReplicaLag');
  });
});
