import { describe, expect, it } from 'vitest';
import { REGIONS } from './index.js';
import { parseRegion, RegionSetSchema } from './schema.js';

const good = { name: 'eu', awsRegion: 'eu-west-1', role: 'home', nodeCount: 2, bucketName: 'b-eu', cidr: '10.1.0.0/16', dnsWeight: 1, healthCheckPath: '/ready' };

describe('regions', () => {
  it('ships exactly one home region', () => {
    expect(REGIONS.filter((r) => r.role === 'home').map((r) => r.name)).toEqual(['eu']);
  });

  it('names the file and the field of a bad region', () => {
    expect(() => parseRegion('x.ts', { ...good, awsRegion: 'Europe' })).toThrow(/^regions\/x\.ts: awsRegion: an AWS region code/);
  });

  it('rejects two homes, duplicate names and overlapping CIDRs', () => {
    const result = RegionSetSchema.safeParse([good, { ...good, cidr: '10.1.128.0/17' }]);
    expect(result.success).toBe(false);
    const messages = result.error?.issues.map((i) => i.message).join('|') ?? '';
    expect(messages).toMatch(/exactly one region/);
    expect(messages).toMatch(/used twice/);
    expect(messages).toMatch(/overlapping CIDRs/);
  });
});
