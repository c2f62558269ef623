/**
 * @module RegionStack: everything one region runs, deployable on its own with
 * `npx cdk deploy GeoCallfs-<name>`. It composes the constructs, wires the node's `CALLFS_`
 * configuration (node-configuration.ts), opens the security groups to exactly the flows that exist
 * (load balancer → nodes, nodes → Postgres/Redis, nodes ↔ nodes, and the same from the other
 * regions' VPCs over peering), publishes the values other regions need as SSM parameters, and
 * reads the ones it needs from the regions deployed before it.
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
import { NODE_PORT, RDS_CA_BUNDLE_PATH, databaseIdentifier, databaseKeyAlias, lockCacheId, parameterName, regionHostname, regionStackName } from '../config/names.js';
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
import { nodeEnvironmentOf, nodeSecretsOf, type NodeEndpoints } from './node-configuration.js';

export interface RegionStackProps extends StackProps {
  readonly region: Region;
  /** Every region of the deployment. */
  readonly regions: readonly Region[];
  readonly settings: DeploymentSettings;
}

/** Subnet route tables per zone that carry routes to other regions (Nodes and Data). */
const PEERED_ROUTE_TABLES_PER_ZONE = 2;

/** Where a region stands in the deployment: its home, its neighbours in the rollout order. */
interface RegionPlacement {
  readonly home: Region;
  readonly isHome: boolean;
  /** Every other region, in rollout order. */
  readonly others: readonly Region[];
  /**
   * Regions before this one in the rollout order (which a home move does not change): this stack
   * dials them, the later ones dial it.
   */
  readonly earlier: readonly Region[];
  /** Other regions already deployed (buckets and backups may point only at those). */
  readonly deployed: readonly Region[];
}

function placementOf(region: Region, regions: readonly Region[], settings: DeploymentSettings): RegionPlacement {
  const home = regions.find((r) => r.role === 'home');
  if (home === undefined) throw new Error('region stack: the regions have no home region');
  const ordered = rolloutOrder(regions);
  const others = ordered.filter((r) => r.name !== region.name);
  return {
    home,
    isHome: region.name === home.name,
    others,
    earlier: ordered.slice(0, Math.max(0, ordered.findIndex((r) => r.name === region.name))),
    deployed: others.filter((r) => !settings.pendingRegions.includes(r.name)),
  };
}

/** What the stack's constructs share: settings and the retention of their logs. */
interface RegionContext {
  readonly region: Region;
  readonly regions: readonly Region[];
  readonly settings: DeploymentSettings;
  readonly placement: RegionPlacement;
  readonly production: boolean;
  readonly logRetention: logs.RetentionDays;
  readonly bucketOf: (region: Region) => string;
}

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
    const context: RegionContext = {
      region,
      regions,
      settings,
      placement: placementOf(region, regions, settings),
      production,
      logRetention: production ? logs.RetentionDays.THREE_MONTHS : logs.RetentionDays.TWO_WEEKS,
      bucketOf: (r) => regionBucketName(r, settings.account),
    };
    warnAboutPlaceholders(this, settings);

    this.network = new RegionNetwork(this, 'Network', { cidr: region.cidr, availabilityZones: region.availabilityZones, logRetention: context.logRetention });
    const accessLogs = new AccessLogBucket(this, 'AccessLogs', { retentionDays: production ? 365 : 30, removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY });
    const secrets = new SharedSecrets(this, 'SharedSecrets', { mode: 'replica' });
    this.database = this.metadataDatabase(context, secrets);
    this.lockCache = new LockCache(this, 'LockCache', {
      vpc: this.network.vpc,
      replicationGroupId: lockCacheId(region),
      nodeType: region.cacheNodeType,
      authToken: secrets.lockCacheAuthTokenValue,
      logRetention: context.logRetention,
    });
    this.bucket = new ReplicatedBucket(this, 'Bucket', {
      bucketName: context.bucketOf(region),
      // Buckets of regions not deployed yet get no rule: S3 refuses rules to missing buckets.
      peers: context.placement.deployed.map((r) => ({ name: r.name, bucketName: context.bucketOf(r), awsRegion: r.awsRegion })),
      accessLogBucket: accessLogs.bucket,
    });

    const customResourceLogs = new logs.LogGroup(this, 'CustomResourceLogs', { retention: context.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const image = this.containerImage(settings);
    this.nodes = this.nodeCluster(context, image, this.nodeEndpoints(context, customResourceLogs), secrets, accessLogs);
    // The failover drill's SQL, run inside this VPC (infra/constructs/drill-sql-runner.ts).
    this.drillSqlRunner = new DrillSqlRunner(this, 'DrillSqlRunner', {
      vpc: this.network.vpc,
      image,
      databaseCredentials: secrets.databaseCredentials,
      databaseSecurityGroup: this.database.securityGroup,
      caBundlePath: RDS_CA_BUNDLE_PATH,
      logRetention: context.logRetention,
    });
    this.database.allowFrom(this.drillSqlRunner.securityGroup, 'drill SQL runner of this region');
    this.openFlows(context.placement.others);
    this.peerings = this.peerWith(context, customResourceLogs);
    this.publishForOtherRegions();

    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: settings.dns.hostedZoneId, zoneName: settings.dns.zoneName });
    new RegionHostname(this, 'Hostname', { zone, hostname: regionHostname(region, settings.dns.globalHostname), loadBalancer: this.nodes.loadBalancer });
    this.alarms = this.regionAlarms(context);

    new CfnOutput(this, 'RegionUrl', { value: `https://${regionHostname(region, settings.dns.globalHostname)}` });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.nodes.loadBalancer.loadBalancerDnsName });
    this.acknowledgeStackWide();
  }

  /** The region's Postgres: the primary in the region that holds it, a cross-region read replica elsewhere. */
  private metadataDatabase(context: RegionContext, secrets: SharedSecrets): MetadataDatabase {
    const { region, regions, placement } = context;
    const origin = databaseOriginOf(region, regions);
    // The home region's automated backups are replicated to the next deployed region of the rollout order.
    const backupRegion = placement.isHome ? placement.deployed[0] : undefined;
    return new MetadataDatabase(this, 'MetadataDatabase', {
      vpc: this.network.vpc,
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
      deletionProtection: context.production,
      logRetention: context.logRetention,
    });
  }

  /** The node image: a registry URI, or one asset built from the repository for the nodes and the drill SQL runner. */
  private containerImage(settings: DeploymentSettings): ecs.ContainerImage {
    if (settings.image.kind === 'uri') return ecs.ContainerImage.fromRegistry(settings.image.uri);
    const asset = new DockerImageAsset(this, 'NodeImage', {
      directory: settings.image.directory,
      file: 'Dockerfile',
      platform: Platform.LINUX_AMD64,
      // Without it the build stops with a message naming the context key (see infra/README.md).
      buildArgs: { RDS_CA_BUNDLE_SHA256: settings.image.rdsCaBundleSha256 ?? '' },
    });
    return ecs.ContainerImage.fromDockerImageAsset(asset);
  }

  /** The primary and the lock home: this region's own at home, elsewhere read at deploy time from the home region's SSM parameters. */
  private nodeEndpoints(context: RegionContext, logGroup: logs.ILogGroup): NodeEndpoints {
    const { home, isHome } = context.placement;
    const fromHome = (value: 'metadata-endpoint' | 'lock-cache-endpoint'): string =>
      new RemoteParameter(this, `Home-${value}`, { parameterName: parameterName(home, value), awsRegion: home.awsRegion, logGroup }).value;
    return {
      isHome,
      primary: isHome ? this.database.endpointAddress : fromHome('metadata-endpoint'),
      lockHome: isHome ? this.lockCache.primaryEndpointAddress : fromHome('lock-cache-endpoint'),
      local: this.database.endpointAddress,
    };
  }

  private nodeCluster(context: RegionContext, image: ecs.ContainerImage, endpoints: NodeEndpoints, secrets: SharedSecrets, accessLogs: AccessLogBucket): NodeCluster {
    const { region, settings, placement, bucketOf } = context;
    const globalHostname = settings.dns.globalHostname;
    const certificate = this.certificate(region, settings, globalHostname);
    return new NodeCluster(this, 'Nodes', {
      vpc: this.network.vpc,
      image,
      cpu: region.nodeCpu,
      memoryLimitMiB: region.nodeMemoryMiB,
      nodeCount: region.nodeCount,
      maxNodeCount: region.maxNodeCount,
      certificate,
      environment: nodeEnvironmentOf({ region, others: placement.others, bucketOf, globalHostname, endpoints }),
      secrets: nodeSecretsOf(secrets),
      bucket: this.bucket.bucket,
      readableBuckets: placement.others.map((r) => s3.Bucket.fromBucketAttributes(this, `ReadThrough-${r.name}`, { bucketName: bucketOf(r), region: r.awsRegion, account: settings.account })),
      healthCheckPath: region.healthCheckPath,
      accessLogBucket: accessLogs.bucket,
      logRetention: context.logRetention,
    });
  }

  /**
   * Flows inside the region, and from the other regions' VPCs (over peering): their nodes write
   * to this region's database and lock cache when it is home, and proxy to this region's nodes.
   */
  private openFlows(others: readonly Region[]): void {
    this.database.allowFrom(this.nodes.nodeSecurityGroup, 'nodes of this region');
    this.lockCache.allowFrom(this.nodes.nodeSecurityGroup, 'nodes of this region');
    for (const other of others) {
      const from = ec2.Peer.ipv4(other.cidr);
      this.database.allowFrom(from, `nodes of region ${other.name}`);
      this.lockCache.allowFrom(from, `nodes of region ${other.name}`);
      this.nodes.nodeSecurityGroup.addIngressRule(from, ec2.Port.tcp(NODE_PORT), `nodes of region ${other.name}`);
    }
  }

  /** VPC peerings to the regions deployed before this one (the later ones peer with it). */
  private peerWith(context: RegionContext, logGroup: logs.ILogGroup): RegionPeering[] {
    return context.placement.earlier.map(
      (peer) =>
        new RegionPeering(this, `Peering-${peer.name}`, {
          vpc: this.network.vpc,
          localSubnets: this.network.privateSubnets,
          localCidr: context.region.cidr,
          peer: {
            name: peer.name,
            awsRegion: peer.awsRegion,
            cidr: peer.cidr,
            vpcIdParameter: parameterName(peer, 'vpc-id'),
            routeTablesParameter: parameterName(peer, 'route-table-ids'),
            routeTableCount: peer.availabilityZones.length * PEERED_ROUTE_TABLES_PER_ZONE,
          },
          logGroup,
        }),
    );
  }

  private publishForOtherRegions(): void {
    this.publish('vpc-id', this.network.vpc.vpcId);
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
  }

  private regionAlarms(context: RegionContext): RegionAlarms {
    const { region, placement, bucketOf } = context;
    return new RegionAlarms(this, 'Alarms', {
      regionName: region.name,
      loadBalancer: this.nodes.loadBalancer,
      notifications: region.alarmNotifications,
      targetGroup: this.nodes.targetGroup,
      service: this.nodes.service,
      // Replica lag matters while the database serves as a replica, whatever it was created as.
      replica: placement.isHome ? undefined : this.database.instance,
      lockCache: { replicationGroupId: lockCacheId(region), nodeCount: this.lockCache.nodeCount },
      sourceBucketName: bucketOf(region),
      outgoingReplication: this.bucket.outgoing,
    });
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

/** The node's image: a published one, or built from the repository's Dockerfile. */
