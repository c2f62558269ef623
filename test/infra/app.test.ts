/**
 * The whole CDK app: which stacks exist and where, cdk-nag with zero unacknowledged findings,
 * and what adding a region changes (its stack, its replica, its bucket replication pairs, its
 * DNS record, and nothing else).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { DockerImageAsset } from 'aws-cdk-lib/aws-ecr-assets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { REGIONS } from '../../regions/index.js';
import { applyNagChecks } from '../../infra/aspects/nag.js';
import { FEATURE_FLAGS } from '../../infra/config/feature-flags.js';
import { PLACEHOLDER_ACCOUNT, STAGES, settingsFromContext } from '../../infra/config/settings.js';
import { regionBucketName } from '../../regions/schema.js';
import { ACCOUNT, SA_REGION_FILE, regionsWith, resourcesOf, synthesizeApp, template, testSettings, type SynthesizedApp } from './support.js';

let shipped: SynthesizedApp;
let staging: SynthesizedApp;
let withSa: SynthesizedApp;

beforeAll(() => {
  shipped = synthesizeApp(REGIONS);
  // Every stage the app knows (STAGES) synthesizes with cdk-nag on: production above, staging here.
  staging = synthesizeApp(REGIONS, testSettings({ stage: 'staging' }));
  withSa = synthesizeApp(regionsWith({ 'sa.ts': SA_REGION_FILE }), testSettings(), false);
}, 300_000);

const bucket = (awsRegion: string): string => `geo-callfs-${ACCOUNT}-${awsRegion}`;

/** Replication rules of a region stack's data bucket, as `destination bucket name`. */
function replicationDestinations(t: Template): string[] {
  const buckets = resourcesOf(t, 'AWS::S3::Bucket').filter(([, r]) => r.Properties.ReplicationConfiguration !== undefined);
  expect(buckets).toHaveLength(1);
  const config = buckets[0]?.[1].Properties.ReplicationConfiguration as { Rules: Array<{ Destination: { Bucket: unknown } }> };
  return config.Rules.map((rule) => JSON.stringify(rule.Destination.Bucket).match(/s3:::([a-z0-9.-]+)/)?.[1] ?? '?');
}

describe('the app from regions/', () => {
  it('has the secrets stack, one stack per region (founding region first, then by name) and the global stack, each with an explicit environment', () => {
    const stacks = shipped.geo.stacks;
    expect(stacks.map((s) => s.stackName)).toEqual(['GeoCallfs-Secrets', 'GeoCallfs-eu', 'GeoCallfs-ap', 'GeoCallfs-us', 'GeoCallfs-Global']);
    expect(stacks.map((s) => `${s.account}/${s.region}`)).toEqual([`${ACCOUNT}/eu-west-1`, `${ACCOUNT}/eu-west-1`, `${ACCOUNT}/ap-southeast-1`, `${ACCOUNT}/us-east-1`, `${ACCOUNT}/us-east-1`]);
    expect(stacks.every((s) => s.terminationProtection)).toBe(true);
  });

  it.each(STAGES)('passes cdk-nag AwsSolutions in stage %s with every remaining finding acknowledged (synthesis would throw otherwise)', (stage) => {
    // Template.fromStack ran the validation plugins in beforeAll; a fresh synth must not throw either.
    const app = stage === 'production' ? shipped : staging;
    expect(app.geo.stacks.every((s) => s.tags.tagValues().stage === stage)).toBe(true);
    expect(() => app.geo.app.synth({ force: true })).not.toThrow();
  });

  it('in staging: databases can be deleted, stacks are not termination-protected', () => {
    for (const name of ['eu', 'ap', 'us']) template(staging, `GeoCallfs-${name}`).hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: false });
    expect(staging.geo.stacks.some((s) => s.terminationProtection)).toBe(false);
  });

  it('names every bucket after the account and AWS region, so two deployments cannot collide', () => {
    for (const region of REGIONS) {
      template(shipped, `GeoCallfs-${region.name}`).hasResourceProperties('AWS::S3::Bucket', { BucketName: bucket(region.awsRegion), VersioningConfiguration: { Status: 'Enabled' } });
    }
    const other = synthesizeApp(REGIONS.filter((r) => r.role === 'home'), testSettings({ account: '210987654321' }), false, ['GeoCallfs-eu']);
    template(other, 'GeoCallfs-eu').hasResourceProperties('AWS::S3::Bucket', { BucketName: 'geo-callfs-210987654321-eu-west-1' });
  });

  it('refuses to derive a bucket name without an account id, and says what to do', () => {
    const [eu] = REGIONS;
    if (eu === undefined) throw new Error('no region');
    expect(() => regionBucketName(eu, undefined)).toThrow(/region eu: the bucket name is derived from the AWS account id, and none was given \(got undefined\); pass the 12-digit account or set bucketName in regions\/eu\.ts/);
    expect(regionBucketName({ ...eu, bucketName: 'my-own-bucket' }, undefined)).toBe('my-own-bucket');
  });

  it('leaves the number of node tasks to autoscaling: no DesiredCount a deploy would reset', () => {
    for (const name of ['eu', 'ap', 'us']) {
      const t = template(shipped, `GeoCallfs-${name}`);
      t.hasResourceProperties('AWS::ECS::Service', { DesiredCount: Match.absent() });
      t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 8, ScalableDimension: 'ecs:service:DesiredCount' });
    }
  });

  it('retains every secret when its stack is deleted or the secret replaced', () => {
    const secrets = [...shipped.templates.values()].flatMap((t) => Object.entries(t.findResources('AWS::SecretsManager::Secret')));
    expect(secrets.map(([, r]) => (r.Properties as { Name: string }).Name).sort()).toEqual([
      'geo-callfs/api-keys',
      'geo-callfs/internal-proxy',
      'geo-callfs/link-signing',
      'geo-callfs/lock-cache-token',
      'geo-callfs/metadata-db',
    ]);
    for (const [id, r] of secrets) expect([id, r.DeletionPolicy, r.UpdateReplacePolicy]).toEqual([id, 'Retain', 'Retain']);
    template(shipped, 'GeoCallfs-Secrets').hasResourceProperties('AWS::SecretsManager::Secret', { ReplicaRegions: [{ Region: 'ap-southeast-1' }, { Region: 'us-east-1' }] });
  });

  it('replicates the home primary\'s automated backups to the next region, under that region\'s database key', () => {
    template(shipped, 'GeoCallfs-eu').hasResourceProperties('AWS::RDS::DBInstance', {
      AutomaticBackupReplicationRegion: 'ap-southeast-1',
      AutomaticBackupReplicationKmsKeyId: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:kms:ap-southeast-1:${ACCOUNT}:alias/geo-callfs-metadata-ap`]] },
    });
    template(shipped, 'GeoCallfs-ap').hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/geo-callfs-metadata-ap' });
    template(shipped, 'GeoCallfs-us').hasResourceProperties('AWS::RDS::DBInstance', { AutomaticBackupReplicationRegion: Match.absent() });
  });

  it('gives every region an alarm topic every alarm notifies, and the global stack one for the readiness checks', () => {
    for (const t of [...shipped.templates.values()].filter((_, i) => i > 0)) {
      const topics = Object.keys(t.findResources('AWS::SNS::Topic'));
      expect(topics).toHaveLength(1);
      for (const [id, alarm] of resourcesOf(t, 'AWS::CloudWatch::Alarm')) expect([id, alarm.Properties.AlarmActions]).toEqual([id, [{ Ref: topics[0] }]]);
    }
    template(shipped, 'GeoCallfs-Global').resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { Namespace: 'AWS/Route53', MetricName: 'HealthCheckStatus' }, 3);
  });

  it('health-checks every region on /ready/read, in Route 53 and at the load balancer (D2)', () => {
    template(shipped, 'GeoCallfs-Global').allResourcesProperties('AWS::Route53::HealthCheck', { HealthCheckConfig: Match.objectLike({ ResourcePath: '/ready/read' }) });
    for (const name of ['eu', 'ap', 'us']) template(shipped, `GeoCallfs-${name}`).hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/ready/read' });
  });

  it('fails synthesis on a finding nobody acknowledged', () => {
    const app = new App({ context: { ...FEATURE_FLAGS } });
    const stack = new Stack(app, 'Careless', { env: { account: ACCOUNT, region: 'eu-west-1' } });
    new s3.Bucket(stack, 'Open', { enforceSSL: false });
    applyNagChecks(app);
    expect(() => Template.fromStack(stack)).toThrow(/AwsSolutions-S1|AwsSolutions-S10|Validation failed/);
  });

  it('writes no secret value into any template', () => {
    for (const t of shipped.templates.values()) {
      const text = JSON.stringify(t.toJSON());
      expect(text).not.toMatch(/"(Password|AuthToken|SecretString)":\s*"[^{]/);
      expect(text).not.toMatch(/PGPASSWORD"?,\s*"Value"/);
    }
  });

  it('replicates every bucket to every other region\'s bucket, so each pair replicates both ways', () => {
    for (const source of REGIONS) {
      const destinations = replicationDestinations(template(shipped, `GeoCallfs-${source.name}`));
      expect(destinations.sort()).toEqual(REGIONS.filter((r) => r.name !== source.name).map((r) => bucket(r.awsRegion)).sort());
    }
  });

  it('keeps the logical ids of stateful resources (a change would replace the database, cache or bucket)', () => {
    for (const name of ['eu', 'ap', 'us']) {
      const t = template(shipped, `GeoCallfs-${name}`);
      expect(Object.keys(t.findResources('AWS::RDS::DBInstance'))).toEqual(['MetadataDatabaseCF6D2644']);
      expect(Object.keys(t.findResources('AWS::ElastiCache::ReplicationGroup'))).toEqual(['LockCacheB04D0787']);
      expect(Object.keys(t.findResources('AWS::S3::Bucket', { Properties: { BucketName: Match.anyValue() } }))).toEqual(['BucketE75EA64C']);
    }
  });

  it('gives every log group a retention', () => {
    for (const t of shipped.templates.values()) {
      for (const [id, group] of resourcesOf(t, 'AWS::Logs::LogGroup')) expect(group.Properties.RetentionInDays, id).toBeGreaterThan(0);
      expect(Object.keys(t.findResources('Custom::LogRetention'))).toEqual([]);
    }
  });

  it('peers each region with every region deployed before it, and only those', () => {
    const peerings = (stack: string) => resourcesOf(template(shipped, stack), 'AWS::EC2::VPCPeeringConnection').map(([, r]) => r.Properties.PeerRegion);
    expect(peerings('GeoCallfs-eu')).toEqual([]);
    expect(peerings('GeoCallfs-ap')).toEqual(['eu-west-1']);
    expect(peerings('GeoCallfs-us').sort()).toEqual(['ap-southeast-1', 'eu-west-1']);
  });
});

describe('adding a fourth region (one new file in regions/)', () => {
  it('adds exactly its stack, deployed to its AWS region', () => {
    expect([...withSa.geo.regionStacks.keys()]).toEqual(['eu', 'ap', 'sa', 'us']);
    expect(withSa.geo.regionStacks.get('sa')?.region).toBe('sa-east-1');
    expect(withSa.templates.size).toBe(shipped.templates.size + 1);
  });

  it('adds its read replica of the home primary', () => {
    const sa = template(withSa, 'GeoCallfs-sa');
    sa.hasResourceProperties('AWS::RDS::DBInstance', {
      DBInstanceIdentifier: 'geo-callfs-metadata-sa',
      SourceDBInstanceIdentifier: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:rds:eu-west-1:${ACCOUNT}:db:geo-callfs-metadata-eu`]] },
      SourceRegion: 'eu-west-1',
    });
    const replicas = [...withSa.templates.values()].flatMap((t) => resourcesOf(t, 'AWS::RDS::DBInstance')).filter(([, r]) => r.Properties.SourceRegion !== undefined);
    expect(replicas).toHaveLength(REGIONS.length); // ap, us and now sa
  });

  it('adds the bucket replication pairs between it and every other region, both ways', () => {
    expect(replicationDestinations(template(withSa, 'GeoCallfs-sa')).sort()).toEqual([bucket('ap-southeast-1'), bucket('eu-west-1'), bucket('us-east-1')]);
    for (const name of ['eu', 'ap', 'us']) {
      const before = replicationDestinations(template(shipped, `GeoCallfs-${name}`));
      const after = replicationDestinations(template(withSa, `GeoCallfs-${name}`));
      expect(after.filter((b) => !before.includes(b))).toEqual([bucket('sa-east-1')]);
      expect(before.every((b) => after.includes(b))).toBe(true);
    }
  });

  it('adds its latency record and health check to the global stack', () => {
    const before = template(shipped, 'GeoCallfs-Global');
    const after = template(withSa, 'GeoCallfs-Global');
    const records = (t: Template) => resourcesOf(t, 'AWS::Route53::RecordSet').map(([, r]) => r.Properties.SetIdentifier);
    expect(records(after).sort()).toEqual([...records(before), 'sa'].sort());
    after.resourceCountIs('AWS::Route53::HealthCheck', resourcesOf(before, 'AWS::Route53::HealthCheck').length + 1);
    after.hasResourceProperties('AWS::Route53::RecordSet', { Name: 'files.example.com.', Region: 'sa-east-1', SetIdentifier: 'sa' });
  });

  it('leaves every existing stack otherwise unchanged in resource types and counts', () => {
    const counts = (t: Template) => {
      const byType = new Map<string, number>();
      for (const r of Object.values(t.toJSON().Resources as Record<string, { Type: string }>)) byType.set(r.Type, (byType.get(r.Type) ?? 0) + 1);
      return byType;
    };
    // eu and ap come before sa in rollout order: sa dials them, so they only gain the alarms of
    // their new outgoing replication rule (latency, pending, failures) and ingress rules for sa's range.
    for (const name of ['eu', 'ap']) {
      const before = counts(template(shipped, `GeoCallfs-${name}`));
      const after = counts(template(withSa, `GeoCallfs-${name}`));
      const changed = [...new Set([...before.keys(), ...after.keys()])].filter((type) => before.get(type) !== after.get(type));
      expect(changed).toEqual(['AWS::CloudWatch::Alarm']);
      expect((after.get('AWS::CloudWatch::Alarm') ?? 0) - (before.get('AWS::CloudWatch::Alarm') ?? 0)).toBe(3);
      const admitsSa = resourcesOf(template(withSa, `GeoCallfs-${name}`), 'AWS::EC2::SecurityGroup').filter(([, r]) =>
        JSON.stringify(r.Properties.SecurityGroupIngress ?? []).includes('10.40.0.0/16'),
      );
      expect(admitsSa).toHaveLength(3); // database, lock cache, nodes
    }
    // us comes after sa: it also dials sa.
    expect(resourcesOf(template(withSa, 'GeoCallfs-us'), 'AWS::EC2::VPCPeeringConnection').map(([, r]) => r.Properties.PeerRegion).sort()).toEqual([
      'ap-southeast-1',
      'eu-west-1',
      'sa-east-1',
    ]);
  });
});

describe('settings from CDK context', () => {
  it('uses placeholders so a clean clone synthesizes offline, and reports them', () => {
    const settings = settingsFromContext(() => undefined, {}, '/repo');
    expect(settings.account).toBe(PLACEHOLDER_ACCOUNT);
    expect(settings.placeholders).toEqual(['account', 'hostedZoneId', 'zoneName', 'rdsCaBundleSha256']);
    expect(settings.dns.globalHostname).toBe('files.example.com');
    expect(settings.image).toEqual({ kind: 'dockerfile', directory: '/repo' });
    expect(settings.pendingRegions).toEqual([]);
  });

  it('takes the account from CDK_DEFAULT_ACCOUNT and every other key from context', () => {
    const context: Record<string, string> = { hostedZoneId: 'Z0ABCDEFGHIJKLMNOPQRS', zoneName: 'corp.example', globalHostname: 'cdn.corp.example', stage: 'staging', pendingRegions: 'ap, us', imageUri: 'repo/image:1' };
    const settings = settingsFromContext((key) => context[key], { CDK_DEFAULT_ACCOUNT: '210987654321' }, '/repo');
    expect(settings).toMatchObject({ account: '210987654321', stage: 'staging', pendingRegions: ['ap', 'us'], image: { kind: 'uri', uri: 'repo/image:1' }, placeholders: [] });
  });

  it.each([
    ['account', '12', /context account: must be a 12-digit/],
    ['stage', 'prod', /context stage: must be production or staging/],
    ['hostedZoneId', 'example.com', /context hostedZoneId/],
    ['globalHostname', 'files.other.org', /context globalHostname: must be example\.com or a name inside it/],
    ['pendingRegions', 'ap;us', /context pendingRegions: must be a comma-separated list of region names/],
  ])('names the bad context key %s', (key, value, message) => {
    expect(() => settingsFromContext((k) => (k === key ? value : undefined), {}, '/repo')).toThrow(message);
  });

  it('builds the node image from the repository Dockerfile as an asset, which needs no Docker at synth', () => {
    const settings = testSettings({ image: { kind: 'dockerfile', directory: new URL('../..', import.meta.url).pathname } });
    const home = REGIONS.filter((r) => r.role === 'home');
    const app = synthesizeApp(home, settings, false, ['GeoCallfs-eu']);
    const stack = app.geo.regionStacks.get('eu');
    const assets = stack?.node.findAll().filter((c) => c instanceof DockerImageAsset) ?? [];
    expect(assets).toHaveLength(1);
    template(app, 'GeoCallfs-eu').hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: { 'Fn::Sub': Match.stringLikeRegexp('cdk-hnb659fds-container-assets') } })],
    });
  });
});
