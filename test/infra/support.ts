/**
 * Shared fixtures of the infra tests: deployment settings without placeholders, an extra
 * region, and helpers that synthesize an app or one construct in a bare stack.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { loadRegions, type Region } from '../../regions/schema.js';
import { REGION_FILES } from '../../regions/index.js';
import { FEATURE_FLAGS } from '../../infra/config/feature-flags.js';
import type { DeploymentSettings } from '../../infra/config/settings.js';
import { buildGeoApp, type GeoApp } from '../../infra/geo-app.js';

export const ACCOUNT = '123456789012';

export function testSettings(overrides: Partial<DeploymentSettings> = {}): DeploymentSettings {
  return {
    account: ACCOUNT,
    stage: 'production',
    dns: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com', globalHostname: 'files.example.com' },
    image: { kind: 'uri', uri: 'public.ecr.aws/geo-callfs/node:test' },
    pendingRegions: [],
    placeholders: [],
    ...overrides,
  };
}

/** A fourth region, as a new file `regions/sa.ts` would hold it. */
export const SA_REGION_FILE = {
  name: 'sa',
  awsRegion: 'sa-east-1',
  role: 'secondary',
  nodeCount: 2,
  maxNodeCount: 6,
  cidr: '10.40.0.0/16',
  availabilityZones: ['sa-east-1a', 'sa-east-1c'],
  dnsWeight: 100,
  healthCheckPath: '/ready/read',
} as const;

/** The shipped regions plus `extra` files, validated exactly as regions/index.ts does. */
export function regionsWith(extra: Readonly<Record<string, unknown>> = {}): readonly Region[] {
  return loadRegions({ ...REGION_FILES, ...extra });
}

export interface SynthesizedApp {
  readonly geo: GeoApp;
  /** Templates by stack name. */
  readonly templates: ReadonlyMap<string, Template>;
}

/** Builds and synthesizes the whole app, or only the stacks named in `only` (cdk-nag on unless told otherwise). */
export function synthesizeApp(regions: readonly Region[], settings = testSettings(), nag = true, only?: readonly string[]): SynthesizedApp {
  const app = new App({ context: { ...FEATURE_FLAGS } });
  const geo = buildGeoApp(app, regions, settings, { nag, ...(only === undefined ? {} : { only }) });
  const templates = new Map<string, Template>();
  for (const stack of geo.stacks) templates.set(stack.stackName, Template.fromStack(stack));
  return { geo, templates };
}

export function template(synthesized: SynthesizedApp, stackName: string): Template {
  const found = synthesized.templates.get(stackName);
  if (found === undefined) throw new Error(`no stack ${stackName}`);
  return found;
}

/** A stack whose zones are known without a lookup. */
class TestStack extends Stack {
  override get availabilityZones(): string[] {
    return [`${this.region}a`, `${this.region}b`];
  }
}

/** A bare stack with a two-zone VPC, for testing one construct at a time. */
export function bareStack(region = 'eu-west-1'): { app: App; stack: Stack; vpc: ec2.Vpc } {
  const app = new App({ context: { ...FEATURE_FLAGS } });
  const stack = new TestStack(app, 'Test', { env: { account: ACCOUNT, region } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    ipAddresses: ec2.IpAddresses.cidr('10.99.0.0/16'),
    availabilityZones: [`${region}a`, `${region}b`],
    natGateways: 1,
    subnetConfiguration: [
      { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: 'Nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      { name: 'Data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
    ],
  });
  return { app, stack, vpc };
}

/** Every resource of `type` in `template`, as [logicalId, resource] pairs. */
export function resourcesOf(t: Template, type: string): Array<[string, { Properties: Record<string, unknown> }]> {
  return Object.entries(t.findResources(type) as Record<string, { Properties?: Record<string, unknown> }>).map(([id, r]) => [id, { ...r, Properties: r.Properties ?? {} }]);
}
