import { SecretValue } from 'aws-cdk-lib';
import { Template, Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { MetadataDatabase, type BackupReplication, type MetadataDatabaseSource } from '../../infra/constructs/metadata-database.js';
import { ACCOUNT, bareStack, resourcesOf } from './support.js';

const PASSWORD = SecretValue.secretsManager('geo-callfs/metadata-db', { jsonField: 'password' });

function build(source: MetadataDatabaseSource, region: string, deletionProtection = true, backupReplication?: BackupReplication): Template {
  const { stack, vpc } = bareStack(region);
  const db = new MetadataDatabase(stack, 'Db', {
    vpc,
    source,
    instanceIdentifier: `meta-${region}`,
    keyAlias: `alias/meta-${region}`,
    ...(backupReplication === undefined ? {} : { backupReplication }),
    instanceType: new ec2.InstanceType('r6g.large'),
    deletionProtection,
    logRetention: logs.RetentionDays.ONE_MONTH,
  });
  db.allowFrom(ec2.Peer.ipv4('10.20.0.0/16'), 'nodes of another region');
  return Template.fromStack(stack);
}

describe('MetadataDatabase, home region (primary)', () => {
  const backups = { awsRegion: 'us-east-1', kmsKeyArn: `arn:aws:kms:us-east-1:${ACCOUNT}:alias/meta-us-east-1`, retentionDays: 7 };
  const t = build({ kind: 'primary', masterPassword: PASSWORD }, 'eu-west-1', true, backups);

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

  it('takes its password from the shared secret by dynamic reference, never a literal, and creates no secret itself', () => {
    const [, instance] = resourcesOf(t, 'AWS::RDS::DBInstance')[0] ?? [];
    expect(instance?.Properties.MasterUserPassword).toBe('{{resolve:secretsmanager:geo-callfs/metadata-db:SecretString:password::}}');
    expect(instance?.Properties.MasterUsername).toBe('callfs');
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });

  it('replicates its automated backups to the region it is told, encrypted with that region\'s key', () => {
    t.hasResourceProperties('AWS::RDS::DBInstance', {
      AutomaticBackupReplicationRegion: 'us-east-1',
      AutomaticBackupReplicationKmsKeyId: `arn:aws:kms:us-east-1:${ACCOUNT}:alias/meta-us-east-1`,
      AutomaticBackupReplicationRetentionPeriod: 7,
    });
    t.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/meta-eu-west-1' });
  });

  it('admits only the peers it is told about, never the internet', () => {
    const groups = JSON.stringify(resourcesOf(t, 'AWS::EC2::SecurityGroup').map(([, r]) => r.Properties.SecurityGroupIngress ?? []));
    expect(groups).toContain('10.20.0.0/16');
    expect(groups).not.toContain('0.0.0.0/0');
  });

  it('can be deleted outside production stages', () => {
    build({ kind: 'primary', masterPassword: PASSWORD }, 'eu-west-1', false).hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: false });
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

  it('creates no credentials of its own and replicates no backups unless told to', () => {
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    t.hasResourceProperties('AWS::RDS::DBInstance', { AutomaticBackupReplicationRegion: Match.absent() });
  });
});
