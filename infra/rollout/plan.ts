/**
 * @module The rollout planner: which `cdk deploy` (and, for a removed region, which delete)
 * steps bring the deployment from what was last rolled out (the recorded state) to what
 * `regions/` says now, in an order where every step finds what it reads in other regions. Pure:
 * no I/O, no synthesis; `test/infra/rollout-proof.test.ts` proves the orders against the
 * synthesized templates, and scripts/deploy.ts prints and applies them.
 *
 * The rules behind the orders:
 * - Region stacks read the shared secrets from their own AWS region, so the secrets stack (which
 *   replicates them) goes before a new region and after a removed one.
 * - A replication rule needs its destination bucket, so a stack deployed before another region's
 *   stack leaves that region out (`pendingRegions`) and is deployed again after it.
 * - A region reads the home's endpoints and dials the regions before it in the rollout order
 *   (SSM parameters they publish), so regions go in rollout order.
 * - The global hostname goes last when regions are added (it aliases their hostnames) and first
 *   when they are removed (users leave a region before it goes).
 * - A home move changes no database, secret or peering: the drills promoted the database; the
 *   stacks only change what the nodes are told, the new home first.
 */
import { databaseOriginOf, rolloutOrder, type DatabaseOrigin, type Region } from '../../regions/schema.js';
import { GLOBAL_STACK_NAME, GLOBAL_STACK_REGION, SECRETS_STACK_NAME, databaseIdentifier, regionStackName } from '../config/names.js';

export type Scenario = 'first-rollout' | 'add-region' | 'remove-region' | 'move-home' | 'update';

export type RolloutStep =
  | {
      readonly kind: 'deploy';
      readonly stack: string;
      readonly awsRegion: string;
      /** Regions whose buckets do not exist yet when this step runs (context `pendingRegions`). */
      readonly pendingRegions: readonly string[];
      readonly why: string;
    }
  | {
      readonly kind: 'destroy';
      readonly stack: string;
      readonly awsRegion: string;
      /** The removed region's database identifier (its deletion protection is turned off first). */
      readonly databaseIdentifier: string;
      readonly why: string;
    };

export interface RolloutPlan {
  readonly scenario: Scenario;
  /** One paragraph: what changes and what must already be true. */
  readonly summary: string;
  readonly steps: readonly RolloutStep[];
}

/** What the planner knows about the deployment: the region files as of the last completed rollout. */
export interface DeployedState {
  readonly regions: readonly Region[];
}

export interface PlanOptions {
  /** Only the change concerning this region (`--region`). */
  readonly region?: string;
}

/** A change the planner refuses, with what to do instead. */
export class PlanRefused extends Error {}

const names = (regions: readonly Region[]): string => regions.map((r) => r.name).join(', ');

function deploy(region: Region, pendingRegions: readonly string[], why: string): RolloutStep {
  return { kind: 'deploy', stack: regionStackName(region), awsRegion: region.awsRegion, pendingRegions, why };
}

function secretsStep(target: readonly Region[], why: string): RolloutStep {
  const [founding] = rolloutOrder(target);
  if (founding === undefined) throw new PlanRefused('regions/ is empty');
  return { kind: 'deploy', stack: SECRETS_STACK_NAME, awsRegion: founding.awsRegion, pendingRegions: [], why };
}

function globalStep(why: string): RolloutStep {
  return { kind: 'deploy', stack: GLOBAL_STACK_NAME, awsRegion: GLOBAL_STACK_REGION, pendingRegions: [], why };
}

function originText(origin: DatabaseOrigin): string {
  return origin.kind === 'primary' ? `'primary'` : `{ replicaOf: '${origin.of}' }`;
}

function homeOf(regions: readonly Region[]): Region {
  const home = regions.find((r) => r.role === 'home');
  if (home === undefined) throw new PlanRefused('regions/: no home region');
  return home;
}

/**
 * The rollout from `state` (undefined: nothing deployed yet) to `target` (regions/ now).
 * Throws PlanRefused for changes it cannot order safely, saying what to do instead.
 */
export function planRollout(state: DeployedState | undefined, target: readonly Region[], options: PlanOptions = {}): RolloutPlan {
  const ordered = rolloutOrder(target);
  if (state === undefined || state.regions.length === 0) return firstRollout(ordered, options);

  const before = new Map(state.regions.map((r) => [r.name, r]));
  const after = new Map(target.map((r) => [r.name, r]));
  const added = ordered.filter((r) => !before.has(r.name));
  const removed = rolloutOrder(state.regions).filter((r) => !after.has(r.name));
  const oldHome = homeOf(state.regions);
  const newHome = homeOf(target);
  const moved = oldHome.name !== newHome.name;

  // Facts fixed at creation must not change: a change would replace a database or move a VPC.
  for (const region of target.filter((r) => before.has(r.name))) {
    const previous = before.get(region.name);
    if (previous === undefined) continue;
    const was = databaseOriginOf(previous, state.regions);
    const now = databaseOriginOf(region, target);
    if (originText(was) !== originText(now)) {
      throw new PlanRefused(
        `regions/${region.name}.ts: its database was created as ${originText(was)} and would now be declared as ${originText(now)}, which replaces it. ` +
          `Write databaseOrigin: ${originText(was)} into regions/${region.name}.ts (a promotion moves role, never the origin).`,
      );
    }
    for (const field of ['awsRegion', 'cidr'] as const) {
      if (previous[field] !== region[field]) throw new PlanRefused(`regions/${region.name}.ts: ${field} changed from ${previous[field]} to ${region[field]}; that is a new region: add it under a new name and remove the old one`);
    }
    if (JSON.stringify(previous.availabilityZones) !== JSON.stringify(region.availabilityZones)) {
      throw new PlanRefused(`regions/${region.name}.ts: availabilityZones changed; subnets, database and cache would be rebuilt. Add the region under a new name instead`);
    }
  }

  const kinds = [added.length > 0, removed.length > 0, moved].filter(Boolean).length;
  if (kinds > 1) {
    throw new PlanRefused(
      `regions/ has more than one kind of change since the last rollout (${[added.length > 0 ? `added ${names(added)}` : '', removed.length > 0 ? `removed ${names(removed)}` : '', moved ? `home ${oldHome.name} → ${newHome.name}` : '']
        .filter(Boolean)
        .join('; ')}); roll them out one at a time (commit and apply one, then the next)`,
    );
  }
  if (added.length > 0) return addRegions(ordered, added, options);
  if (removed.length > 0) return removeRegions(state.regions, ordered, removed, newHome, options);
  if (moved) return moveHome(ordered, oldHome, newHome, options);
  return update(ordered, options);
}

function onlyRegion(options: PlanOptions, concerned: readonly Region[], scenario: string): void {
  if (options.region === undefined) return;
  if (!concerned.some((r) => r.name === options.region)) {
    throw new PlanRefused(`--region ${options.region}: the pending change is ${scenario}, which concerns ${names(concerned)}; run the plan without --region, or for one of those`);
  }
}

function firstRollout(ordered: readonly Region[], options: PlanOptions): RolloutPlan {
  onlyRegion(options, ordered, 'the first rollout');
  const steps: RolloutStep[] = [secretsStep(ordered, 'every region stack reads the shared secrets (and its database the master password) from its own AWS region; this stack creates them and their copies')];
  const deployed: string[] = [];
  ordered.forEach((region, i) => {
    const later = ordered.slice(i + 1).map((r) => r.name);
    const reads = i === 0 ? 'creates the primary database and the lock home' : `reads the home's endpoints (${ordered[0]?.name ?? ''}) and dials ${deployed.join(', ')}, deployed before it`;
    steps.push(deploy(region, later, `${reads}${later.length > 0 ? `; no replication rules yet to ${later.join(', ')}, whose buckets do not exist` : ''}`));
    deployed.push(region.name);
  });
  for (const [i, region] of ordered.entries()) {
    if (i === ordered.length - 1) continue;
    steps.push(deploy(region, [], `again, now that every bucket exists: adds its replication rules to ${ordered.slice(i + 1).map((r) => r.name).join(', ')}`));
  }
  steps.push(globalStep('last: its latency records alias the region hostnames created above'));
  return {
    scenario: 'first-rollout',
    summary: `First rollout of ${names(ordered)} (home ${homeOf(ordered).name}): secrets, then each region in rollout order, then the regions again for the replication rules the first pass could not add, then the global hostname.`,
    steps,
  };
}

function addRegions(ordered: readonly Region[], added: readonly Region[], options: PlanOptions): RolloutPlan {
  onlyRegion(options, added, `adding ${names(added)}`);
  const steps: RolloutStep[] = [secretsStep(ordered, `first: adds copies of the shared secrets in ${added.map((r) => r.awsRegion).join(', ')}, which the new stack reads when it is created`)];
  for (const [i, region] of added.entries()) {
    const later = added.slice(i + 1).map((r) => r.name);
    steps.push(deploy(region, later, `its read replica, peering and replication rules point at regions that exist already${later.length > 0 ? `; none yet to ${later.join(', ')}` : ''}`));
  }
  for (const region of ordered) {
    const isNew = added.includes(region);
    if (isNew && added.indexOf(region) === added.length - 1) continue;
    steps.push(
      deploy(
        region,
        [],
        isNew
          ? `again: adds its replication rules to the regions added after it`
          : `after ${names(added)}: gains replication rules to the new bucket${added.length > 1 ? 's' : ''}, firewall rules for the new range${ordered.indexOf(region) > Math.min(...added.map((a) => ordered.indexOf(a))) ? ', and dials the new region (it comes later in the rollout order)' : ''}`,
      ),
    );
  }
  steps.push(globalStep(`last: adds the latency record of ${names(added)} once the region answers`));
  return {
    scenario: 'add-region',
    summary: `Adding ${names(added)}: secrets copies first, then the new stack, then every existing region, then the global hostname.`,
    steps,
  };
}

function removeRegions(previous: readonly Region[], ordered: readonly Region[], removed: readonly Region[], home: Region, options: PlanOptions): RolloutPlan {
  onlyRegion(options, removed, `removing ${names(removed)}`);
  for (const region of removed) {
    if (region.name === home.name || previous.find((r) => r.name === region.name)?.role === 'home') {
      throw new PlanRefused(`cannot remove ${region.name}: it is the home region. Move the home first (npm run drill -- primary-failover <region>, then edit role in regions/ and apply), then remove it`);
    }
    const dependents = ordered.filter((r) => {
      const origin = databaseOriginOf(r, ordered);
      return origin.kind === 'replica' && origin.of === region.name;
    });
    const founding = databaseOriginOf(region, previous).kind === 'primary';
    if (founding || dependents.length > 0) {
      throw new PlanRefused(
        `cannot remove ${region.name}: ${founding ? 'its database was created as the primary and the shared secrets live in its AWS region' : `the databases of ${names(dependents)} were created as replicas of it`}; the planner does not retire a founding region (see infra/README.md, "Removing a region")`,
      );
    }
  }
  const steps: RolloutStep[] = [globalStep(`first: takes ${names(removed)} out of the global hostname, so users leave before it goes`)];
  for (const region of ordered) {
    steps.push(deploy(region, [], `drops its replication rules, peering, firewall and read-through settings for ${names(removed)} while the region still exists (the peering's return routes live in its route tables)`));
  }
  for (const region of removed) {
    steps.push({
      kind: 'destroy',
      stack: regionStackName(region),
      awsRegion: region.awsRegion,
      databaseIdentifier: databaseIdentifier(region),
      why: 'nothing refers to it any more; its bucket and KMS keys are retained and its database leaves a final snapshot',
    });
  }
  steps.push(secretsStep(ordered, `last: drops the secrets copies in ${removed.map((r) => r.awsRegion).join(', ')}, which the removed stack read until it was deleted`));
  return {
    scenario: 'remove-region',
    summary: `Removing ${names(removed)}: out of DNS first, then every other region forgets it, then its stack is deleted, then its secrets copies.`,
    steps,
  };
}

function moveHome(ordered: readonly Region[], oldHome: Region, newHome: Region, options: PlanOptions): RolloutPlan {
  onlyRegion(options, [newHome, oldHome], `moving the home from ${oldHome.name} to ${newHome.name}`);
  const steps: RolloutStep[] = [deploy(newHome, [], `the new home first: its nodes write to their own (promoted) database and lock in their own Redis; its backups are replicated from now on`)];
  for (const region of ordered.filter((r) => r.name !== newHome.name)) {
    steps.push(deploy(region, [], `its nodes now write to ${newHome.name}'s database and lock in ${newHome.name}'s Redis (read from ${newHome.name}'s SSM parameters, published since its first deploy)`));
  }
  return {
    scenario: 'move-home',
    summary:
      `Moving the home from ${oldHome.name} to ${newHome.name}. Before applying: the drill has promoted ${newHome.name}'s database and moved the lock home ` +
      `(npm run drill -- primary-failover ${newHome.name} --provider aws), and every region file keeps its databaseOrigin. No database, secret, cache, bucket or peering changes.`,
    steps,
  };
}

function update(ordered: readonly Region[], options: PlanOptions): RolloutPlan {
  const targets = options.region === undefined ? ordered : ordered.filter((r) => r.name === options.region);
  if (targets.length === 0) throw new PlanRefused(`--region ${options.region ?? ''}: no such region in regions/`);
  const steps: RolloutStep[] = [];
  if (options.region === undefined) steps.push(secretsStep(ordered, 'no cross-region change: everything is redeployed in rollout order, so a bad change stops at the first stack'));
  for (const region of targets) steps.push(deploy(region, [], options.region === undefined ? 'in rollout order' : 'only this region (--region)'));
  if (options.region === undefined) steps.push(globalStep('last, as always'));
  return { scenario: 'update', summary: `No region added, removed or moved: redeploy ${names(targets)}${options.region === undefined ? ' with the secrets and global stacks' : ''}.`, steps };
}

/** The commands a step runs (`cdkArgs`: context flags passed to every cdk command). */
export function stepCommands(step: RolloutStep, cdkArgs: readonly string[]): string[][] {
  if (step.kind === 'deploy') {
    const pending = step.pendingRegions.length > 0 ? ['-c', `pendingRegions=${step.pendingRegions.join(',')}`] : [];
    return [['npx', 'cdk', 'deploy', step.stack, '--exclusively', '--require-approval', 'never', ...cdkArgs, ...pending]];
  }
  const region = ['--region', step.awsRegion];
  return [
    ['aws', 'rds', 'modify-db-instance', '--db-instance-identifier', step.databaseIdentifier, '--no-deletion-protection', '--apply-immediately', ...region],
    ['aws', 'cloudformation', 'update-termination-protection', '--no-enable-termination-protection', '--stack-name', step.stack, ...region],
    ['aws', 'cloudformation', 'delete-stack', '--stack-name', step.stack, ...region],
    ['aws', 'cloudformation', 'wait', 'stack-delete-complete', '--stack-name', step.stack, ...region],
  ];
}

/** The plan as the CLI prints it. */
export function renderPlan(plan: RolloutPlan, cdkArgs: readonly string[]): string {
  const lines = [`scenario: ${plan.scenario}`, plan.summary, ''];
  plan.steps.forEach((step, i) => {
    lines.push(`${String(i + 1).padStart(2)}. ${step.kind} ${step.stack} (${step.awsRegion})${step.kind === 'deploy' && step.pendingRegions.length > 0 ? ` without rules to ${step.pendingRegions.join(', ')}` : ''}`);
    lines.push(`    why: ${step.why}`);
    for (const command of stepCommands(step, cdkArgs)) lines.push(`    $ ${command.join(' ')}`);
  });
  return lines.join('\n');
}
