import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { REGIONS } from '../../regions/index.js';
import { FEATURE_FLAGS } from '../../infra/config/feature-flags.js';
import { GlobalStack } from '../../infra/stacks/global-stack.js';
import { resourcesOf, testSettings } from './support.js';

function globalTemplate(regions = REGIONS): Template {
  const app = new App({ context: { ...FEATURE_FLAGS } });
  return Template.fromStack(new GlobalStack(app, 'Global', { regions, settings: testSettings() }));
}

describe('LatencyRecord (in the global stack)', () => {
  const t = globalTemplate();

  it.each(REGIONS.map((r) => [r.name, r] as const))('answers for region %s with a latency record tied to its health check', (name, region) => {
    const [checkId] = resourcesOf(t, 'AWS::Route53::HealthCheck').find(([, r]) => JSON.stringify(r.Properties).includes(`"${name}.files.example.com"`)) ?? [];
    expect(checkId).toBeDefined();
    t.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'files.example.com.',
      Type: 'A',
      HostedZoneId: 'Z0123456789ABCDEFGHIJ',
      Region: region.awsRegion,
      SetIdentifier: name,
      HealthCheckId: { Ref: checkId },
      AliasTarget: { DNSName: `${name}.files.example.com.`, HostedZoneId: 'Z0123456789ABCDEFGHIJ', EvaluateTargetHealth: true },
    });
    t.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({
        Type: 'HTTPS',
        FullyQualifiedDomainName: `${name}.files.example.com`,
        Port: 443,
        ResourcePath: region.healthCheckPath,
        EnableSNI: true,
        RequestInterval: 10,
        FailureThreshold: 3,
      }),
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'HealthCheckStatus',
      Namespace: 'AWS/Route53',
      Dimensions: [{ Name: 'HealthCheckId', Value: { Ref: checkId } }],
    });
  });

  it('has exactly one record and one health check per region, and lives in us-east-1', () => {
    t.resourceCountIs('AWS::Route53::RecordSet', REGIONS.length);
    t.resourceCountIs('AWS::Route53::HealthCheck', REGIONS.length);
  });

  it('leaves a drained region (dnsWeight 0) out of the answers', () => {
    const drained = globalTemplate(REGIONS.map((r) => (r.name === 'ap' ? { ...r, dnsWeight: 0 } : r)));
    drained.resourceCountIs('AWS::Route53::RecordSet', REGIONS.length - 1);
    expect(resourcesOf(drained, 'AWS::Route53::RecordSet').map(([, r]) => r.Properties.SetIdentifier)).not.toContain('ap');
  });
});
