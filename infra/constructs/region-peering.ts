/**
 * @module RegionPeering: the private path between this region's VPC and an earlier-deployed
 * region's VPC: nodes reach the home region's Postgres primary and lock cache, and peers in other
 * regions, on private addresses. The later region owns the whole pair: it requests the peering
 * (same account, so CloudFormation accepts it), adds routes to the other VPC's range in its own
 * route tables, and adds the return routes in the other region's route tables through a custom
 * resource (created with the peering, removed with it). The other region's VPC id and route
 * tables are read from the SSM parameters it published.
 */
import { ArnFormat, Fn, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { RemoteParameter } from './remote-parameter.js';

export interface PeeredRegion {
  readonly name: string;
  readonly awsRegion: string;
  readonly cidr: string;
  /** SSM parameter (in `awsRegion`) holding that region's VPC id. */
  readonly vpcIdParameter: string;
  /** SSM parameter (in `awsRegion`) holding its private route table ids, comma-separated. */
  readonly routeTablesParameter: string;
  /** How many route tables that parameter lists (known from the region's zone count). */
  readonly routeTableCount: number;
}

export interface RegionPeeringProps {
  /** This region's VPC and the subnets whose route tables get the route to the peer. */
  readonly vpc: ec2.IVpc;
  readonly localSubnets: readonly ec2.ISubnet[];
  readonly localCidr: string;
  readonly peer: PeeredRegion;
  readonly logGroup: logs.ILogGroup;
}

export class RegionPeering extends Construct {
  readonly connection: ec2.CfnVPCPeeringConnection;

  constructor(scope: Construct, id: string, props: RegionPeeringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const peer = props.peer;
    const peerVpcId = new RemoteParameter(this, 'PeerVpcId', { parameterName: peer.vpcIdParameter, awsRegion: peer.awsRegion, logGroup: props.logGroup });
    const peerRouteTables = new RemoteParameter(this, 'PeerRouteTables', { parameterName: peer.routeTablesParameter, awsRegion: peer.awsRegion, logGroup: props.logGroup });

    this.connection = new ec2.CfnVPCPeeringConnection(this, 'Resource', {
      vpcId: props.vpc.vpcId,
      peerVpcId: peerVpcId.value,
      peerRegion: peer.awsRegion,
      peerOwnerId: stack.account,
      tags: [{ key: 'Name', value: `geo-callfs ${stack.region} <-> ${peer.name}` }],
    });

    // The peering as seen from the other region (same id on both sides).
    const peeringArn = stack.formatArn({
      service: 'ec2',
      region: peer.awsRegion,
      resource: 'vpc-peering-connection',
      resourceName: this.connection.ref,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });

    props.localSubnets.forEach((subnet, i) => {
      new ec2.CfnRoute(this, `LocalRoute${i}`, {
        routeTableId: subnet.routeTable.routeTableId,
        destinationCidrBlock: peer.cidr,
        vpcPeeringConnectionId: this.connection.ref,
      });
    });

    for (let i = 0; i < peer.routeTableCount; i++) {
      const routeTableId = Fn.select(i, Fn.split(',', peerRouteTables.value));
      const route = { RouteTableId: routeTableId, DestinationCidrBlock: props.localCidr };
      const routeTableArn = stack.formatArn({ service: 'ec2', region: peer.awsRegion, resource: 'route-table', resourceName: routeTableId, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
      const call = (action: string, parameters: Record<string, unknown>): cr.AwsSdkCall => ({
        service: 'EC2',
        action,
        parameters,
        region: peer.awsRegion,
        physicalResourceId: cr.PhysicalResourceId.of(`${peer.awsRegion}:${props.localCidr}:${i}`),
      });
      const returnRoute = new cr.AwsCustomResource(this, `PeerRoute${i}`, {
        onCreate: call('CreateRoute', { ...route, VpcPeeringConnectionId: this.connection.ref }),
        onUpdate: call('ReplaceRoute', { ...route, VpcPeeringConnectionId: this.connection.ref }),
        onDelete: call('DeleteRoute', route),
        policy: cr.AwsCustomResourcePolicy.fromStatements([
          new iam.PolicyStatement({ actions: ['ec2:CreateRoute', 'ec2:ReplaceRoute', 'ec2:DeleteRoute'], resources: [routeTableArn, peeringArn] }),
        ]),
        installLatestAwsSdk: false,
        logGroup: props.logGroup,
      });
      returnRoute.node.addDependency(this.connection);
    }
  }
}
