/**
 * @module buildGeoApp: the whole CDK app from the region list and the deployment settings: the
 * SecretsStack, one RegionStack per region (in rollout order: the founding region, then the
 * others by name), one GlobalStack, tags, and cdk-nag's AwsSolutions checks at the root.
 * main.ts calls it with the real context; the tests call it with regions and settings of their
 * own, optionally building only some stacks (synthesis time grows with every stack).
 */
import { Tags, type App, type Stack } from 'aws-cdk-lib';
import { rolloutOrder, type Region } from '../regions/schema.js';
import { applyNagChecks } from './aspects/nag.js';
import { GLOBAL_STACK_NAME, SECRETS_STACK_NAME, regionStackName } from './config/names.js';
import type { DeploymentSettings } from './config/settings.js';
import { GlobalStack } from './stacks/global-stack.js';
import { RegionStack } from './stacks/region-stack.js';
import { SecretsStack } from './stacks/secrets-stack.js';

export interface GeoApp {
  readonly app: App;
  readonly secretsStack?: SecretsStack;
  /** Region stacks by region name, in rollout order. */
  readonly regionStacks: ReadonlyMap<string, RegionStack>;
  readonly globalStack?: GlobalStack;
  /** Every stack built, in rollout order. */
  readonly stacks: readonly Stack[];
}

export interface BuildOptions {
  /**
   * Register cdk-nag on the app.
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Build only the stacks of these names (the others are left out of the app).
   * @default every stack
   */
  readonly only?: readonly string[];
}

export function buildGeoApp(app: App, regions: readonly Region[], settings: DeploymentSettings, options: BuildOptions = {}): GeoApp {
  const wanted = (name: string): boolean => options.only === undefined || options.only.includes(name);
  const ordered = rolloutOrder(regions);
  const stacks: Stack[] = [];
  const secretsStack = wanted(SECRETS_STACK_NAME) ? new SecretsStack(app, SECRETS_STACK_NAME, { regions: ordered, settings }) : undefined;
  if (secretsStack !== undefined) stacks.push(secretsStack);
  const regionStacks = new Map<string, RegionStack>();
  for (const region of ordered.filter((r) => wanted(regionStackName(r)))) {
    const stack = new RegionStack(app, regionStackName(region), { region, regions: ordered, settings });
    regionStacks.set(region.name, stack);
    stacks.push(stack);
  }
  const globalStack = wanted(GLOBAL_STACK_NAME) ? new GlobalStack(app, GLOBAL_STACK_NAME, { regions: ordered, settings }) : undefined;
  if (globalStack !== undefined) stacks.push(globalStack);
  Tags.of(app).add('project', 'geo-callfs');
  Tags.of(app).add('stage', settings.stage);
  if (options.nag ?? true) applyNagChecks(app);
  return { app, ...(secretsStack === undefined ? {} : { secretsStack }), regionStacks, ...(globalStack === undefined ? {} : { globalStack }), stacks };
}
