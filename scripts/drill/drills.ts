/**
 * @module The drills, written once over `DrillProvider`: each builds the plan (the ordered steps)
 * from the deployment's topology as it was when the drill started, so a resumed drill runs the
 * very same steps. One module per drill under drills/ (their shared steps in drills/steps.ts);
 * this one picks the drill by name.
 */
import type { Topology } from './provider.js';
import type { DrillPlan } from './runner.js';
import type { DrillName, DrillOptions } from './drills/options.js';
import { primaryFailover } from './drills/switchover.js';
import { failback } from './drills/failback.js';
import { homeOutage } from './drills/home-outage.js';
import { regionEvacuate, regionRestore } from './drills/regions.js';
import { nodeLoss } from './drills/node-loss.js';
import { redisLoss } from './drills/redis-loss.js';

export * from './drills/options.js';

export function planDrill(name: DrillName, target: string, topology: Topology, options: DrillOptions): DrillPlan {
  switch (name) {
    case 'primary-failover':
      return primaryFailover(topology, target, options);
    case 'failback':
      return failback(topology, target, options);
    case 'home-outage':
      return homeOutage(topology, target, options);
    case 'region-evacuate':
      return regionEvacuate(topology, target, options);
    case 'region-restore':
      return regionRestore(topology, target, options);
    case 'node-loss':
      return nodeLoss(topology, target, options);
    case 'redis-loss':
      return redisLoss(topology, target, options);
  }
}
