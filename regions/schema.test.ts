import { describe, expect, it } from 'vitest';
import { REGIONS } from './index.js';
import { loadRegions, parseRegion } from './schema.js';

const good = {
  name: 'eu',
  awsRegion: 'eu-west-1',
  role: 'home',
  nodeCount: 2,
  maxNodeCount: 4,
  bucketName: 'b-eu',
  cidr: '10.1.0.0/16',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  dnsWeight: 1,
  healthCheckPath: '/ready',
};

describe('regions', () => {
  it('ships exactly one home region, listed first', () => {
    expect(REGIONS.filter((r) => r.role === 'home').map((r) => r.name)).toEqual(['eu']);
    expect(REGIONS[0]?.name).toBe('eu');
  });

  it('names the file and the field of a bad region', () => {
    expect(() => parseRegion('x.ts', { ...good, awsRegion: 'Europe' })).toThrow(/^regions\/x\.ts: awsRegion: an AWS region code/);
  });

  it('rejects two homes, duplicate names and overlapping CIDRs, naming the files', () => {
    const second = { ...good, cidr: '10.1.128.0/17', bucketName: 'b-eu2', awsRegion: 'eu-west-2', availabilityZones: ['eu-west-2a', 'eu-west-2b'], databaseOrigin: { replicaOf: 'eu' } };
    expect(() => loadRegions({ 'a.ts': good, 'b.ts': second })).toThrow(
      /regions\/b\.ts: role: "home" is already taken by regions\/a\.ts[\s\S]*regions\/b\.ts: name: "eu" is already used by regions\/a\.ts[\s\S]*regions\/b\.ts: cidr: 10\.1\.128\.0\/17 overlaps/,
    );
  });

  it('fills the defaults of the sizing fields', () => {
    const region = parseRegion('x.ts', good);
    expect(region).toMatchObject({ nodeCpu: 1024, nodeMemoryMiB: 2048, dbInstanceClass: 'r6g.large', cacheNodeType: 'cache.r6g.large' });
  });
});
