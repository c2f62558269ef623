/**
 * @module buildGeoApp: the whole CDK app from the region list and the deployment settings: one
 * RegionStack per region (home first, then the others in deploy order), one GlobalStack, tags,
 * and cdk-nag's AwsSolutions checks at the root. main.ts calls it with the real context; the
 * tests call it with regions and settings of their own.
 */
import { Tags, type App } from 'aws-cdk-lib';
import type { Region } from '../regions/schema.js';
import { applyNagChecks } from './aspects/nag.js';
import { GLOBAL_STACK_NAME, regionStackName } from './config/names.js';
import type { DeploymentSettings } from './config/settings.js';
import { GlobalStack } from './stacks/global-stack.js';
import { RegionStack } from './stacks/region-stack.js';

export interface GeoApp {
  readonly app: App;
  /** Region stacks by region name, in deploy order. */
  readonly regionStacks: ReadonlyMap<string, RegionStack>;
  readonly globalStack: GlobalStack;
}

export interface BuildOptions {
  /**
   * Register cdk-nag on the app.
   * @default true
   */
  readonly nag?: boolean;
}

export function buildGeoApp(app: App, regions: readonly Region[], settings: DeploymentSettings, options: BuildOptions = {}): GeoApp {
  const ordered = [...regions.filter((r) => r.role === 'home'), ...regions.filter((r) => r.role !== 'home')];
  const regionStacks = new Map<string, RegionStack>();
  for (const region of ordered) {
    regionStacks.set(region.name, new RegionStack(app, regionStackName(region), { region, regions: ordered, settings }));
  }
  const globalStack = new GlobalStack(app, GLOBAL_STACK_NAME, { regions: ordered, settings });
  Tags.of(app).add('project', 'geo-callfs');
  Tags.of(app).add('stage', settings.stage);
  if (options.nag ?? true) applyNagChecks(app);
  return { app, regionStacks, globalStack };
}
