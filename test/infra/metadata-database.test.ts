import { Template, Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { MetadataDatabase, type MetadataDatabaseSource } from '../../infra/constructs/metadata-database.js';
import { ACCOUNT, bareStack, resourcesOf } from './support.js';

function build(source: MetadataDatabaseSource, region: string, deletionProtection = true): Template {
  const { stack, vpc } = bareStack(region);
  const db = new MetadataDatabase(stack, 'Db', {
    vpc,
    source,
    instanceIdentifier: `meta-${region}`,
    instanceType: new ec2.InstanceType('r6g.large'),
    deletionProtection,
    logRetention: logs.RetentionDays.ONE_MONTH,
  });
  db.allowFrom(ec2.Peer.ipv4('10.20.0.0/16'), 'nodes of another region');
  return Template.fromStack(stack);
}

describe('MetadataDatabase, home region (primary)', () => {
  const t = build({ kind: 'primary', replicaRegions: ['us-east-1', 'ap-southeast-1'] }, 'eu-west-1');

  it('is a Multi-AZ, encrypted, backed-up, deletion-protected Postgres that is not publicly accessible', () => {
    t.hasResourceProperties('AWS::RDS::DBInstance', {
      DBInstanceIdentifier: 'meta-eu-west-1',
      Engine: 'postgres',
      MultiAZ: true,
      StorageEncrypted: true,
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbStorageKey'), 'Arn'] },
      BackupRetentionPeriod: 14,
      DeletionProtection: true,
      PubliclyAccessible: false,
      DBName: 'callfs',
      EnableCloudwatchLogsExports: ['postgresql'],
    });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('lives in the isolated Data subnets only', () => {
    const [, group] = resourcesOf(t, 'AWS::RDS::DBSubnetGroup')[0] ?? [];
    expect(JSON.stringify(group?.Properties.SubnetIds)).toMatch(/DataSubnet/);
    expect(JSON.stringify(group?.Properties.SubnetIds)).not.toMatch(/PublicSubnet|NodesSubnet/);
  });

  it('requires TLS from its clients', () => {
    t.hasResourceProperties('AWS::RDS::DBParameterGroup', { Parameters: Match.objectLike({ 'rds.force_ssl': '1' }) });
  });

  it('takes its password from a generated secret replicated to the other regions, never a literal', () => {
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'geo-callfs/metadata-db',
      ReplicaRegions: [{ Region: 'us-east-1' }, { Region: 'ap-southeast-1' }],
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password' }),
    });
    const [, instance] = resourcesOf(t, 'AWS::RDS::DBInstance')[0] ?? [];
    expect(JSON.stringify(instance?.Properties.MasterUserPassword)).toMatch(/resolve:secretsmanager:/);
  });

  it('admits only the peers it is told about, never the internet', () => {
    const groups = JSON.stringify(resourcesOf(t, 'AWS::EC2::SecurityGroup').map(([, r]) => r.Properties.SecurityGroupIngress ?? []));
    expect(groups).toContain('10.20.0.0/16');
    expect(groups).not.toContain('0.0.0.0/0');
  });

  it('can be deleted outside production stages', () => {
    build({ kind: 'primary', replicaRegions: [] }, 'eu-west-1', false).hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: false });
  });
});

describe('MetadataDatabase, other regions (cross-region replica)', () => {
  const t = build({ kind: 'replica', sourceIdentifier: 'meta-home', sourceRegion: 'eu-west-1' }, 'us-east-1');

  it('replicates the primary named by its identifier in the home region, encrypted with a key of its own region', () => {
    t.hasResourceProperties('AWS::RDS::DBInstance', {
      DBInstanceIdentifier: 'meta-us-east-1',
      SourceDBInstanceIdentifier: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:rds:eu-west-1:${ACCOUNT}:db:meta-home`]] },
      SourceRegion: 'eu-west-1',
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbStorageKey'), 'Arn'] },
      MultiAZ: true,
      PubliclyAccessible: false,
      MasterUsername: Match.absent(),
      MasterUserPassword: Match.absent(),
    });
  });

  it('creates no credentials of its own: the nodes read the home secret\'s replica', () => {
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });
});
