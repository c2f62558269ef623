/**
 * @module `node-loss`: one node killed; its region's other nodes and the peers that forward to it
 * must carry on, and the node must rejoin on the current epoch when started again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Topology } from '../provider.js';
import type { DrillPlan } from '../runner.js';
import type { DrillOptions } from './options.js';
import { probeAll, step, until } from './steps.js';

export function nodeLoss(topology: Topology, id: string, options: DrillOptions): DrillPlan {
  const region = Object.entries(topology.nodes).find(([, ids]) => ids.includes(id))?.[0];
  if (region === undefined) throw new Error(`no node "${id}" (nodes: ${Object.values(topology.nodes).flat().join(', ')})`);
  return {
    drill: 'node-loss',
    target: id,
    summary: [`node ${id} of ${region} is killed; the cluster keeps serving; then it is started again and rejoins`],
    steps: [
      step('preflight', `check that ${id} is ready`, async ({ provider, memo }) => {
        const node = (await provider.nodeStatus()).find((n) => n.id === id);
        if (node?.ready !== true) throw new Error(`${id} is not ready before the drill`);
        memo['lagBeforeFault'] = Object.fromEntries((await provider.databases()).map((d) => [d.region, d.lagMs]));
        return `${id} ready on epoch ${node.epoch ?? '?'}`;
      }),
      step('fault', `kill ${id} (T0)`, async ({ provider, memo }) => {
        memo['faultAt'] ??= Date.now();
        return provider.stopNode(id);
      }),
      step('detect', `wait until ${id} is seen down`, async ({ provider }) => {
        await until(`${id} seen down`, options.convergeTimeoutMs, async () => ((await provider.nodeStatus()).find((n) => n.id === id)?.ready === false ? true : null));
        await sleep(2000); // two health-check rounds: the DNS stops answering it
        return `${id} down`;
      }),
      step('verify-without', `write and read back through ${region} and every other region`, ({ provider }) => probeAll(provider, topology.regions)),
      step('restart', `start ${id} again and wait for it to be ready`, async ({ provider }) => {
        const line = await provider.startNode(id);
        await until(`${id} ready`, options.convergeTimeoutMs, async () => ((await provider.nodeStatus()).find((n) => n.id === id)?.ready === true ? true : null));
        return line;
      }),
      step('verify', `write and read back through ${region}`, ({ provider }) => provider.probeWrite(region)),
    ],
    withdrawnRegion: null,
  };
}
