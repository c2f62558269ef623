/**
 * @module RegionNetwork: the region's VPC. Three subnet tiers in every listed zone: public (the
 * load balancer and the NAT gateways), `Nodes` (private with egress: the ECS tasks) and `Data`
 * (isolated: Postgres and Redis, no route to the internet). VPC flow logs go to CloudWatch, and
 * S3 traffic stays on a gateway endpoint instead of the NAT gateways.
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface RegionNetworkProps {
  /** The VPC range (regions' ranges must not overlap: the VPCs are peered). */
  readonly cidr: string;
  /** Zones to spread the subnets over, named explicitly so synthesis needs no lookup. */
  readonly availabilityZones: readonly string[];
  readonly logRetention: logs.RetentionDays;
}

export class RegionNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** Route tables of the subnets another region's traffic must come back through (Nodes and Data). */
  readonly privateRouteTableIds: string[];

  constructor(scope: Construct, id: string, props: RegionNetworkProps) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr),
      availabilityZones: [...props.availabilityZones],
      natGateways: props.availabilityZones.length,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        { name: 'Data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      // Nothing uses the default security group; leaving it alone avoids a custom resource.
      restrictDefaultSecurityGroup: false,
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    for (const subnet of [...this.vpc.publicSubnets, ...this.vpc.privateSubnets, ...this.vpc.isolatedSubnets]) {
      Validations.of(subnet).acknowledge({
        id: 'CloudFormation-Validate::W3010',
        reason: 'the zones come from the region file on purpose: synthesis must not look them up in the account',
      });
    }
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup), trafficType: ec2.FlowLogTrafficType.ALL });
    this.privateRouteTableIds = [...this.vpc.privateSubnets, ...this.vpc.isolatedSubnets].map((s) => s.routeTable.routeTableId);
  }

  /** The subnets whose route tables carry routes to the other regions (same order as privateRouteTableIds). */
  get privateSubnets(): ec2.ISubnet[] {
    return [...this.vpc.privateSubnets, ...this.vpc.isolatedSubnets];
  }
}
