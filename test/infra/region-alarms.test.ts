import { Template } from 'aws-cdk-lib/assertions';
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
  const replica = rds.DatabaseInstance.fromDatabaseInstanceAttributes(stack, 'Replica', { instanceIdentifier: 'meta-us', instanceEndpointAddress: 'x', port: 5432, securityGroups: [] });
  new RegionAlarms(stack, 'Alarms', {
    regionName: 'us',
    loadBalancer,
    targetGroup,
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
    }
    t.resourceCountIs('AWS::CloudWatch::Alarm', 5 + 4);
  });

  it('has no replica-lag alarm in the home region', () => {
    expect(metricsOf(build(false))).not.toContain('ReplicaLag');
  });
});
