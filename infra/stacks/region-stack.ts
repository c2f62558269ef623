/**
 * @module RegionStack: everything one region runs, deployable on its own with
 * `npx cdk deploy GeoCallfs-<name>`. It composes the constructs, wires the node's `CALLFS_`
 * configuration, opens the security groups to exactly the flows that exist (load balancer →
 * nodes, nodes → Postgres/Redis, nodes ↔ nodes, and the same from the other regions' VPCs over
 * peering), publishes the values other regions need as SSM parameters, and reads the ones it
 * needs from the regions deployed before it.
 */
import { CfnOutput, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type { Construct } from 'constructs';
import { databaseOriginOf, regionBucketName, rolloutOrder, type Region } from '../../regions/schema.js';
import { acknowledge } from '../aspects/nag.js';
import {
  DATABASE_NAME,
  DATABASE_PORT,
  DATABASE_USER,
  LOCK_CACHE_PORT,
  NODE_PORT,
  RDS_CA_BUNDLE_PATH,
  databaseIdentifier,
  databaseKeyAlias,
  lockCacheId,
  parameterName,
  regionHostname,
  regionStackName,
} from '../config/names.js';
import { warnAboutPlaceholders, type DeploymentSettings } from '../config/settings.js';
import { AccessLogBucket } from '../constructs/access-log-bucket.js';
import { DrillSqlRunner } from '../constructs/drill-sql-runner.js';
import { LockCache } from '../constructs/lock-cache.js';
import { MetadataDatabase } from '../constructs/metadata-database.js';
import { NodeCluster } from '../constructs/node-cluster.js';
import { RegionAlarms } from '../constructs/region-alarms.js';
import { RegionHostname } from '../constructs/region-hostname.js';
import { RegionNetwork } from '../constructs/region-network.js';
import { RegionPeering } from '../constructs/region-peering.js';
import { RemoteParameter } from '../constructs/remote-parameter.js';
import { ReplicatedBucket } from '../constructs/replicated-bucket.js';
import { SharedSecrets } from '../constructs/shared-secrets.js';

export interface RegionStackProps extends StackProps {
  readonly region: Region;
  /** Every region of the deployment. */
  readonly regions: readonly Region[];
  readonly settings: DeploymentSettings;
}

/** Subnet route tables per zone that carry routes to other regions (Nodes and Data). */
const PEERED_ROUTE_TABLES_PER_ZONE = 2;

export class RegionStack extends Stack {
  /** The region this stack deploys (`Stack.region` is its AWS region code). */
  readonly geoRegion: Region;
  readonly network: RegionNetwork;
  readonly database: MetadataDatabase;
  readonly lockCache: LockCache;
  readonly bucket: ReplicatedBucket;
  readonly nodes: NodeCluster;
  readonly alarms: RegionAlarms;
  readonly peerings: readonly RegionPeering[];
  readonly drillSqlRunner: DrillSqlRunner;

  constructor(scope: Construct, id: string, props: RegionStackProps) {
    const { region, regions, settings } = props;
    const production = settings.stage === 'production';
    super(scope, id, {
      ...props,
      stackName: regionStackName(region),
      env: { account: settings.account, region: region.awsRegion },
      terminationProtection: production,
      description: `geo-callfs region ${region.name} (${region.awsRegion}, ${region.role})`,
    });
    this.geoRegion = region;
    const home = regions.find((r) => r.role === 'home');
    if (home === undefined) throw new Error('region stack: the regions have no home region');
    const isHome = region.name === home.name;
    const ordered = rolloutOrder(regions);
    const others = ordered.filter((r) => r.name !== region.name);
    // Regions before this one in the rollout order (which a home move does not change): this
    // stack dials them, the later ones dial it.
    const earlier = ordered.slice(0, Math.max(0, ordered.findIndex((r) => r.name === region.name)));
    const bucketOf = (r: Region): string => regionBucketName(r, settings.account);
    const origin = databaseOriginOf(region, regions);
    const logRetention = production ? logs.RetentionDays.THREE_MONTHS : logs.RetentionDays.TWO_WEEKS;
    const globalHostname = settings.dns.globalHostname;
    warnAboutPlaceholders(this, settings);

    this.network = new RegionNetwork(this, 'Network', { cidr: region.cidr, availabilityZones: region.availabilityZones, logRetention });
    const vpc = this.network.vpc;
    const accessLogs = new AccessLogBucket(this, 'AccessLogs', { retentionDays: production ? 365 : 30, removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY });
    const secrets = new SharedSecrets(this, 'SharedSecrets', { mode: 'replica' });
    // The home region's automated backups are replicated to the next deployed region of the rollout order.
    const backupRegion = isHome ? others.find((r) => !settings.pendingRegions.includes(r.name)) : undefined;

    this.database = new MetadataDatabase(this, 'MetadataDatabase', {
      vpc,
      source:
        origin.kind === 'primary'
          ? { kind: 'primary', masterPassword: secrets.databasePasswordValue }
          : { kind: 'replica', sourceIdentifier: databaseIdentifier({ name: origin.of }), sourceRegion: this.awsRegionOf(regions, origin.of) },
      instanceIdentifier: databaseIdentifier(region),
      keyAlias: databaseKeyAlias(region),
      backupReplication:
        backupRegion === undefined
          ? undefined
          : {
              awsRegion: backupRegion.awsRegion,
              kmsKeyArn: this.formatArn({ service: 'kms', region: backupRegion.awsRegion, resource: 'alias', resourceName: databaseKeyAlias(backupRegion).replace(/^alias\//, '') }),
              retentionDays: 7,
            },
      instanceType: new ec2.InstanceType(region.dbInstanceClass),
      deletionProtection: production,
      logRetention,
    });
    this.lockCache = new LockCache(this, 'LockCache', {
      vpc,
      replicationGroupId: lockCacheId(region),
      nodeType: region.cacheNodeType,
      authToken: secrets.lockCacheAuthTokenValue,
      logRetention,
    });
    this.bucket = new ReplicatedBucket(this, 'Bucket', {
      bucketName: bucketOf(region),
      // Buckets of regions not deployed yet get no rule: S3 refuses rules to missing buckets.
      peers: others.filter((r) => !settings.pendingRegions.includes(r.name)).map((r) => ({ name: r.name, bucketName: bucketOf(r), awsRegion: r.awsRegion })),
      accessLogBucket: accessLogs.bucket,
    });

    // Values of other regions, read at deploy time from their SSM parameters.
    const customResourceLogs = new logs.LogGroup(this, 'CustomResourceLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const fromHome = (value: 'metadata-endpoint' | 'lock-cache-endpoint'): string =>
      new RemoteParameter(this, `Home-${value}`, { parameterName: parameterName(home, value), awsRegion: home.awsRegion, logGroup: customResourceLogs }).value;
    const primaryEndpoint = isHome ? this.database.endpointAddress : fromHome('metadata-endpoint');
    const lockHomeEndpoint = isHome ? this.lockCache.primaryEndpointAddress : fromHome('lock-cache-endpoint');

    // The nodes write to the primary; elsewhere the DSN also lists the local replica, which the
    // node follows once it is promoted. The password comes from PGPASSWORD, never from the DSN.
    const tls = `sslmode=verify-full&sslrootcert=${RDS_CA_BUNDLE_PATH}`;
    const dsn = isHome
      ? `postgres://${DATABASE_USER}@${primaryEndpoint}:${DATABASE_PORT}/${DATABASE_NAME}?${tls}`
      : `postgres://${DATABASE_USER}@${primaryEndpoint}:${DATABASE_PORT},${this.database.endpointAddress}:${DATABASE_PORT}/${DATABASE_NAME}?target_session_attrs=read-write&${tls}`;

    // Reads go to the region's own replica where the node supports a read DSN (the key is
    // ignored by nodes that do not); in the home region the primary serves them.
    const readDsn = isHome ? undefined : `postgres://${DATABASE_USER}@${this.database.endpointAddress}:${DATABASE_PORT}/${DATABASE_NAME}?${tls}`;

    const certificate = this.certificate(region, settings, globalHostname);
    const image =
      settings.image.kind === 'uri'
        ? ecs.ContainerImage.fromRegistry(settings.image.uri)
        : // One asset for the nodes and the drill SQL runner: built and pushed once.
          ecs.ContainerImage.fromDockerImageAsset(
            new DockerImageAsset(this, 'NodeImage', {
              directory: settings.image.directory,
              file: 'Dockerfile',
              platform: Platform.LINUX_AMD64,
              // Without it the build stops with a message naming the context key (see infra/README.md).
              buildArgs: { RDS_CA_BUNDLE_SHA256: settings.image.rdsCaBundleSha256 ?? '' },
            }),
          );
    this.nodes = new NodeCluster(this, 'Nodes', {
      vpc,
      image,
      cpu: region.nodeCpu,
      memoryLimitMiB: region.nodeMemoryMiB,
      nodeCount: region.nodeCount,
      maxNodeCount: region.maxNodeCount,
      certificate,
      environment: {
        CALLFS_SERVER__LISTEN_ADDR: `:${NODE_PORT}`,
        // HTTPS with a self-signed certificate announced to peers: NodeCluster sets it (NODE_TLS_ENVIRONMENT).
        CALLFS_SERVER__EXTERNAL_URL: `https://${globalHostname}`,
        CALLFS_LOG__FORMAT: 'json',
        CALLFS_METADATA_STORE__TYPE: 'postgres',
        CALLFS_METADATA_STORE__DSN: dsn,
        ...(readDsn === undefined ? {} : { CALLFS_METADATA_STORE__READ_DSN: readDsn }),
        CALLFS_DLM__TYPE: 'redis',
        CALLFS_DLM__REDIS_ADDR: `${lockHomeEndpoint}:${LOCK_CACHE_PORT}`,
        CALLFS_DLM__REDIS_TLS: 'true',
        CALLFS_BACKEND__DEFAULT_BACKEND: 's3',
        CALLFS_BACKEND__S3_BUCKET_NAME: bucketOf(region),
        CALLFS_BACKEND__S3_REGION: region.awsRegion,
        // Task disks are ephemeral: no file lives on a node's local disk.
        CALLFS_BACKEND__LOCALFS_ROOT_PATH: '',
        CALLFS_INSTANCE_DISCOVERY__REGION: region.name,
        // The other regions' buckets, for reads whose copy has not replicated here yet.
        ...Object.fromEntries(
          others.flatMap((o) => {
            const key = `CALLFS_BACKEND__S3_REGION_BUCKETS__${o.name.toUpperCase()}`;
            return [
              [`${key}__BUCKET`, bucketOf(o)],
              [`${key}__REGION`, o.awsRegion],
            ];
          }),
        ),
      },
      secrets: {
        CALLFS_AUTH__API_KEYS: ecs.Secret.fromSecretsManager(secrets.apiKeys),
        CALLFS_AUTH__INTERNAL_PROXY_SECRET: ecs.Secret.fromSecretsManager(secrets.internalProxySecret),
        CALLFS_AUTH__SINGLE_USE_LINK_SECRET: ecs.Secret.fromSecretsManager(secrets.singleUseLinkSecret),
        CALLFS_DLM__REDIS_PASSWORD: ecs.Secret.fromSecretsManager(secrets.lockCacheAuthToken),
        PGPASSWORD: ecs.Secret.fromSecretsManager(secrets.databaseCredentials, 'password'),
      },
      bucket: this.bucket.bucket,
      readableBuckets: others.map((r) => s3.Bucket.fromBucketAttributes(this, `ReadThrough-${r.name}`, { bucketName: bucketOf(r), region: r.awsRegion, account: settings.account })),
      healthCheckPath: region.healthCheckPath,
      accessLogBucket: accessLogs.bucket,
      logRetention,
    });

    // ---- The failover drill's SQL, run inside this VPC (infra/constructs/drill-sql-runner.ts).
    this.drillSqlRunner = new DrillSqlRunner(this, 'DrillSqlRunner', {
      vpc,
      image,
      databaseCredentials: secrets.databaseCredentials,
      databaseSecurityGroup: this.database.securityGroup,
      caBundlePath: RDS_CA_BUNDLE_PATH,
      logRetention,
    });
    this.database.allowFrom(this.drillSqlRunner.securityGroup, 'drill SQL runner of this region');
    // ----

    // Flows inside the region.
    this.database.allowFrom(this.nodes.nodeSecurityGroup, 'nodes of this region');
    this.lockCache.allowFrom(this.nodes.nodeSecurityGroup, 'nodes of this region');
    // Flows from the other regions' VPCs (over peering): their nodes write to this region's
    // database and lock cache when it is home, and proxy to this region's nodes.
    for (const other of others) {
      const from = ec2.Peer.ipv4(other.cidr);
      this.database.allowFrom(from, `nodes of region ${other.name}`);
      this.lockCache.allowFrom(from, `nodes of region ${other.name}`);
      this.nodes.nodeSecurityGroup.addIngressRule(from, ec2.Port.tcp(NODE_PORT), `nodes of region ${other.name}`);
    }

    this.peerings = earlier.map(
      (peer) =>
        new RegionPeering(this, `Peering-${peer.name}`, {
          vpc,
          localSubnets: this.network.privateSubnets,
          localCidr: region.cidr,
          peer: {
            name: peer.name,
            awsRegion: peer.awsRegion,
            cidr: peer.cidr,
            vpcIdParameter: parameterName(peer, 'vpc-id'),
            routeTablesParameter: parameterName(peer, 'route-table-ids'),
            routeTableCount: peer.availabilityZones.length * PEERED_ROUTE_TABLES_PER_ZONE,
          },
          logGroup: customResourceLogs,
        }),
    );

    this.publish('vpc-id', vpc.vpcId);
    this.publish('route-table-ids', Fn.join(',', this.network.privateRouteTableIds));
    this.publish('metadata-endpoint', this.database.endpointAddress);
    this.publish('lock-cache-endpoint', this.lockCache.primaryEndpointAddress);
    this.publish('bucket-name', this.bucket.bucket.bucketName);
    this.publish('load-balancer-dns', this.nodes.loadBalancer.loadBalancerDnsName);
    this.publish('node-cluster-name', this.nodes.cluster.clusterName);
    this.publish('node-service-name', this.nodes.service.serviceName);
    this.publish('drill-sql-task-definition', this.drillSqlRunner.taskDefinition.taskDefinitionArn);
    this.publish('drill-sql-subnets', Fn.join(',', this.drillSqlRunner.subnetIds));
    this.publish('drill-sql-security-group', this.drillSqlRunner.securityGroup.securityGroupId);
    this.publish('drill-sql-log-group', this.drillSqlRunner.logGroup.logGroupName);

    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: settings.dns.hostedZoneId, zoneName: settings.dns.zoneName });
    new RegionHostname(this, 'Hostname', { zone, hostname: regionHostname(region, globalHostname), loadBalancer: this.nodes.loadBalancer });

    this.alarms = new RegionAlarms(this, 'Alarms', {
      regionName: region.name,
      loadBalancer: this.nodes.loadBalancer,
      notifications: region.alarmNotifications,
      targetGroup: this.nodes.targetGroup,
      service: this.nodes.service,
      // Replica lag matters while the database serves as a replica, whatever it was created as.
      replica: isHome ? undefined : this.database.instance,
      lockCache: { replicationGroupId: lockCacheId(region), nodeCount: this.lockCache.nodeCount },
      sourceBucketName: bucketOf(region),
      outgoingReplication: this.bucket.outgoing,
    });

    new CfnOutput(this, 'RegionUrl', { value: `https://${regionHostname(region, globalHostname)}` });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.nodes.loadBalancer.loadBalancerDnsName });
    this.acknowledgeStackWide();
  }

  private awsRegionOf(regions: readonly Region[], name: string): string {
    const found = regions.find((r) => r.name === name);
    if (found === undefined) throw new Error(`region stack ${this.geoRegion.name}: databaseOrigin names region "${name}", which is not in regions/`);
    return found.awsRegion;
  }

  /** The region file's zones: answering here keeps synthesis free of the availability-zone lookup. */
  override get availabilityZones(): string[] {
    return [...this.geoRegion.availabilityZones];
  }

  private publish(value: Parameters<typeof parameterName>[1], stringValue: string): void {
    new ssm.StringParameter(this, `Published-${value}`, {
      parameterName: parameterName(this.geoRegion, value),
      stringValue,
      description: `geo-callfs region ${this.geoRegion.name}: ${value}, read by the other regions' stacks`,
    });
  }

  private certificate(region: Region, settings: DeploymentSettings, globalHostname: string): acm.ICertificate {
    if (region.certificateArn !== undefined) return acm.Certificate.fromCertificateArn(this, 'Certificate', region.certificateArn);
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'CertificateZone', { hostedZoneId: settings.dns.hostedZoneId, zoneName: settings.dns.zoneName });
    return new acm.Certificate(this, 'Certificate', {
      domainName: regionHostname(region, globalHostname),
      subjectAlternativeNames: [globalHostname],
      validation: acm.CertificateValidation.fromDns(zone),
    });
  }

  /** Findings about resources CDK itself adds to the stack, each with the reason it is accepted. */
  private acknowledgeStackWide(): void {
    for (const child of this.node.children) {
      if (child.node.id.startsWith('AWS') && child.node.id.length === 'AWS'.length + 32) {
        // The singleton function behind this stack's AwsCustomResources (SSM reads, peer routes).
        acknowledge(
          child,
          'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          'the AWS managed basic execution policy only lets the custom resource function write its own logs; aws-cdk-lib attaches it to the AwsCustomResource singleton function',
        );
      }
    }
  }
}
