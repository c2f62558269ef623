/**
 * The offline proof of the rollout planner's orders: for each scenario (first rollout of three
 * regions, adding a fourth, removing one, moving the home), every planned step is synthesized
 * as `cdk deploy` would synthesize it, and proveRollout checks that each step's cross-region
 * inputs exist when it runs, that nothing deployed loses an input it keeps using, and that no
 * step replaces a stateful resource. Swapping two steps makes the proof fail. Templates are
 * synthesized one stack at a time and cached: the scenarios share most of them.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { REGION_FILES, REGIONS } from '../../regions/index.js';
import { loadRegions, type Region } from '../../regions/schema.js';
import { GLOBAL_STACK_NAME, GLOBAL_STACK_REGION, SECRETS_STACK_NAME, regionStackName } from '../../infra/config/names.js';
import { proveRollout, replacements, stackFacts, type CfnTemplate, type DeployedStack, type ProofStep } from '../../infra/rollout/cross-region.js';
import { PlanRefused, planRollout, type RolloutPlan, type RolloutStep } from '../../infra/rollout/plan.js';
import { ACCOUNT, SA_REGION_FILE, regionsWith, synthesizeApp, testSettings } from './support.js';

// Synthesis and the proof's template walks are slow on a loaded machine; behaviour is asserted, not speed.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 900_000 });

const cache = new Map<string, CfnTemplate>();

/** The template `cdk deploy <stack> -c pendingRegions=...` would deploy with these region files. */
function templateOf(regions: readonly Region[], stack: string, pending: readonly string[] = []): CfnTemplate {
  const key = JSON.stringify([regions.map((r) => [r.name, r.role, r.databaseOrigin ?? null]), stack, pending]);
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const synthesized = synthesizeApp(regions, testSettings({ pendingRegions: pending }), false, [stack]);
  const template = synthesized.templates.get(stack)?.toJSON() as CfnTemplate | undefined;
  if (template === undefined) throw new Error(`no stack ${stack}`);
  cache.set(key, template);
  return template;
}

function awsRegionOf(regions: readonly Region[], stack: string): string {
  if (stack === GLOBAL_STACK_NAME) return GLOBAL_STACK_REGION;
  if (stack === SECRETS_STACK_NAME) return regions[0]?.awsRegion ?? '';
  const region = regions.find((r) => regionStackName(r) === stack);
  if (region === undefined) throw new Error(`no region for ${stack}`);
  return region.awsRegion;
}

/** Everything deployed after a complete rollout of `regions`. */
function deployedState(regions: readonly Region[]): Map<string, DeployedStack> {
  const stacks = [SECRETS_STACK_NAME, ...regions.map(regionStackName), GLOBAL_STACK_NAME];
  return new Map(stacks.map((stack) => [stack, { awsRegion: awsRegionOf(regions, stack), template: templateOf(regions, stack) }]));
}

function proofSteps(target: readonly Region[], steps: readonly RolloutStep[]): ProofStep[] {
  return steps.map((step) => (step.kind === 'destroy' ? { kind: 'destroy', stack: step.stack } : { kind: 'deploy', stack: step.stack, awsRegion: step.awsRegion, template: templateOf(target, step.stack, step.pendingRegions) }));
}

const swap = <T>(list: readonly T[], a: number, b: number): T[] => {
  const copy = [...list];
  const first = copy[a];
  const second = copy[b];
  if (first === undefined || second === undefined) throw new Error('no such step');
  copy[a] = second;
  copy[b] = first;
  return copy;
};

const summary = (plan: RolloutPlan): string[] => plan.steps.map((s) => `${s.kind} ${s.stack}${s.kind === 'deploy' && s.pendingRegions.length > 0 ? ` -${s.pendingRegions.join(',')}` : ''}`);

const three = REGIONS;
const withSa = regionsWith({ 'sa.ts': SA_REGION_FILE });
const withoutUs = loadRegions({ 'eu.ts': REGION_FILES['eu.ts'], 'ap.ts': REGION_FILES['ap.ts'] });
const homeInUs = three.map((r) => ({ ...r, role: r.name === 'us' ? ('home' as const) : ('secondary' as const) }));

describe('the stacks\' cross-region facts', () => {
  it('finds what a secondary region reads elsewhere and what it publishes', () => {
    const facts = stackFacts(templateOf(three, 'GeoCallfs-us'), 'us-east-1', ACCOUNT);
    const inputs = new Set(facts.inputs.map((i) => `${i.kind} ${i.name} in ${i.awsRegion}${i.continuous ? '' : ' (at creation)'}`));
    for (const expected of [
      'secret geo-callfs/api-keys in us-east-1',
      'secret geo-callfs/metadata-db in us-east-1',
      'secret geo-callfs/lock-cache-token in us-east-1',
      'ssm-parameter /geo-callfs/eu/metadata-endpoint in eu-west-1 (at creation)',
      'ssm-parameter /geo-callfs/ap/vpc-id in ap-southeast-1 (at creation)',
      'database geo-callfs-metadata-eu in eu-west-1 (at creation)',
      `bucket geo-callfs-${ACCOUNT}-eu-west-1 in *`,
      `bucket geo-callfs-${ACCOUNT}-ap-southeast-1 in *`,
    ]) {
      expect(inputs).toContain(expected);
    }
    const outputs = new Set(facts.outputs.map((o) => `${o.kind} ${o.name} in ${o.awsRegion}`));
    expect(outputs).toContain('ssm-parameter /geo-callfs/us/vpc-id in us-east-1');
    expect(outputs).toContain(`bucket geo-callfs-${ACCOUNT}-us-east-1 in *`);
    expect(outputs).toContain('database geo-callfs-metadata-us in us-east-1');
    expect(outputs).toContain('kms-alias alias/geo-callfs-metadata-us in us-east-1');
  });
});

describe('first rollout of three regions', () => {
  const plan = planRollout(undefined, three);
  let steps: ProofStep[];
  beforeAll(() => {
    steps = proofSteps(three, plan.steps);
  });

  it('plans secrets, each region without rules to later ones, the regions again, then global', () => {
    expect(summary(plan)).toEqual([
      'deploy GeoCallfs-Secrets',
      'deploy GeoCallfs-eu -ap,us',
      'deploy GeoCallfs-ap -us',
      'deploy GeoCallfs-us',
      'deploy GeoCallfs-eu',
      'deploy GeoCallfs-ap',
      'deploy GeoCallfs-Global',
    ]);
  });

  it('is proven by the templates: every step finds its inputs', () => {
    expect(proveRollout(new Map(), steps, ACCOUNT)).toEqual([]);
  });

  it('fails the proof when the secrets come after the home region', () => {
    const problems = proveRollout(new Map(), swap(steps, 0, 1), ACCOUNT);
    expect(problems.join('\n')).toMatch(/step 1 \(deploy GeoCallfs-eu\): .* needs secret geo-callfs\/api-keys in eu-west-1, which no deployed stack provides yet/);
  });

  it('fails the proof when a region comes before the one whose endpoints it reads', () => {
    expect(proveRollout(new Map(), swap(steps, 1, 2), ACCOUNT).join('\n')).toMatch(/step 2 \(deploy GeoCallfs-ap\): .* needs ssm-parameter \/geo-callfs\/eu\/metadata-endpoint in eu-west-1/);
  });

  it('fails the proof when a replication rule goes out before its destination bucket exists', () => {
    // The second pass of eu (rules to ap and us) moved before us exists.
    expect(proveRollout(new Map(), swap(steps, 3, 4), ACCOUNT).join('\n')).toMatch(new RegExp(`step 4 \\(deploy GeoCallfs-eu\\): .* needs bucket geo-callfs-${ACCOUNT}-us-east-1`));
  });
});

describe('adding a fourth region', () => {
  const plan = planRollout({ regions: three }, withSa);
  let before: Map<string, DeployedStack>;
  let steps: ProofStep[];
  beforeAll(() => {
    before = deployedState(three);
    steps = proofSteps(withSa, plan.steps);
  });

  it('plans the secrets copies, the new stack, every existing region, then global', () => {
    expect(plan.scenario).toBe('add-region');
    expect(summary(plan)).toEqual(['deploy GeoCallfs-Secrets', 'deploy GeoCallfs-sa', 'deploy GeoCallfs-eu', 'deploy GeoCallfs-ap', 'deploy GeoCallfs-us', 'deploy GeoCallfs-Global']);
  });

  it('is proven by the templates, replacing nothing', () => {
    expect(proveRollout(before, steps, ACCOUNT)).toEqual([]);
  });

  it('fails the proof when the new region comes before its secrets copies', () => {
    expect(proveRollout(before, swap(steps, 0, 1), ACCOUNT).join('\n')).toMatch(/step 1 \(deploy GeoCallfs-sa\): .* needs secret geo-callfs\/api-keys in sa-east-1/);
  });

  it('fails the proof when an existing region adds its rule to the new bucket before the bucket exists', () => {
    expect(proveRollout(before, swap(steps, 1, 2), ACCOUNT).join('\n')).toMatch(new RegExp(`step 2 \\(deploy GeoCallfs-eu\\): .* needs bucket geo-callfs-${ACCOUNT}-sa-east-1`));
  });
});

describe('removing a region', () => {
  const plan = planRollout({ regions: three }, withoutUs);
  let before: Map<string, DeployedStack>;
  let steps: ProofStep[];
  beforeAll(() => {
    before = deployedState(three);
    steps = proofSteps(withoutUs, plan.steps);
  });

  it('plans DNS first, the others forgetting it, its deletion, then its secrets copies', () => {
    expect(plan.scenario).toBe('remove-region');
    expect(summary(plan)).toEqual(['deploy GeoCallfs-Global', 'deploy GeoCallfs-eu', 'deploy GeoCallfs-ap', 'destroy GeoCallfs-us', 'deploy GeoCallfs-Secrets']);
  });

  it('is proven by the templates, replacing nothing that stays', () => {
    expect(proveRollout(before, steps, ACCOUNT)).toEqual([]);
  });

  it('fails the proof when the stack is deleted while others still replicate to its bucket', () => {
    expect(proveRollout(before, swap(steps, 2, 3), ACCOUNT).join('\n')).toMatch(new RegExp(`after step 3 \\(destroy GeoCallfs-us\\): GeoCallfs-ap .* still uses bucket geo-callfs-${ACCOUNT}-us-east-1`));
  });

  it('fails the proof when the secrets copies go while the region still runs', () => {
    expect(proveRollout(before, swap(steps, 3, 4), ACCOUNT).join('\n')).toMatch(/after step 4 \(deploy GeoCallfs-Secrets\): GeoCallfs-us .* still uses secret geo-callfs\/api-keys in us-east-1/);
  });

  it('refuses to remove the home region, and regions/ refuses to lose the region the others were created from', () => {
    const stateHomeInAp = three.map((r) => ({ ...r, role: r.name === 'ap' ? ('home' as const) : ('secondary' as const) }));
    expect(() => planRollout({ regions: stateHomeInAp }, stateHomeInAp.filter((r) => r.name !== 'ap'))).toThrow(PlanRefused);
    expect(() => loadRegions({ 'ap.ts': { ...(REGION_FILES['ap.ts'] as object), role: 'home' }, 'us.ts': REGION_FILES['us.ts'] })).toThrow(/databaseOrigin/);
  });
});

describe('moving the home region (after a promotion)', () => {
  const plan = planRollout({ regions: three }, homeInUs);
  let before: Map<string, DeployedStack>;
  let steps: ProofStep[];
  beforeAll(() => {
    before = deployedState(three);
    steps = proofSteps(homeInUs, plan.steps);
  });

  it('plans the new home first, then the other regions, and nothing else', () => {
    expect(plan.scenario).toBe('move-home');
    expect(summary(plan)).toEqual(['deploy GeoCallfs-us', 'deploy GeoCallfs-eu', 'deploy GeoCallfs-ap']);
  });

  it('is proven by the templates: no database, bucket, cache or secret is replaced, the nodes follow the new home', () => {
    expect(proveRollout(before, steps, ACCOUNT)).toEqual([]);
    const us = templateOf(homeInUs, 'GeoCallfs-us');
    expect(JSON.stringify(us)).toContain('"AutomaticBackupReplicationRegion":"eu-west-1"');
    const eu = templateOf(homeInUs, 'GeoCallfs-eu');
    expect(JSON.stringify(eu)).toContain('/geo-callfs/us/metadata-endpoint');
  });

  it('without databaseOrigin in the files, the planner refuses and the templates would replace both databases', () => {
    const unpinned = homeInUs.map(({ databaseOrigin: _dropped, ...rest }) => rest);
    expect(() => planRollout({ regions: three }, unpinned)).toThrow(/regions\/eu\.ts: its database was created as 'primary' and would now be declared as \{ replicaOf: 'us' \}/);
    for (const name of ['eu', 'us']) {
      const stack = `GeoCallfs-${name}`;
      const problems = replacements(templateOf(three, stack), templateOf(unpinned, stack));
      expect(problems.join('\n')).toMatch(/AWS::RDS::DBInstance MetadataDatabase\w+ would be replaced/);
    }
  });
});

describe('the planner\'s other refusals', () => {
  it('refuses two kinds of change at once', () => {
    const both = loadRegions({ 'eu.ts': REGION_FILES['eu.ts'], 'ap.ts': REGION_FILES['ap.ts'], 'sa.ts': SA_REGION_FILE });
    expect(() => planRollout({ regions: three }, both)).toThrow(/more than one kind of change since the last rollout \(added sa; removed us\)/);
  });

  it('limits an ordinary update to one region with --region, and refuses an unrelated one during an add', () => {
    expect(summary(planRollout({ regions: three }, three, { region: 'ap' }))).toEqual(['deploy GeoCallfs-ap']);
    expect(() => planRollout({ regions: three }, withSa, { region: 'ap' })).toThrow(/--region ap: the pending change is adding sa/);
  });
});
