/** @module Every region of the deployment, validated together. */
import ap from './ap.js';
import eu from './eu.js';
import { parseRegion, RegionSetSchema, type Region } from './schema.js';
import us from './us.js';

function loadRegions(): readonly Region[] {
  const regions = [parseRegion('eu.ts', eu), parseRegion('us.ts', us), parseRegion('ap.ts', ap)];
  const set = RegionSetSchema.safeParse(regions);
  if (!set.success) throw new Error(`regions/: ${set.error.issues.map((i) => i.message).join('; ')}`);
  return Object.freeze(set.data);
}

export const REGIONS: readonly Region[] = loadRegions();
export type { Region };
