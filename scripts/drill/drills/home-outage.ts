/**
 * @module `home-outage`: the home region is cut off and nothing is promoted; what the other
 * regions give their users meanwhile, and that everything comes back by itself when it heals.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { REPLICA_LAG_BOUND_MS, type Topology } from '../provider.js';
import type { DrillPlan } from '../runner.js';
import type { DrillOptions } from './options.js';
import { describeDatabases, memoNumber, nodesOnEpoch, probeAll, replicasStreaming, step, until } from './steps.js';

/**
 * The home region is cut off and nobody promotes anything: what the other regions give their
 * users meanwhile. Reads (and read-your-writes) must go on in every other region, which must stay
 * in DNS; writes must be refused at once with 503, a code and `Retry-After`. Then the partition
 * heals and the drill checks that writes, nodes and replicas all come back by themselves.
 */
export function homeOutage(topology: Topology, region: string, options: DrillOptions): DrillPlan {
  const home = topology.primaryRegion;
  if (!topology.regions.includes(region)) throw new Error(`no region "${region}" (regions: ${topology.regions.join(', ')})`);
  if (region !== home) throw new Error(`home-outage cuts off the home region, which is ${home} (the primary's region), not ${region}`);
  const others = topology.regions.filter((r) => r !== home);
  return {
    drill: 'home-outage',
    target: home,
    summary: [
      `the home region ${home} (metadata primary, lock home) is cut off for ${Math.round(options.holdMs / 1000)} s and nothing is promoted`,
      `${others.join(', ')} must keep serving reads and stay in DNS; their writes are refused (503, code, Retry-After) until ${home} is back`,
    ],
    steps: [
      step('preflight', `check that ${home} is the primary and every replica streams`, async ({ provider, memo }) => {
        const databases = await provider.databases();
        if (databases.find((d) => d.region === home)?.role !== 'primary') throw new Error(`${home} is not the primary: ${describeDatabases(databases)}`);
        memo['lagBeforeFault'] = Object.fromEntries(databases.map((d) => [d.region, d.lagMs]));
        return replicasStreaming(provider, new Set(), options.convergeTimeoutMs);
      }),
      step('fault', `cut ${home} off from every other region (T0)`, async ({ provider, memo }) => {
        if (provider.injectRegionLoss === undefined) throw new Error(`the ${provider.name} provider cannot cut a region off`);
        memo['faultAt'] ??= Date.now();
        return provider.injectRegionLoss(home, 'partition');
      }),
      step('detect', `wait until every node outside ${home} is ready for reads and not for writes`, async ({ provider, memo }) => {
        const nodes = await until(`every node outside ${home} ready to read and refusing writes`, options.convergeTimeoutMs, async () => {
          const outside = (await provider.nodeStatus()).filter((n) => n.region !== home);
          return outside.every((n) => n.readReady !== false && n.writeReady === false) ? outside : null;
        }, 250);
        memo['outageDetectedAt'] ??= Date.now();
        return `${nodes.length} node(s) read-ready, none write-ready, ${Math.round((Date.now() - (memoNumber(memo, 'faultAt') ?? Date.now())) / 100) / 10} s after T0`;
      }),
      step('dns', `check that clients of ${others.join(', ')} are not answered with ${home}`, async ({ provider }) => {
        const seen = await Promise.all(others.map(async (from) => [from, await provider.answeringRegions(from)] as const));
        const wrong = seen.filter(([, regions]) => regions.length === 0 || regions.includes(home));
        if (wrong.length > 0) throw new Error(`the global name answers ${wrong.map(([from, regions]) => `${from}→${regions.join('+') || 'nothing'}`).join(', ')}`);
        return seen.map(([from, regions]) => `${from}→${regions.join('+')}`).join(', ');
      }),
      step('hold', `keep ${home} cut off for ${Math.round(options.holdMs / 1000)} s; meanwhile read and try to write through ${others.join(', ')}`, async ({ provider, memo }) => {
        const started = memoNumber(memo, 'faultAt') ?? Date.now();
        const lines: string[] = [];
        if (provider.probeHomeOutage !== undefined) for (const region of others) lines.push(await provider.probeHomeOutage(region));
        await sleep(Math.max(0, started + options.holdMs - Date.now()));
        return lines.join('; ') || 'held';
      }),
      step('heal', `join ${home} to the other regions again`, async ({ provider, memo }) => {
        memo['outageEndedAt'] ??= Date.now();
        return provider.healRegionLoss === undefined ? `${provider.name}: nothing to heal` : provider.healRegionLoss(home);
      }),
      step('nodes', `wait for every node to be ready for writes again`, async ({ provider }) => {
        const epoch = (await provider.readEpoch(home)).epoch;
        return nodesOnEpoch(provider, epoch, new Set(), options.convergeTimeoutMs);
      }),
      step('verify', `write and read back through every region`, ({ provider }) => probeAll(provider, topology.regions)),
      step('replicas', `wait until every replica streams from ${home} within ${REPLICA_LAG_BOUND_MS / 1000} s`, ({ provider }) => replicasStreaming(provider, new Set(), options.convergeTimeoutMs)),
    ],
    withdrawnRegion: null,
    outageRegion: home,
  };
}
