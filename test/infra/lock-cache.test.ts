import { SecretValue } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { LockCache } from '../../infra/constructs/lock-cache.js';
import { bareStack, resourcesOf } from './support.js';

describe('LockCache', () => {
  const { stack, vpc } = bareStack();
  new LockCache(stack, 'Locks', {
    vpc,
    replicationGroupId: 'locks-eu',
    nodeType: 'cache.r6g.large',
    authToken: SecretValue.secretsManager('geo-callfs/lock-cache-token'),
    logRetention: logs.RetentionDays.ONE_MONTH,
  });
  const t = Template.fromStack(stack);

  it('is a replication group with automatic failover across zones, encrypted at rest and in transit', () => {
    t.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      ReplicationGroupId: 'locks-eu',
      Engine: 'redis',
      NumCacheClusters: 2,
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
      AtRestEncryptionEnabled: true,
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
    });
  });

  it('takes its AUTH token from Secrets Manager, not from the template', () => {
    const [, group] = resourcesOf(t, 'AWS::ElastiCache::ReplicationGroup')[0] ?? [];
    expect(group?.Properties.AuthToken).toBe('{{resolve:secretsmanager:geo-callfs/lock-cache-token:SecretString:::}}');
  });

  it('sits in the isolated subnets, reachable from no one until a peer is allowed', () => {
    const [, subnets] = resourcesOf(t, 'AWS::ElastiCache::SubnetGroup')[0] ?? [];
    expect(JSON.stringify(subnets?.Properties.SubnetIds)).toMatch(/DataSubnet/);
    expect(JSON.stringify(subnets?.Properties.SubnetIds)).not.toMatch(/PublicSubnet|NodesSubnet/);
    const [, group] = resourcesOf(t, 'AWS::EC2::SecurityGroup')[0] ?? [];
    expect(group?.Properties.SecurityGroupIngress).toBeUndefined();
  });

  it('ships its slow log to a log group with a retention', () => {
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('refuses a replication group id ElastiCache would reject', () => {
    const other = bareStack();
    expect(() => new LockCache(other.stack, 'L', { vpc: other.vpc, replicationGroupId: 'x'.repeat(41), nodeType: 'cache.t4g.small', authToken: SecretValue.unsafePlainText('unused-in-this-test'), logRetention: logs.RetentionDays.ONE_DAY })).toThrow(/longer than 40/);
  });
});
