/**
 * RegionStack wiring: the node's CALLFS_ configuration in the task definition (checked against the
 * node's own config loader), the values published for other regions, the region hostname and its
 * certificate.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config/load.js';
import { REGION_FILES } from '../../regions/index.js';
import { loadRegions } from '../../regions/schema.js';
import { resourcesOf, synthesizeApp, template, type SynthesizedApp } from './support.js';

let app: SynthesizedApp;
let withCertificate: SynthesizedApp;

beforeAll(() => {
  const regions = loadRegions({ 'eu.ts': REGION_FILES['eu.ts'], 'us.ts': REGION_FILES['us.ts'] });
  app = synthesizeApp(regions, undefined, false, ['GeoCallfs-eu', 'GeoCallfs-us']);
  const certificateArn = 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
  withCertificate = synthesizeApp(
    regions.map((r) => (r.name === 'us' ? { ...r, certificateArn } : r)),
    undefined,
    false,
    ['GeoCallfs-us'],
  );
}, 300_000);

interface ContainerDefinition {
  Environment: Array<{ Name: string; Value: unknown }>;
  Secrets: Array<{ Name: string; ValueFrom: unknown }>;
}

function container(t: Template): ContainerDefinition {
  const [, task] = resourcesOf(t, 'AWS::ECS::TaskDefinition')[0] ?? [];
  const found = (task?.Properties.ContainerDefinitions as ContainerDefinition[] | undefined)?.[0];
  if (found === undefined) throw new Error('no container');
  return found;
}

/** An environment value with every deploy-time token replaced by a stand-in hostname. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join !== undefined) return join[1].map((part) => (typeof part === 'string' ? part : 'resolved.internal.example')).join(join[0]);
  return 'resolved.internal.example';
}

function environment(t: Template): Record<string, string> {
  return Object.fromEntries(container(t).Environment.map((e) => [e.Name, render(e.Value)]));
}

describe('the node configuration a RegionStack gives its tasks', () => {
  it('points home nodes at the local primary and lock cache, with a verified TLS connection', () => {
    const env = environment(template(app, 'GeoCallfs-eu'));
    expect(env.CALLFS_METADATA_STORE__DSN).toBe('postgres://callfs@resolved.internal.example:5432/callfs?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem');
    expect(env.CALLFS_METADATA_STORE__READ_DSN).toBeUndefined();
    expect(env).toMatchObject({
      CALLFS_SERVER__LISTEN_ADDR: ':8080',
      CALLFS_SERVER__PROTOCOL: 'https',
      CALLFS_SERVER__TLS_SELF_SIGNED: 'true',
      CALLFS_SERVER__EXTERNAL_URL: 'https://files.example.com',
      CALLFS_DLM__TYPE: 'redis',
      CALLFS_DLM__REDIS_ADDR: 'resolved.internal.example:6379',
      CALLFS_BACKEND__DEFAULT_BACKEND: 's3',
      CALLFS_BACKEND__S3_BUCKET_NAME: 'geo-callfs-123456789012-eu-west-1',
      CALLFS_BACKEND__S3_REGION: 'eu-west-1',
      CALLFS_BACKEND__LOCALFS_ROOT_PATH: '',
      CALLFS_INSTANCE_DISCOVERY__REGION: 'eu',
    });
    const raw = container(template(app, 'GeoCallfs-eu')).Environment.find((e) => e.Name === 'CALLFS_DLM__REDIS_ADDR')?.Value;
    expect(JSON.stringify(raw)).toMatch(/LockCache.*PrimaryEndPoint\.Address/);
  });

  it('points other regions at the home primary (local replica listed for after promotion), reads at the replica, locks at the lock home', () => {
    const t = template(app, 'GeoCallfs-us');
    const raw = Object.fromEntries(container(t).Environment.map((e) => [e.Name, JSON.stringify(e.Value)]));
    expect(raw.CALLFS_METADATA_STORE__DSN).toMatch(/Homemetadataendpoint.*Parameter\.Value.*:5432,.*MetadataDatabase.*Endpoint\.Address.*target_session_attrs=read-write&sslmode=verify-full/);
    expect(raw.CALLFS_METADATA_STORE__READ_DSN).toMatch(/MetadataDatabase.*Endpoint\.Address/);
    expect(raw.CALLFS_DLM__REDIS_ADDR).toMatch(/Homelockcacheendpoint.*Parameter\.Value/);
    const readers = resourcesOf(t, 'Custom::AWS').map(([, r]) => JSON.stringify(r.Properties.Create));
    expect(readers.filter((c) => c.includes('/geo-callfs/eu/metadata-endpoint') && c.includes('eu-west-1'))).toHaveLength(1);
    expect(readers.filter((c) => c.includes('/geo-callfs/eu/lock-cache-endpoint') && c.includes('eu-west-1'))).toHaveLength(1);
  });

  it('passes every secret as a Secrets Manager reference', () => {
    for (const stack of ['GeoCallfs-eu', 'GeoCallfs-us']) {
      const secrets = container(template(app, stack)).Secrets;
      expect(secrets.map((s) => s.Name).sort()).toEqual(['CALLFS_AUTH__API_KEYS', 'CALLFS_AUTH__INTERNAL_PROXY_SECRET', 'CALLFS_AUTH__SINGLE_USE_LINK_SECRET', 'CALLFS_DLM__REDIS_PASSWORD', 'PGPASSWORD']);
      for (const s of secrets) expect(JSON.stringify(s.ValueFrom)).toMatch(/secretsmanager|Ref/);
      const names = container(template(app, stack)).Environment.map((e) => e.Name);
      expect(names.filter((n) => /AUTH|PASSWORD|SECRET/.test(n))).toEqual([]);
    }
  });

  it.each(['GeoCallfs-eu', 'GeoCallfs-us'])('is a configuration the node accepts (%s, through its own loader)', (stack) => {
    const env: Record<string, string> = {
      ...environment(template(app, stack)),
      CALLFS_AUTH__API_KEYS: 'a-generated-api-key-of-48-characters-000000000000',
      CALLFS_AUTH__INTERNAL_PROXY_SECRET: 'a-generated-internal-secret-000000000000000000000',
      CALLFS_AUTH__SINGLE_USE_LINK_SECRET: 'a-generated-link-secret-0000000000000000000000000',
      CALLFS_DLM__REDIS_PASSWORD: 'a-generated-token',
      CALLFS_INSTANCE_DISCOVERY__INSTANCE_ID: 'eu-0123456789abcdef',
    };
    const config = loadConfig({ argv: [], env, cwd: '/app', readFile: () => null });
    expect(config.server).toMatchObject({ listenPort: 8080, protocol: 'https', tlsSelfSigned: true, certFile: null, externalUrl: 'https://files.example.com' });
    expect(config.metadataStore.type).toBe('postgres');
    expect(config.dlm).toMatchObject({ type: 'redis', redisAddr: 'resolved.internal.example:6379', redisPassword: 'a-generated-token', tls: true });
    expect(config.backend).toMatchObject({ defaultBackend: 's3', localfsRootPath: null });
    expect(config.backend.s3).toMatchObject({ bucket: expect.stringMatching(/^geo-callfs-/) as unknown, region: expect.stringMatching(/^(eu-west|us-east)-1$/) as unknown });
    expect(config.auth.users).toHaveLength(1);
    const [self, other] = stack === 'GeoCallfs-eu' ? ['eu', 'us'] : ['us', 'eu'];
    expect(config.instanceDiscovery.region).toBe(self);
    expect(config.backend.s3RegionBuckets).toEqual({ [other]: { bucket: `geo-callfs-123456789012-${other === 'eu' ? 'eu-west-1' : 'us-east-1'}`, region: other === 'eu' ? 'eu-west-1' : 'us-east-1', endpoint: null } });
    if (config.metadataStore.type !== 'postgres') throw new Error('expected postgres');
    expect(config.metadataStore.readDsn === null).toBe(stack === 'GeoCallfs-eu');
  });
});

describe('what a RegionStack publishes and serves', () => {
  it('publishes its endpoints, VPC and route tables as SSM parameters of its own region', () => {
    const t = template(app, 'GeoCallfs-eu');
    for (const value of ['vpc-id', 'route-table-ids', 'metadata-endpoint', 'lock-cache-endpoint', 'bucket-name', 'load-balancer-dns']) {
      t.hasResourceProperties('AWS::SSM::Parameter', { Name: `/geo-callfs/eu/${value}`, Type: 'String' });
    }
  });

  it('serves its own hostname as an alias to its load balancer', () => {
    template(app, 'GeoCallfs-us').hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'us.files.example.com.',
      Type: 'A',
      HostedZoneId: 'Z0123456789ABCDEFGHIJ',
      AliasTarget: Match.objectLike({ EvaluateTargetHealth: true, DNSName: Match.anyValue() }),
    });
  });

  it('requests a DNS-validated certificate for its hostname and the global one, unless the region file names one', () => {
    template(app, 'GeoCallfs-us').hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'us.files.example.com',
      SubjectAlternativeNames: ['files.example.com'],
      ValidationMethod: 'DNS',
    });
    const given = template(withCertificate, 'GeoCallfs-us');
    given.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    given.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Certificates: [{ CertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555' }] });
  });
});
