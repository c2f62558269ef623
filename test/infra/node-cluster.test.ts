import { execFile } from 'node:child_process';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Stack } from 'aws-cdk-lib';
import { Template, Match } from 'aws-cdk-lib/assertions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { livenessCommand, NodeCluster, type NodeClusterProps } from '../../infra/constructs/node-cluster.js';
import { NODE_PORT } from '../../infra/config/names.js';
import { createSelfSignedCertificate } from '../../app/adapters/tls/certificate.js';
import { ACCOUNT, bareStack, resourcesOf } from './support.js';

const CERT = `arn:aws:acm:eu-west-1:${ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000`;

/** The props of a NodeCluster in `stack` (the environment and secrets a test passes). */
function clusterProps(stack: Stack, vpc: ec2.IVpc): NodeClusterProps {
  const apiKeys = new secretsmanager.Secret(stack, 'ApiKeys');
  const dbCredentials = new secretsmanager.Secret(stack, 'DbCredentials');
  return {
    vpc,
    image: ecs.ContainerImage.fromRegistry('example/node:1'),
    cpu: 1024,
    memoryLimitMiB: 2048,
    nodeCount: 2,
    maxNodeCount: 8,
    certificate: acm.Certificate.fromCertificateArn(stack, 'Cert', CERT),
    environment: { CALLFS_SERVER__LISTEN_ADDR: ':8080', CALLFS_BACKEND__S3_BUCKET_NAME: 'files-eu' },
    secrets: { CALLFS_AUTH__API_KEYS: ecs.Secret.fromSecretsManager(apiKeys), PGPASSWORD: ecs.Secret.fromSecretsManager(dbCredentials, 'password') },
    bucket: s3.Bucket.fromBucketName(stack, 'Files', 'files-eu'),
    readableBuckets: [s3.Bucket.fromBucketName(stack, 'FilesUs', 'files-us')],
    accessLogBucket: new s3.Bucket(stack, 'Logs'),
    logRetention: logs.RetentionDays.ONE_MONTH,
  };
}

describe('NodeCluster', () => {
  const { stack, vpc } = bareStack();
  new NodeCluster(stack, 'Nodes', clusterProps(stack, vpc));
  const t = Template.fromStack(stack);

  it('serves HTTPS with the given certificate and a current TLS policy, and redirects HTTP', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERT }],
      SslPolicy: Match.stringLikeRegexp('^ELBSecurityPolicy-TLS13'),
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }) })],
    });
  });

  it('checks /ready/read (D2: the node can serve reads) on the node port of each task, over HTTPS', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8080,
      Protocol: 'HTTPS',
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTPS',
      HealthCheckPath: '/ready/read',
      Matcher: { HttpCode: '200' },
    });
  });

  it('runs every node with HTTPS and a self-signed certificate announced to peers, whatever the caller passes', () => {
    const [, task] = resourcesOf(t, 'AWS::ECS::TaskDefinition')[0] ?? [];
    const container = (task?.Properties.ContainerDefinitions as Array<{ Environment: Array<{ Name: string; Value: string }>; HealthCheck: { Command: string[] } }>)[0];
    const env = Object.fromEntries((container?.Environment ?? []).map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({ CALLFS_SERVER__PROTOCOL: 'https', CALLFS_SERVER__TLS_SELF_SIGNED: 'true' });
    expect(container?.HealthCheck.Command).toEqual(['CMD', 'node', '-e', livenessCommand(NODE_PORT)]);

    const { stack: other, vpc: otherVpc } = bareStack();
    new NodeCluster(other, 'Nodes', { ...clusterProps(other, otherVpc), environment: { CALLFS_SERVER__PROTOCOL: 'http', CALLFS_SERVER__TLS_SELF_SIGNED: 'false' } });
    const [, overridden] = resourcesOf(Template.fromStack(other), 'AWS::ECS::TaskDefinition')[0] ?? [];
    const otherEnv = (overridden?.Properties.ContainerDefinitions as Array<{ Environment: Array<{ Name: string; Value: string }> }>)[0]?.Environment ?? [];
    expect(Object.fromEntries(otherEnv.map((e) => [e.Name, e.Value]))).toEqual({ CALLFS_SERVER__PROTOCOL: 'https', CALLFS_SERVER__TLS_SELF_SIGNED: 'true' });
  });

  it('checks the container\'s liveness over HTTPS on loopback, accepting its self-signed certificate', async () => {
    const made = createSelfSignedCertificate({ host: '127.0.0.1', validityMs: 86_400_000 });
    let status = 200;
    const server = createHttpsServer({ cert: made.certPem, key: made.keyPem }, (request, response) => {
      response.statusCode = request.url === '/health' ? status : 404;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const run = (): Promise<number> => new Promise((resolve) => execFile('node', ['-e', livenessCommand(port)], (error) => resolve(error === null ? 0 : Number(error.code))));
    try {
      expect(await run()).toBe(0);
      status = 503;
      expect(await run()).toBe(1);
    } finally {
      server.close();
    }
    expect(await run()).toBe(1);
  }, 60_000);

  it('runs the tasks on Fargate in private subnets, rolling back a failing deployment', () => {
    t.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: Match.absent(),
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED', Subnets: Match.arrayWith([Match.objectLike({ Ref: Match.stringLikeRegexp('NodesSubnet') })]) }) },
      CapacityProviderStrategy: [{ CapacityProvider: 'FARGATE', Weight: 1 }],
    });
    t.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  });

  it('scales between the node count and the maximum on CPU and on requests per task', () => {
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 8 });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 60, PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' } }),
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 1000, PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }) }),
    });
  });

  it('runs the container with a read-only root filesystem, a scratch /tmp and logs with a retention', () => {
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ ReadonlyRootFilesystem: true, MountPoints: [{ ContainerPath: '/tmp', SourceVolume: 'tmp', ReadOnly: false }] })],
      Volumes: [{ Name: 'tmp' }],
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('passes secrets as references (valueFrom), never as environment values', () => {
    const [, task] = resourcesOf(t, 'AWS::ECS::TaskDefinition')[0] ?? [];
    const container = (task?.Properties.ContainerDefinitions as Array<{ Environment: Array<{ Name: string }>; Secrets: Array<{ Name: string; ValueFrom: unknown }> }>)[0];
    expect(container?.Environment.map((e) => e.Name).sort()).toEqual(['CALLFS_BACKEND__S3_BUCKET_NAME', 'CALLFS_SERVER__LISTEN_ADDR', 'CALLFS_SERVER__PROTOCOL', 'CALLFS_SERVER__TLS_SELF_SIGNED']);
    expect(container?.Secrets.map((s) => s.Name).sort()).toEqual(['CALLFS_AUTH__API_KEYS', 'PGPASSWORD']);
    expect(JSON.stringify(container?.Secrets.find((s) => s.Name === 'PGPASSWORD')?.ValueFrom)).toMatch(/:password::/);
  });

  it('lets only the load balancer and other nodes reach the node port', () => {
    const groups = resourcesOf(t, 'AWS::EC2::SecurityGroup');
    const nodes = groups.find(([id]) => id.startsWith('NodesNodeSecurityGroup'));
    expect(nodes?.[1].Properties.SecurityGroupIngress).toBeUndefined();
    const ingress = resourcesOf(t, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => JSON.stringify(r.Properties.GroupId).includes('NodesNodeSecurityGroup'));
    expect(ingress.map(([, r]) => JSON.stringify(r.Properties.SourceSecurityGroupId)).sort()).toEqual([
      expect.stringContaining('NodesLoadBalancerSecurityGroup'),
      expect.stringContaining('NodesNodeSecurityGroup'),
    ]);
    expect(ingress.every(([, r]) => r.Properties.FromPort === 8080 && r.Properties.ToPort === 8080)).toBe(true);
  });

  it('grants exactly the S3 calls the node makes: read-write on its bucket, reads on the others', () => {
    const policies = JSON.stringify(resourcesOf(t, 'AWS::IAM::Policy').filter(([id]) => id.includes('TaskRole')).map(([, r]) => r.Properties.PolicyDocument));
    expect(policies).toContain('s3:PutObject');
    expect(policies).toContain(':s3:::files-us/*');
    expect(policies).not.toMatch(/"s3:\*"|s3:[A-Za-z]+\*/);
  });
});
