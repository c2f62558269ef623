import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from '../../infra/config/feature-flags.js';
import { RegionNetwork } from '../../infra/constructs/region-network.js';
import { ACCOUNT, resourcesOf } from './support.js';

class ThreeZones extends Stack {
  override get availabilityZones(): string[] {
    return ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
  }
}

describe('RegionNetwork', () => {
  const stack = new ThreeZones(new App({ context: { ...FEATURE_FLAGS } }), 'Net', { env: { account: ACCOUNT, region: 'eu-west-1' } });
  const network = new RegionNetwork(stack, 'Network', { cidr: '10.10.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'], logRetention: logs.RetentionDays.ONE_MONTH });
  const t = Template.fromStack(stack);

  it('spreads public, node and data subnets over every zone of the region file', () => {
    t.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.10.0.0/16' });
    t.resourceCountIs('AWS::EC2::Subnet', 9);
    const zones = resourcesOf(t, 'AWS::EC2::Subnet').map(([, r]) => r.Properties.AvailabilityZone);
    expect(new Set(zones)).toEqual(new Set(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']));
    t.resourceCountIs('AWS::EC2::NatGateway', 3);
  });

  it('gives the data subnets no route out of the VPC', () => {
    const dataTables = resourcesOf(t, 'AWS::EC2::RouteTable').filter(([id]) => id.includes('DataSubnet')).map(([id]) => id);
    expect(dataTables).toHaveLength(3);
    const routesOut = resourcesOf(t, 'AWS::EC2::Route').filter(([, r]) => dataTables.some((id) => JSON.stringify(r.Properties.RouteTableId).includes(id)));
    expect(routesOut).toEqual([]);
  });

  it('logs all traffic and keeps S3 traffic on a gateway endpoint', () => {
    t.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    t.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({}) });
  });

  it('names the node and data route tables that other regions route back through', () => {
    expect(network.privateRouteTableIds).toHaveLength(6);
  });
});
