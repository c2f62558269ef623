import { Template, Match } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { RegionPeering } from '../../infra/constructs/region-peering.js';
import { ACCOUNT, bareStack, resourcesOf } from './support.js';

describe('RegionPeering (and the RemoteParameter reads it uses)', () => {
  const { stack, vpc } = bareStack('us-east-1');
  const logGroup = new logs.LogGroup(stack, 'CrLogs');
  new RegionPeering(stack, 'ToEu', {
    vpc,
    localSubnets: [...vpc.privateSubnets, ...vpc.isolatedSubnets],
    localCidr: '10.99.0.0/16',
    peer: { name: 'eu', awsRegion: 'eu-west-1', cidr: '10.10.0.0/16', vpcIdParameter: '/geo-callfs/eu/vpc-id', routeTablesParameter: '/geo-callfs/eu/route-table-ids', routeTableCount: 6 },
    logGroup,
  });
  const t = Template.fromStack(stack);
  const customResources = resourcesOf(t, 'Custom::AWS');

  it('requests a same-account peering with the other region\'s VPC, whose id it reads from that region\'s SSM', () => {
    const [readerId] = customResources.find(([, r]) => JSON.stringify(r.Properties.Create).includes('/geo-callfs/eu/vpc-id')) ?? [];
    expect(readerId).toBeDefined();
    t.hasResourceProperties('AWS::EC2::VPCPeeringConnection', {
      PeerRegion: 'eu-west-1',
      PeerOwnerId: ACCOUNT,
      PeerVpcId: { 'Fn::GetAtt': [readerId, 'Parameter.Value'] },
    });
    const create = JSON.stringify(customResources.find(([id]) => id === readerId)?.[1].Properties.Create);
    expect(create).toMatch(/"service\\":\\"SSM\\"/);
    expect(create).toMatch(/"region\\":\\"eu-west-1\\"/);
  });

  it('routes the peer range from every local node and data subnet through the peering', () => {
    const routes = resourcesOf(t, 'AWS::EC2::Route').filter(([, r]) => r.Properties.DestinationCidrBlock === '10.10.0.0/16');
    expect(routes).toHaveLength(4);
    expect(routes.every(([, r]) => JSON.stringify(r.Properties.VpcPeeringConnectionId).includes('ToEu'))).toBe(true);
  });

  it('adds the return route in each of the peer\'s route tables, in the peer\'s region, and removes it on delete', () => {
    const returnRoutes = customResources.filter(([, r]) => JSON.stringify(r.Properties.Create).includes('CreateRoute'));
    expect(returnRoutes).toHaveLength(6);
    for (const [, r] of returnRoutes) {
      const create = JSON.stringify(r.Properties.Create);
      expect(create).toMatch(/10\.99\.0\.0\/16/);
      expect(create).toMatch(/"region\\":\\"eu-west-1\\"/);
      expect(JSON.stringify(r.Properties.Delete)).toMatch(/DeleteRoute/);
    }
  });

  it('lets the custom resources touch only those route tables and read only those parameters', () => {
    const statements = resourcesOf(t, 'AWS::IAM::Policy').flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Array<{ Action: unknown; Resource: unknown }> }).Statement);
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) expect(JSON.stringify(s.Resource)).not.toBe('"*"');
    expect(JSON.stringify(statements)).toMatch(/parameter\/geo-callfs\/eu\/vpc-id/);
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['ec2:CreateRoute', 'ec2:DeleteRoute', 'ec2:ReplaceRoute']) })]) },
    });
  });
});
