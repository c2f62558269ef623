/**
 * @module MetadataDatabase: a region's RDS for PostgreSQL. In the home region it is the primary
 * (Multi-AZ, encrypted with its own KMS key, automated backups, credentials generated into a
 * secret that Secrets Manager replicates to the other regions); elsewhere it is a cross-region
 * read replica of that primary, found by its deterministic identifier, encrypted with a key of
 * its own region. Either way it sits in isolated subnets, is not publicly accessible, refuses
 * connections without TLS, and ships its logs to a log group with a retention.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from '../aspects/nag.js';
import { DATABASE_NAME, DATABASE_PORT, DATABASE_USER, SECRET_NAMES } from '../config/names.js';

export const POSTGRES_ENGINE = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 });

export type MetadataDatabaseSource =
  /** This region holds the primary; its credentials are replicated to `replicaRegions`. */
  | { readonly kind: 'primary'; readonly replicaRegions: readonly string[] }
  /** This region holds a read replica of the primary named `sourceIdentifier` in `sourceRegion`. */
  | { readonly kind: 'replica'; readonly sourceIdentifier: string; readonly sourceRegion: string };

export interface MetadataDatabaseProps {
  readonly vpc: ec2.IVpc;
  readonly source: MetadataDatabaseSource;
  /** Deterministic instance identifier (the replicas of other regions name their source by it). */
  readonly instanceIdentifier: string;
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
  /** The secret holding `username` and `password` (the home region's, or its local replica). */
  readonly credentials: secretsmanager.ISecret;
  readonly encryptionKey: kms.Key;
  readonly endpointAddress: string;
  readonly isReplica: boolean;

  constructor(scope: Construct, id: string, props: MetadataDatabaseProps) {
    super(scope, id);
    this.isReplica = props.source.kind === 'replica';
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `Postgres ${props.instanceIdentifier}: reachable only from the nodes`,
      allowAllOutbound: false,
    });
    this.encryptionKey = new kms.Key(this, 'StorageKey', {
      description: `Storage encryption of ${props.instanceIdentifier}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
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
        credentials: rds.Credentials.fromGeneratedSecret(DATABASE_USER, {
          secretName: SECRET_NAMES.databaseCredentials,
          // Every region's nodes read the password from their own region.
          replicaRegions: props.source.replicaRegions.map((region) => ({ region })),
          excludeCharacters: ' %+~`#$&*()|[]{}:;<>?!\'/@"\\',
        }),
      });
      if (primary.secret === undefined) throw new Error('metadata database: the generated credentials secret is missing');
      acknowledge(
        primary.node.findChild('Secret'),
        'SMG4',
        'every region\'s nodes receive the master password at task start from their replica of this secret; rotating it is a runbook step (rotate, then force a new deployment in every region), not a Lambda rotation that would leave running nodes with a stale password',
      );
      this.credentials = primary.secret;
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
        'RDS for PostgreSQL read replicas take no automated backups; the primary is backed up, and promoting this replica (the failover runbook) turns backups on',
      );
      // An imported instance's ARN carries this stack's region; the replica needs the source's.
      const cfn = replica.node.defaultChild as rds.CfnDBInstance;
      cfn.sourceDbInstanceIdentifier = sourceArn;
      cfn.sourceRegion = props.source.sourceRegion;
      Validations.of(cfn).acknowledge({
        id: 'CloudFormation-Validate::F3020',
        reason: 'aws-cdk-lib renders StorageEncrypted on read replicas and RDS accepts it; the replica is encrypted with KmsKeyId, a key of its own region',
      });
      this.credentials = secretsmanager.Secret.fromSecretNameV2(this, 'Credentials', SECRET_NAMES.databaseCredentials);
      this.instance = replica;
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
