/**
 * @module MetadataDatabase: a region's RDS for PostgreSQL, declared by how it was created and
 * never by its current role, so that a promotion (done by the drills, outside CloudFormation)
 * never makes a later deploy replace it. Created as the primary: Multi-AZ, encrypted with its own
 * KMS key, automated backups, master password from the shared secret. Created as a replica: a
 * cross-region read replica of the named region's database, found by its deterministic
 * identifier, encrypted with a key of its own region. The one role-dependent setting, the
 * cross-region replication of automated backups, changes in place. Either way it sits in
 * isolated subnets, is not publicly accessible, refuses connections without TLS, and ships its
 * logs to a log group with a retention.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations, type SecretValue } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { acknowledge } from '../aspects/nag.js';
import { DATABASE_NAME, DATABASE_PORT, DATABASE_USER } from '../config/names.js';

export const POSTGRES_ENGINE = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 });

export type MetadataDatabaseSource =
  /** Created as the primary, with the master password of the shared credentials secret. */
  | { readonly kind: 'primary'; readonly masterPassword: SecretValue }
  /** Created as a read replica of the database named `sourceIdentifier` in `sourceRegion`. */
  | { readonly kind: 'replica'; readonly sourceIdentifier: string; readonly sourceRegion: string };

/** Where the current primary's automated backups are copied (another region, its own key). */
export interface BackupReplication {
  readonly awsRegion: string;
  /** ARN of the destination key (an alias ARN: `databaseKeyAlias` of the destination region). */
  readonly kmsKeyArn: string;
  readonly retentionDays: number;
}

export interface MetadataDatabaseProps {
  readonly vpc: ec2.IVpc;
  readonly source: MetadataDatabaseSource;
  /** Deterministic instance identifier (the replicas of other regions name their source by it). */
  readonly instanceIdentifier: string;
  /** Alias given to the storage key, so other regions can name it (`databaseKeyAlias`). */
  readonly keyAlias: string;
  /** Set on the region that is home now: its automated backups are replicated there. */
  readonly backupReplication?: BackupReplication;
  readonly instanceType: ec2.InstanceType;
  /** On for production stages: the instance cannot be deleted until it is turned off. */
  readonly deletionProtection: boolean;
  readonly logRetention: logs.RetentionDays;
  /**
   * Days of automated backups of the primary (replicas have none until promoted).
   * @default 14
   */
  readonly backupRetentionDays?: number;
}

export class MetadataDatabase extends Construct {
  readonly instance: rds.DatabaseInstanceBase;
  readonly securityGroup: ec2.SecurityGroup;
  readonly encryptionKey: kms.Key;
  readonly endpointAddress: string;
  /** True when the instance was created as a read replica (its current role may differ). */
  readonly createdAsReplica: boolean;

  constructor(scope: Construct, id: string, props: MetadataDatabaseProps) {
    super(scope, id);
    this.createdAsReplica = props.source.kind === 'replica';
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `Postgres ${props.instanceIdentifier}: reachable only from the nodes`,
      allowAllOutbound: false,
    });
    this.encryptionKey = new kms.Key(this, 'StorageKey', {
      description: `Storage encryption of ${props.instanceIdentifier}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      alias: props.keyAlias,
    });
    // Created up front with a retention, so RDS does not create it without one.
    const logGroup = new logs.LogGroup(this, 'PostgresLogs', {
      logGroupName: `/aws/rds/instance/${props.instanceIdentifier}/postgresql`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine: POSTGRES_ENGINE,
      description: 'geo-callfs metadata: TLS required, slow statements logged',
      parameters: { 'rds.force_ssl': '1', log_min_duration_statement: '1000' },
    });
    const common = {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.securityGroup],
      instanceIdentifier: props.instanceIdentifier,
      instanceType: props.instanceType,
      port: DATABASE_PORT,
      multiAz: true,
      publiclyAccessible: false,
      storageEncrypted: true,
      storageEncryptionKey: this.encryptionKey,
      storageType: rds.StorageType.GP3,
      deletionProtection: props.deletionProtection,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      autoMinorVersionUpgrade: true,
      parameterGroup,
      cloudwatchLogsExports: ['postgresql'],
      caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
    } satisfies Partial<rds.DatabaseInstanceProps>;

    if (props.source.kind === 'primary') {
      const primary = new rds.DatabaseInstance(this, 'Resource', {
        ...common,
        engine: POSTGRES_ENGINE,
        databaseName: DATABASE_NAME,
        backupRetention: Duration.days(props.backupRetentionDays ?? 14),
        allocatedStorage: 100,
        maxAllocatedStorage: 1000,
        // The shared secret (SecretsStack) holds the password; this is a dynamic reference to it.
        credentials: rds.Credentials.fromPassword(DATABASE_USER, props.source.masterPassword),
      });
      this.instance = primary;
    } else {
      const sourceArn = Stack.of(this).formatArn({
        service: 'rds',
        region: props.source.sourceRegion,
        resource: 'db',
        resourceName: props.source.sourceIdentifier,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      // Only the engine and the identifier of this import are used; the endpoint is required by
      // the import but never rendered (the nodes learn the real one from SSM).
      const source = rds.DatabaseInstance.fromDatabaseInstanceAttributes(this, 'Source', {
        instanceIdentifier: props.source.sourceIdentifier,
        instanceEndpointAddress: 'unused.invalid',
        port: DATABASE_PORT,
        securityGroups: [],
        engine: POSTGRES_ENGINE,
      });
      const replica = new rds.DatabaseInstanceReadReplica(this, 'Resource', { ...common, sourceDatabaseInstance: source });
      acknowledge(
        replica,
        'RDS13',
        'RDS for PostgreSQL read replicas take no automated backups; the primary is backed up, and promoting this replica (the failover drill) turns backups on',
      );
      // An imported instance's ARN carries this stack's region; the replica needs the source's.
      const cfn = replica.node.defaultChild as rds.CfnDBInstance;
      cfn.sourceDbInstanceIdentifier = sourceArn;
      cfn.sourceRegion = props.source.sourceRegion;
      Validations.of(cfn).acknowledge({
        id: 'CloudFormation-Validate::F3020',
        reason: 'aws-cdk-lib renders StorageEncrypted on read replicas and RDS accepts it; the replica is encrypted with KmsKeyId, a key of its own region',
      });
      this.instance = replica;
    }
    if (props.backupReplication !== undefined) {
      const cfn = this.instance.node.defaultChild as rds.CfnDBInstance;
      cfn.automaticBackupReplicationRegion = props.backupReplication.awsRegion;
      cfn.automaticBackupReplicationKmsKeyId = props.backupReplication.kmsKeyArn;
      cfn.automaticBackupReplicationRetentionPeriod = props.backupReplication.retentionDays;
    }
    if (!props.deletionProtection) {
      acknowledge(
        this.instance,
        'RDS10',
        'deletion protection is off only for non-production stages (context stage), whose databases are meant to be torn down with their stack; the removal policy still takes a final snapshot',
      );
    }
    this.instance.node.addDependency(logGroup);
    acknowledge(
      this.instance,
      'RDS11',
      'the standard Postgres port is kept: the instance has no public address and its security group admits only the nodes, so another port would hide nothing',
    );
    this.endpointAddress = this.instance.dbInstanceEndpointAddress;
  }

  /** Lets `peer` connect on the database port. */
  allowFrom(peer: ec2.IPeer, description: string): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(DATABASE_PORT), description);
  }
}
