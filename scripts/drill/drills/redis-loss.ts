/**
 * @module `redis-loss`: a region's Redis is lost. When it is the lock home, the lock home moves,
 * under a new epoch, to the healthy region nearest the primary by measured round trip.
 */
import { type DrillProvider, type Topology } from '../provider.js';
import type { DrillPlan, DrillStep } from '../runner.js';
import type { DrillOptions } from './options.js';
import { armNextLockHome, chosenEpoch, memoText, nodesOnEpoch, probeAll, step } from './steps.js';

/**
 * The lock home's successor: the region whose Redis answers with the shortest round trip from the
 * primary's region, measured now (every write takes its locks there and commits at the primary,
 * so that distance is what every write pays). Without measurements, the first other region.
 */
export async function nearestLockHome(provider: DrillProvider, topology: Topology, lost: string): Promise<{ region: string; why: string }> {
  const candidates = topology.regions.filter((r) => r !== lost);
  const fallback = candidates[0] ?? lost;
  if (provider.measureRttMs === undefined) return { region: fallback, why: `${provider.name} provider cannot measure round trips: first other region` };
  const measured = await Promise.all(candidates.map(async (r) => ({ region: r, rtt: await provider.measureRttMs?.(topology.primaryRegion, r).catch(() => null) ?? null })));
  const healthy = measured.filter((m): m is { region: string; rtt: number } => m.rtt !== null).sort((a, b) => a.rtt - b.rtt);
  const text = measured.map((m) => `${m.region} ${m.rtt === null ? 'no answer' : `${m.rtt.toFixed(1)} ms`}`).join(', ');
  const best = healthy[0];
  if (best === undefined) throw new Error(`no Redis outside ${lost} answers (${text}): no lock home to move to`);
  return { region: best.region, why: `round trips from ${topology.primaryRegion}: ${text}` };
}

export function redisLoss(topology: Topology, region: string, options: DrillOptions): DrillPlan {
  if (!topology.regions.includes(region)) throw new Error(`no region "${region}" (regions: ${topology.regions.join(', ')})`);
  const isLockHome = topology.lockHomeRegion === region;
  const steps: DrillStep[] = [
    step('preflight', `read the epoch on the primary (${topology.primaryRegion})`, async ({ provider, memo }) => {
      const epoch = await provider.readEpoch(topology.primaryRegion);
      memo['lagBeforeFault'] = Object.fromEntries((await provider.databases()).map((d) => [d.region, d.lagMs]));
      return `epoch ${epoch.epoch}, lock home ${epoch.lockHome ?? 'as configured'}`;
    }),
    step('fault', `kill ${region}'s Redis (T0)`, async ({ provider, memo }) => {
      memo['faultAt'] ??= Date.now();
      return provider.stopRedis(region);
    }),
  ];
  if (isLockHome) {
    steps.push(
      step('choose-successor', `choose the lock home's successor: the healthy region nearest to the primary (${topology.primaryRegion}) by measured round trip`, async ({ provider, memo }) => {
        if (typeof memo['successor'] !== 'string') {
          const chosen = await nearestLockHome(provider, topology, region);
          memo['successor'] = chosen.region;
          memo['successorWhy'] = chosen.why;
        }
        return `${memoText(memo, 'successor')} (${String(memo['successorWhy'] ?? '')})`;
      }),
      step('arm-lock-home', `arm the successor's Redis as the lock home (new epoch)`, ({ provider, memo }) =>
        armNextLockHome(provider, memo, 'newEpoch', memoText(memo, 'successor'), topology.primaryRegion)),
      step('epoch', `write the new epoch and lock home on the primary`, ({ provider, memo }) =>
        provider.writeEpoch(topology.primaryRegion, { epoch: chosenEpoch(memo, 'newEpoch'), fenced: false, primaryRegion: topology.primaryRegion, lockHome: provider.redisAddress(memoText(memo, 'successor')) })),
      step('nodes', `wait for every node to take its locks at the successor`, ({ provider, memo }) =>
        nodesOnEpoch(provider, chosenEpoch(memo, 'newEpoch'), new Set(), options.convergeTimeoutMs)),
    );
  }
  steps.push(
    step('verify', `write and read back through every region`, ({ provider }) => probeAll(provider, topology.regions)),
    step('restart', `start ${region}'s Redis again (empty)`, ({ provider }) => provider.startRedis(region)),
  );
  return {
    drill: 'redis-loss',
    target: region,
    summary: [
      isLockHome
        ? `${region}'s Redis is the lock home: the lock home moves, under a new epoch, to the healthy region nearest to the primary by measured round trip; locks held at ${region} are void`
        : `${region}'s Redis is not the lock home (${topology.lockHomeRegion}): writes must not notice`,
    ],
    steps,
    withdrawnRegion: null,
  };
}
