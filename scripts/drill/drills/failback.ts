/**
 * @module `failback`: a region lost in a failover comes back as a replica of the new primary
 * (rewound or copied afresh), catches up, and with `--switch` takes the primary back in a planned
 * switchover.
 */
import { REPLICA_LAG_BOUND_MS, type Topology } from '../provider.js';
import type { DrillPlan, DrillStep } from '../runner.js';
import type { DrillOptions } from './options.js';
import { describeDatabases, nodesOnEpoch, probeAll, replicasStreaming, step, until } from './steps.js';
import { switchSteps } from './switchover.js';

export function failback(topology: Topology, region: string, options: DrillOptions): DrillPlan {
  const primary = topology.primaryRegion;
  if (!topology.regions.includes(region)) throw new Error(`no region "${region}" (regions: ${topology.regions.join(', ')})`);
  if (region === primary) throw new Error(`${region} holds the primary already: nothing to fail back`);
  const nodes = topology.nodes[region] ?? [];
  const steps: DrillStep[] = [
    step('preflight', `check that ${primary} is the primary`, async ({ provider, memo }) => {
      const databases = await provider.databases();
      if (databases.find((d) => d.region === primary)?.role !== 'primary') throw new Error(`${primary} is not the primary: ${describeDatabases(databases)}`);
      memo['lagBeforeFault'] = Object.fromEntries(databases.map((d) => [d.region, d.lagMs]));
      // With --switch the fault the scorecard times is the switchover (its declare step sets T0).
      if (!options.switchBack) memo['faultAt'] ??= Date.now();
      return describeDatabases(databases);
    }),
    step('heal', `end the fault on ${region} (network back, Redis and S3 started)`, async ({ provider }) =>
      provider.healRegionLoss === undefined ? `${provider.name}: nothing to heal (the region's recovery is declared)` : provider.healRegionLoss(region)),
    step('rebuild-db', `rebuild ${region}'s databases as replicas of ${primary} (pg_rewind, or a fresh copy)`, ({ provider }) => provider.followPrimary(region, primary)),
    step('catch-up', `wait for ${region} to catch up with ${primary}`, async ({ provider }) => {
      const db = await until(`${region} streaming from ${primary} with under 1 s of lag`, options.convergeTimeoutMs, async () => {
        const found = (await provider.databases()).find((d) => d.region === region);
        return found?.role === 'replica' && found.upstream === primary && found.lagMs !== null && found.lagMs < 1000 ? found : null;
      });
      return `${region} at ${db.lsn ?? '?'}, lag ${db.lagMs ?? '?'} ms`;
    }),
    step('nodes-up', `start ${region}'s nodes (${nodes.join(', ')}) and wait for them to follow`, async ({ provider }) => {
      for (const id of nodes) await provider.startNode(id);
      const epoch = (await provider.readEpoch(primary)).epoch;
      return nodesOnEpoch(provider, epoch, new Set(), options.convergeTimeoutMs);
    }),
    step('durability', `make commits on ${primary} wait for ${region} too`, ({ provider }) =>
      provider.setSynchronousRegions(primary, [region, ...topology.regions.filter((r) => r !== region && r !== primary)])),
    step('restore-dns', `answer ${region} in the global name again`, ({ provider }) => provider.restoreRegion(region)),
    step('verify', `write and read back through every region`, ({ provider }) => probeAll(provider, topology.regions)),
  ];
  if (!options.switchBack) {
    steps.push(step('replicas', `wait until every replica streams from ${primary} within ${REPLICA_LAG_BOUND_MS / 1000} s`, ({ provider }) => replicasStreaming(provider, new Set(), options.convergeTimeoutMs)));
  }
  if (options.switchBack) {
    const after: Topology = { ...topology };
    steps.push(...switchSteps(after, { from: primary, to: region, fault: 'none', withdrawFrom: false, rejoinFrom: true }, options, 'back-'));
  }
  return {
    drill: 'failback',
    target: region,
    summary: [
      `${region} rejoins as a replica of ${primary} and is answered in DNS again`,
      options.switchBack ? `then the primary and the lock home move back to ${region} (planned switchover, no write lost)` : `the primary stays in ${primary} (add --switch to move it back)`,
    ],
    steps,
    withdrawnRegion: null,
  };
}
