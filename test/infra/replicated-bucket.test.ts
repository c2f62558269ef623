import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { ReplicatedBucket } from '../../infra/constructs/replicated-bucket.js';
import { bareStack, resourcesOf } from './support.js';

const peers = [
  { name: 'us', bucketName: 'files-us', awsRegion: 'us-east-1' },
  { name: 'ap', bucketName: 'files-ap', awsRegion: 'ap-southeast-1' },
];

function build(replicationEnabled = true): Template {
  const { stack } = bareStack();
  const logs = new s3.Bucket(stack, 'Logs');
  new ReplicatedBucket(stack, 'Bucket', { bucketName: 'files-eu', peers, replicationEnabled, accessLogBucket: logs });
  return Template.fromStack(stack);
}

describe('ReplicatedBucket', () => {
  const t = build();

  it('is versioned, encrypted, closed to the public and access-logged', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'files-eu',
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 's3/files-eu/' }),
    });
  });

  it('refuses requests without TLS 1.2 or later', () => {
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^Bucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('replicates to every peer with RTC, metrics, delete markers and replica modification sync', () => {
    const [, bucket] = resourcesOf(t, 'AWS::S3::Bucket').find(([, r]) => r.Properties.BucketName === 'files-eu') ?? [];
    const config = bucket?.Properties.ReplicationConfiguration as { Role: unknown; Rules: Array<Record<string, unknown>> };
    expect(config.Role).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^BucketReplicationRole/), 'Arn'] });
    expect(config.Rules).toHaveLength(2);
    peers.forEach((peer, priority) => {
      expect(config.Rules[priority]).toEqual({
        Id: `to-${peer.name}`,
        Priority: priority,
        Status: 'Enabled',
        Filter: { Prefix: '' },
        Destination: {
          Bucket: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${peer.bucketName}`]] },
          ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
          Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
        },
        DeleteMarkerReplication: { Status: 'Enabled' },
        SourceSelectionCriteria: { ReplicaModifications: { Status: 'Enabled' } },
      });
    });
  });

  it('gives the replication role exactly the replication actions on the source and each destination', () => {
    t.hasResourceProperties('AWS::IAM::Role', { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 's3.amazonaws.com' } })] } });
    const policy = JSON.stringify(resourcesOf(t, 'AWS::IAM::Policy').map(([, r]) => r.Properties.PolicyDocument));
    for (const peer of peers) expect(policy).toContain(`:s3:::${peer.bucketName}/*`);
    expect(policy).toMatch(/s3:ReplicateObject/);
    expect(policy).toMatch(/s3:GetObjectVersionForReplication/);
    expect(policy).not.toMatch(/"s3:\*"/);
  });

  it('has neither rules nor role when replication is off (first rollout)', () => {
    const off = build(false);
    expect(resourcesOf(off, 'AWS::S3::Bucket').every(([, r]) => r.Properties.ReplicationConfiguration === undefined)).toBe(true);
    off.resourceCountIs('AWS::IAM::Role', 0);
  });
});
