/**
 * @module `region-evacuate` and `region-restore`: a region taken out of the global name (its users
 * served by the next region) and brought back, with writes probed from the regions that serve.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Topology } from '../provider.js';
import type { DrillPlan } from '../runner.js';
import type { DrillOptions } from './options.js';
import { probeAll, step, until } from './steps.js';

export function regionEvacuate(topology: Topology, region: string, options: DrillOptions): DrillPlan {
  if (!topology.regions.includes(region)) throw new Error(`no region "${region}" (regions: ${topology.regions.join(', ')})`);
  const rest = topology.regions.filter((r) => r !== region);
  return {
    drill: 'region-evacuate',
    target: region,
    summary: [`${region} is taken out of the global name; clients everywhere move to ${rest.join(', ')}`, `${region}'s nodes keep running (and its database, if it holds the primary)`],
    steps: [
      step('preflight', `check that another region has ready nodes`, async ({ provider, memo }) => {
        const nodes = await provider.nodeStatus();
        if (!nodes.some((n) => n.region !== region && n.ready)) throw new Error(`no ready node outside ${region}: evacuating it would leave no region to serve`);
        memo['lagBeforeFault'] = Object.fromEntries((await provider.databases()).map((d) => [d.region, d.lagMs]));
        return `${nodes.filter((n) => n.ready).length} node(s) ready`;
      }),
      step('withdraw-dns', `take ${region} out of the global name (T0)`, async ({ provider, memo }) => {
        memo['faultAt'] ??= Date.now();
        return provider.withdrawRegion(region);
      }),
      step('dns-converged', `wait until clients of every region are answered without ${region}`, async ({ provider }) => {
        const answers = await until(`the global name answering without ${region} everywhere`, options.convergeTimeoutMs, async () => {
          const seen = await Promise.all(topology.regions.map(async (from) => [from, await provider.answeringRegions(from)] as const));
          return seen.every(([, regions]) => regions.length > 0 && !regions.includes(region)) ? seen : null;
        });
        return answers.map(([from, regions]) => `${from}→${regions.join('+')}`).join(', ');
      }),
      step('drain', `let requests in flight on ${region} finish (DNS TTL plus the longest request)`, async () => {
        await sleep(3000);
        return 'drained for 3 s';
      }),
      step('verify', `write and read back through the global name's regions`, ({ provider }) => probeAll(provider, rest)),
    ],
    withdrawnRegion: region,
  };
}

export function regionRestore(topology: Topology, region: string, options: DrillOptions): DrillPlan {
  if (!topology.regions.includes(region)) throw new Error(`no region "${region}" (regions: ${topology.regions.join(', ')})`);
  return {
    drill: 'region-restore',
    target: region,
    summary: [`${region} is answered by the global name again (when its health checks pass)`],
    steps: [
      step('restore-dns', `answer ${region} in the global name again`, async ({ provider, memo }) => {
        memo['faultAt'] ??= Date.now();
        return provider.restoreRegion(region);
      }),
      step('dns-converged', `wait until ${region}'s own clients are answered with ${region}`, async ({ provider }) => {
        const answer = await until(`${region}'s clients answered with ${region}`, options.convergeTimeoutMs, async () => {
          const regions = await provider.answeringRegions(region);
          return regions.includes(region) ? regions : null;
        });
        return `${region}→${answer.join('+')}`;
      }),
      step('verify', `write and read back through ${region}`, ({ provider }) => provider.probeWrite(region)),
    ],
    withdrawnRegion: null,
  };
}
