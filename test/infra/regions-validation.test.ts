/**
 * regions/ validation as synthesis sees it: each broken region file stops the app with a message
 * naming the file and the field, and a new region is picked up from its file alone.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { afterAll, describe, expect, it } from 'vitest';
import { AWS_COMMERCIAL_REGIONS } from '../../regions/aws-regions.js';
import { readRegionFolder, REGION_FILES, regionFileNames } from '../../regions/index.js';
import { loadRegions, parseRegion } from '../../regions/schema.js';
import { SA_REGION_FILE } from './support.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const eu = REGION_FILES['eu.ts'] as Record<string, unknown>;
const us = REGION_FILES['us.ts'] as Record<string, unknown>;

describe('a region file', () => {
  it.each([
    ['an unknown AWS region', { ...eu, awsRegion: 'eu-west-9' }, /^regions\/bad\.ts: awsRegion: an AWS region code such as eu-west-1 \("eu-west-9" is not one\)/],
    ['an invalid bucket name', { ...eu, bucketName: 'Not_A_Bucket' }, /^regions\/bad\.ts: bucketName: a valid S3 bucket name/],
    ['an alarm topic of another region', { ...eu, alarmNotifications: [{ topicArn: 'arn:aws:sns:us-east-1:123456789012:pager' }] }, /^regions\/bad\.ts: alarmNotifications\.0\.topicArn: is in us-east-1; CloudWatch alarms notify topics of their own region \(eu-west-1\)/],
    ['a database origin that is not one', { ...eu, databaseOrigin: 'replica' }, /^regions\/bad\.ts: databaseOrigin: /],
    ['a zone of another region', { ...eu, availabilityZones: ['eu-west-1a', 'us-east-1b'] }, /^regions\/bad\.ts: availabilityZones\.1: "us-east-1b" is not a zone of eu-west-1/],
    ['a certificate of another region', { ...eu, certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc-123' }, /^regions\/bad\.ts: certificateArn: is in us-east-1; a load balancer certificate must be in eu-west-1/],
    ['a ceiling under the floor', { ...eu, nodeCount: 4, maxNodeCount: 2 }, /^regions\/bad\.ts: maxNodeCount: must be at least nodeCount \(4\)/],
  ])('with %s is refused, naming the file and field', (_what, data, message) => {
    expect(() => parseRegion('bad.ts', data)).toThrow(message);
  });

  it('names only known AWS regions in its list (checked against aws-cdk-lib)', () => {
    const known = new Set(RegionInfo.regions.map((r) => r.name));
    expect([...AWS_COMMERCIAL_REGIONS].filter((code) => !known.has(code))).toEqual([]);
  });
});

describe('the set of region files', () => {
  it('refuses two home regions, naming both files', () => {
    expect(() => loadRegions({ 'eu.ts': eu, 'us.ts': { ...us, role: 'home' } })).toThrow(/regions\/us\.ts: role: "home" is already taken by regions\/eu\.ts/);
  });

  it('refuses a duplicate name, naming both files', () => {
    expect(() => loadRegions({ 'eu.ts': eu, 'us.ts': { ...us, name: 'eu' } })).toThrow(/regions\/us\.ts: name: "eu" is already used by regions\/eu\.ts/);
  });

  it('refuses a set without a home', () => {
    expect(() => loadRegions({ 'us.ts': us })).toThrow(/regions\/: role: exactly one region must have role "home" \(found none\)/);
  });

  it('refuses a bucket, AWS region or CIDR used twice', () => {
    const twin = { ...us, name: 'us2', cidr: '10.20.128.0/17', bucketName: 'shared-bucket' };
    expect(() => loadRegions({ 'eu.ts': eu, 'us.ts': { ...us, bucketName: 'shared-bucket' }, 'us2.ts': twin })).toThrow(
      /regions\/us2\.ts: awsRegion: "us-east-1" is already used by regions\/us\.ts[\s\S]*regions\/us2\.ts: bucketName: "shared-bucket" is already used[\s\S]*regions\/us2\.ts: cidr: 10\.20\.128\.0\/17 overlaps 10\.20\.0\.0\/16 of regions\/us\.ts/,
    );
  });

  it('refuses two databases created as the primary, or a replica of a region that is not there', () => {
    expect(() => loadRegions({ 'eu.ts': eu, 'us.ts': { ...us, databaseOrigin: 'primary' } })).toThrow(/exactly one region's database is created as the primary \(found eu\.ts, us\.ts\)/);
    expect(() => loadRegions({ 'eu.ts': eu, 'us.ts': { ...us, databaseOrigin: { replicaOf: 'mars' } } })).toThrow(/regions\/us\.ts: databaseOrigin: replicaOf "mars" must name another region of regions\//);
  });
});

describe('the regions/ folder', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'geo-callfs-regions-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('reads every region file and nothing else', () => {
    expect(regionFileNames(join(repo, 'regions'))).toEqual(['ap.ts', 'eu.ts', 'us.ts']);
  });

  it('picks up a fourth region from its file alone', async () => {
    const folder = join(scratch, 'picked-up');
    cpSync(join(repo, 'regions'), folder, { recursive: true });
    writeFileSync(join(folder, 'sa.ts'), `export default ${JSON.stringify(SA_REGION_FILE, null, 2)} as const;\n`);
    const regions = loadRegions(await readRegionFolder(folder));
    expect(regions.map((r) => r.name)).toEqual(['eu', 'ap', 'sa', 'us']);
  });

  it('stops synthesis with the file and field when a region file is broken', async () => {
    const copy = join(scratch, 'synth');
    cpSync(join(repo, 'regions'), join(copy, 'regions'), { recursive: true });
    cpSync(join(repo, 'infra'), join(copy, 'infra'), { recursive: true, filter: (source) => !source.includes('cdk.out') });
    // The node's environment is typed from the app's config schema (app/config/node-environment.ts).
    cpSync(join(repo, 'app'), join(copy, 'app'), { recursive: true });
    cpSync(join(repo, 'package.json'), join(copy, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
    writeFileSync(join(copy, 'regions', 'sa.ts'), `export default ${JSON.stringify({ ...SA_REGION_FILE, awsRegion: 'sa-west-9' })} as const;\n`);
    const run = promisify(execFile)('node', ['--import', 'tsx', 'infra/main.ts'], { cwd: copy, env: { ...process.env, CDK_OUTDIR: join(copy, 'out') } });
    await expect(run).rejects.toMatchObject({ stderr: expect.stringMatching(/regions\/sa\.ts: awsRegion: an AWS region code such as eu-west-1 \("sa-west-9" is not one\)/) as unknown });
  }, 60_000);
});
