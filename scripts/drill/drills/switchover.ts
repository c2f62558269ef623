/**
 * @module `primary-failover`: the primary moves to another region. The order of its steps is what
 * keeps one writable primary at all times: the old primary is fenced (read-only, epoch row
 * fenced) before anything is promoted, and the promotion target is checked to hold every write
 * the old primary acknowledged. `failback` reuses the same sequence to switch back.
 */
import { REPLICA_LAG_BOUND_MS, type RegionLoss, type Topology } from '../provider.js';
import type { DrillPlan, DrillStep } from '../runner.js';
import type { DrillOptions } from './options.js';
import { armNextLockHome, chosenEpoch, describeDatabases, lsnValue, memoNumber, nodesOnEpoch, probeAll, replicasStreaming, step, until } from './steps.js';

export interface SwitchSpec {
  readonly from: string;
  readonly to: string;
  readonly fault: RegionLoss | 'none';
  /** Take `from` out of DNS (a lost region); a planned switchover keeps it serving. */
  readonly withdrawFrom: boolean;
  /** Rebuild `from` as a replica of `to` right away (planned switchover: it is healthy). */
  readonly rejoinFrom: boolean;
}

/** The steps that move the primary (and the lock home) from `from` to `to`. */
export function switchSteps(topology: Topology, spec: SwitchSpec, options: DrillOptions, prefix = ''): DrillStep[] {
  const { from, to } = spec;
  const others = topology.regions.filter((r) => r !== from && r !== to);
  const serving = topology.regions.filter((r) => r !== from || !spec.withdrawFrom);
  const id = (name: string): string => `${prefix}${name}`;
  const epochKey = `${prefix}newEpoch`;
  const steps: DrillStep[] = [
    step(id('preflight'), `check that ${from} is the primary and ${to} a streaming replica; record replica lag`, async ({ provider, memo }) => {
      const databases = await provider.databases();
      const target = databases.find((d) => d.region === to);
      const source = databases.find((d) => d.region === from);
      if (target?.role !== 'replica') throw new Error(`${to} must be a streaming replica to be promoted (it is ${target?.role ?? 'unknown'}): ${describeDatabases(databases)}`);
      if (source?.role !== 'primary') throw new Error(`${from} is not the primary (${source?.role ?? 'unknown'}): ${describeDatabases(databases)}`);
      memo[`${prefix}lagBeforeFault`] = Object.fromEntries(databases.map((d) => [d.region, d.lagMs]));
      return describeDatabases(databases);
    }),
    step(id('durability'), `make every commit on ${from} wait for ${to} (then ${others.join(', ') || 'nobody else'})`, async ({ provider }) =>
      provider.setSynchronousRegions(from, [to, ...others])),
  ];
  if (spec.fault === 'none') {
    steps.push(step(id('declare'), `declare the switchover (T0)`, async ({ memo }) => {
      memo['faultAt'] ??= Date.now();
      return `T0 = ${new Date(memoNumber(memo, 'faultAt') ?? Date.now()).toISOString()}`;
    }));
  } else {
    const how = spec.fault;
    steps.push(step(id('fault'), how === 'crash' ? `crash every process of ${from} (T0)` : `cut ${from} off from every other region (T0)`, async ({ provider, memo }) => {
      if (provider.injectRegionLoss === undefined) throw new Error(`the ${provider.name} provider cannot inject a region loss: declare it with --fault none`);
      memo['faultAt'] ??= Date.now();
      const line = await provider.injectRegionLoss(from, how);
      // The standby every acknowledged commit waited for at the cut: the old primary still lists
      // its senders for seconds after a partition (none answers after a crash: unknown).
      if (memo['synchronousAtFault'] === undefined && provider.synchronousRegion !== undefined) {
        memo['synchronousAtFault'] = await provider.synchronousRegion(from).catch(() => null);
      }
      const synchronous = memo['synchronousAtFault'];
      return typeof synchronous === 'string' ? `${line}; synchronous standby at the cut: ${synchronous}` : line;
    }));
  }
  if (spec.withdrawFrom) steps.push(step(id('withdraw-dns'), `take ${from} out of the global name (sticky)`, ({ provider }) => provider.withdrawRegion(from)));
  steps.push(
    step(id('fence-db'), `fence the ${from} database: epoch row fenced, read-only, sessions ended`, async ({ provider }) => {
      const outcome = await provider.fenceDatabase(from);
      if (outcome === 'unreachable') throw new Error(`cannot reach the ${from} database to fence it; promoting now could leave two writable primaries. Make sure it is down or isolated, then resume`);
      return `${from} fenced`;
    }),
  );
  if (spec.fault === 'none') {
    steps.push(step(id('stop-old'), `stop the fenced ${from} database cleanly: its standbys receive all of its WAL`, async ({ provider }) =>
      provider.stopFencedPrimary === undefined ? `${provider.name}: the fenced primary keeps running` : provider.stopFencedPrimary(from)));
  }
  steps.push(
    step(id('check-target'), `check ${to} holds every acknowledged write (its WAL is not behind another replica's)`, async ({ provider, memo }) => {
      const settle = async (): Promise<string | null> => {
        const databases = await provider.databases();
        const target = databases.find((d) => d.region === to);
        if (target?.role === 'primary') return `${to} is already the primary`;
        const mine = lsnValue(target?.lsn ?? null);
        if (mine === null) return null;
        // A lost old primary's WAL past what reached a standby was never acknowledged (commits
        // wait for a synchronous standby since the durability step): only a planned switchover,
        // where it still streams to the target, waits for it.
        const comparable = databases.filter((d) => d.region !== to && d.role !== 'down' && (spec.fault === 'none' || d.region !== from));
        const ahead = comparable.filter((d) => (lsnValue(d.lsn) ?? 0n) > mine);
        if (ahead.length === 0) return `${to} at ${target?.lsn ?? '?'}: nothing is ahead of it`;
        // WAL streams to every standby at once, so another one can have received records the
        // synchronous standby had not when the link was cut. While ${to} was the synchronous
        // standby, no commit in those records was acknowledged to a client: nothing is lost by
        // promoting ${to}, and the standbys ahead are rewound onto its timeline (repoint).
        if (spec.fault !== 'none' && memo['synchronousAtFault'] === to) {
          return `${to} at ${target?.lsn ?? '?'}: ${ahead.map((d) => `${d.region} ${d.lsn ?? '?'}`).join(', ')} received WAL past it that no client was told is committed (${to} was the synchronous standby at the cut)`;
        }
        return null;
      };
      try {
        return await until(`${to} catching up with the most advanced database`, 15_000, settle);
      } catch (error) {
        if (!options.allowDataLoss) throw new Error(`${error instanceof Error ? error.message : String(error)}; promoting ${to} would lose writes another database holds (pass --allow-data-loss to accept)`);
        return `${to} is behind another database: promoting anyway (--allow-data-loss)`;
      }
    }),
    step(id('arm-lock-home'), `arm ${to}'s Redis as the next lock home (new epoch, fence floor above every stored token)`, ({ provider, memo }) =>
      armNextLockHome(provider, memo, epochKey, to, to)),
    step(id('promote'), `promote the ${to} replica`, async ({ provider, memo }) => {
      const databases = await provider.databases();
      const writable = databases.filter((d) => d.role === 'primary' && d.region !== to);
      if (writable.length > 0) throw new Error(`refusing to promote ${to}: ${writable.map((d) => d.region).join(', ')} is still a writable primary`);
      memo[`${prefix}promotionStartedAt`] = Date.now();
      const line = await provider.promoteDatabase(to);
      memo[`${prefix}promotionEndedAt`] = Date.now();
      return line;
    }),
    step(id('epoch'), `write the new epoch on ${to}: unfenced, lock home = ${to}'s Redis`, ({ provider, memo }) =>
      provider.writeEpoch(to, { epoch: chosenEpoch(memo, epochKey), fenced: false, primaryRegion: to, lockHome: provider.redisAddress(to) })),
  );
  const standbys = [...others, ...(spec.rejoinFrom ? [from] : [])];
  steps.push(
    step(id('repoint'), `make ${[...standbys, `${to}'s other servers`].join(', ')} stream from ${to} (re-point, or rewind/re-clone)`, async ({ provider }) => {
      // The new primary's own region may hold more servers (the home region's read replica).
      const lines = [];
      for (const region of [to, ...standbys]) lines.push(await provider.followPrimary(region, to));
      return lines.join('; ');
    }),
    step(id('durability-new'), `make commits on ${to} wait for ${standbys.join(', ') || 'nobody'}`, ({ provider }) => provider.setSynchronousRegions(to, standbys)),
  );
  steps.push(
    step(id('nodes'), `wait for every node${spec.withdrawFrom ? ` outside ${from}` : ''} to follow: new epoch, ready`, ({ provider, memo }) =>
      nodesOnEpoch(provider, chosenEpoch(memo, epochKey), new Set(spec.withdrawFrom ? [from] : []), options.convergeTimeoutMs)),
    step(id('objects'), `route object traffic to ${serving.join(', ')}`, ({ provider }) => provider.routeObjects(serving)),
    step(id('verify'), `write and read back through ${serving.join(', ')}`, ({ provider }) => probeAll(provider, serving)),
    step(id('replicas'), `wait until every replica${spec.withdrawFrom ? ` outside ${from}` : ''} streams from ${to} within ${REPLICA_LAG_BOUND_MS / 1000} s`, ({ provider }) =>
      replicasStreaming(provider, new Set(spec.withdrawFrom ? [from] : []), options.convergeTimeoutMs)),
  );
  return steps;
}

export function primaryFailover(topology: Topology, to: string, options: DrillOptions): DrillPlan {
  const from = topology.primaryRegion;
  if (!topology.regions.includes(to)) throw new Error(`no region "${to}" (regions: ${topology.regions.join(', ')})`);
  if (to === from) throw new Error(`${to} already holds the primary; primary-failover moves it to another region`);
  const planned = options.fault === 'none';
  return {
    drill: 'primary-failover',
    target: to,
    summary: [
      planned ? `planned switchover: the primary moves from ${from} to ${to}; ${from} keeps serving through ${to}` : `the home region ${from} is lost (${options.fault}); the primary and the lock home move to ${to}`,
      `${from}'s database is fenced before ${to} is promoted: at no point are two primaries writable`,
      `regions: ${topology.regions.join(', ')}; lock home now ${topology.lockHomeRegion}`,
    ],
    steps: switchSteps(topology, { from, to, fault: options.fault, withdrawFrom: !planned, rejoinFrom: planned }, options),
    withdrawnRegion: planned ? null : from,
  };
}
