/**
 * @module The drills, written once over `DrillProvider`: each builds the plan (the ordered steps)
 * from the deployment's topology as it was when the drill started, so a resumed drill runs the
 * very same steps. The order inside `primary-failover` is what keeps one writable primary at all
 * times: the old primary is fenced (read-only, epoch row fenced) before anything is promoted, and
 * the promotion target is checked to hold every write the old primary acknowledged.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLsn } from '../../app/fencing/index.js';
import { REPLICA_LAG_BOUND_MS, type DatabaseStatus, type DrillProvider, type RegionLoss, type Topology } from './provider.js';
import type { DrillPlan, DrillStep, Memo, StepContext } from './runner.js';

export const DRILLS = ['primary-failover', 'failback', 'home-outage', 'region-evacuate', 'region-restore', 'node-loss', 'redis-loss'] as const;
export type DrillName = (typeof DRILLS)[number];

export interface DrillOptions {
  /** How the fault is made: cut off, killed, or none (declared: a planned switchover). */
  readonly fault: RegionLoss | 'none';
  /** Promote even when another replica holds more WAL than the target (loses those writes). */
  readonly allowDataLoss: boolean;
  /** `failback`: after the rebuild, move the primary back (a planned switchover). */
  readonly switchBack: boolean;
  /** Longest wait of a step for the system to converge (nodes following, DNS, catch-up). */
  readonly convergeTimeoutMs: number;
  /** `home-outage`: how long the home region stays cut off. */
  readonly holdMs: number;
}

export const DEFAULT_DRILL_OPTIONS: DrillOptions = { fault: 'partition', allowDataLoss: false, switchBack: false, convergeTimeoutMs: 90_000, holdMs: 15_000 };

function lsnValue(lsn: string | null): bigint | null {
  return lsn === null ? null : parseLsn(lsn);
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await sleep(intervalMs);
  }
}

function step(id: string, title: string, run: (ctx: StepContext) => Promise<string>): DrillStep {
  return { id, title, run };
}

function memoNumber(memo: Memo, key: string): number | null {
  const value = memo[key];
  return typeof value === 'number' ? value : null;
}

/**
 * Chooses the next epoch (once per run: the memo keeps it, so a resumed drill reuses it), read
 * from `epochRegion`'s database, and arms `lockHomeRegion`'s Redis with it and a fence floor
 * above every token stored in the metadata.
 */
async function armNextLockHome(provider: DrillProvider, memo: Memo, key: string, lockHomeRegion: string, epochRegion: string): Promise<string> {
  const current = await provider.readEpoch(epochRegion);
  const epoch = memoNumber(memo, key) ?? current.epoch + 1;
  memo[key] = epoch;
  return provider.armLockHome(lockHomeRegion, epoch, (current.maxFence ?? 0) + 1);
}

/** The epoch `armNextLockHome` chose. */
function chosenEpoch(memo: Memo, key: string): number {
  const epoch = memoNumber(memo, key);
  if (epoch === null) throw new Error('no epoch chosen: the arm-lock-home step has not run');
  return epoch;
}

function describeDatabases(databases: readonly DatabaseStatus[]): string {
  return databases.map((d) => `${d.region} ${d.role}${d.lagMs === null ? '' : ` lag ${d.lagMs} ms`}`).join(', ');
}

/** Every node outside `except` answers ready and reports `epoch`. */
async function nodesOnEpoch(provider: DrillProvider, epoch: number, except: ReadonlySet<string>, timeoutMs: number): Promise<string> {
  const nodes = await until(`every node outside ${[...except].join(', ') || 'none'} on epoch ${epoch} and ready`, timeoutMs, async () => {
    const all = (await provider.nodeStatus()).filter((n) => !except.has(n.region));
    return all.every((n) => n.ready && n.epoch === epoch) ? all : null;
  }, 500);
  return `${nodes.length} node(s) ready on epoch ${epoch}`;
}

/**
 * Waits until every standby outside `except` streams from the primary within the lag bound: a
 * drill is not over while a replica sits on a forked timeline or far behind. Judged by
 * `standbys()` when the provider has it (every server, as the primary sees it), else by
 * `databases()` (each region's replica streaming from the primary's region).
 */
export async function replicasStreaming(provider: DrillProvider, except: ReadonlySet<string>, timeoutMs: number): Promise<string> {
  const describe = (items: ReadonlyArray<{ name: string; ok: boolean; why: string }>): string => items.map((i) => `${i.name} ${i.ok ? 'streaming' : i.why}`).join(', ');
  let last: Array<{ name: string; ok: boolean; why: string }> = [];
  try {
    const settled = await until(`every replica${except.size > 0 ? ` outside ${[...except].join(', ')}` : ''} streaming with under ${REPLICA_LAG_BOUND_MS / 1000} s of lag`, timeoutMs, async () => {
      if (provider.standbys !== undefined) {
        last = (await provider.standbys())
          .filter((st) => !except.has(st.region))
          .map((st) => ({ name: st.name, ok: st.streaming && (st.lagMs ?? 0) <= REPLICA_LAG_BOUND_MS, why: st.streaming ? `lag ${st.lagMs ?? '?'} ms` : (st.detail ?? 'not streaming') }));
      } else {
        const databases = await provider.databases();
        const primary = databases.find((d) => d.role === 'primary')?.region ?? null;
        last = databases
          .filter((d) => d.region !== primary && !except.has(d.region))
          .map((d) => ({ name: d.region, ok: d.role === 'replica' && d.upstream === primary && (d.lagMs ?? 0) <= REPLICA_LAG_BOUND_MS, why: d.role === 'replica' ? `from ${d.upstream ?? 'nowhere'}, lag ${d.lagMs ?? '?'} ms` : d.role }));
      }
      return last.every((i) => i.ok) ? last : null;
    }, 500);
    return describe(settled);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}: ${describe(last)}`);
  }
}

async function probeAll(provider: DrillProvider, regions: readonly string[]): Promise<string> {
  const lines = [];
  for (const region of regions) lines.push(await provider.probeWrite(region));
  return lines.join('; ');
}

// ---- primary-failover ------------------------------------------------------------------------

interface SwitchSpec {
  readonly from: string;
  readonly to: string;
  readonly fault: RegionLoss | 'none';
  /** Take `from` out of DNS (a lost region); a planned switchover keeps it serving. */
  readonly withdrawFrom: boolean;
  /** Rebuild `from` as a replica of `to` right away (planned switchover: it is healthy). */
  readonly rejoinFrom: boolean;
}

/** The steps that move the primary (and the lock home) from `from` to `to`. */
function switchSteps(topology: Topology, spec: SwitchSpec, options: DrillOptions, prefix = ''): DrillStep[] {
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
      return provider.injectRegionLoss(from, how);
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
    step(id('check-target'), `check ${to} holds every acknowledged write (its WAL is not behind another replica's)`, async ({ provider }) => {
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
        return ahead.length === 0 ? `${to} at ${target?.lsn ?? '?'}: nothing is ahead of it` : null;
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

// ---- failback --------------------------------------------------------------------------------

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

// ---- home-outage -----------------------------------------------------------------------------

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

// ---- region-evacuate / region-restore --------------------------------------------------------

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

// ---- node-loss -------------------------------------------------------------------------------

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

// ---- redis-loss ------------------------------------------------------------------------------

/**
 * The lock home's successor: the region whose Redis answers with the shortest round trip from the
 * primary's region, measured now (every write takes its locks there and commits at the primary,
 * so that distance is what every write pays). Without measurements, the first other region.
 */
async function nearestLockHome(provider: DrillProvider, topology: Topology, lost: string): Promise<{ region: string; why: string }> {
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

function memoText(memo: Memo, key: string): string {
  const value = memo[key];
  if (typeof value !== 'string') throw new Error(`no ${key} recorded: the step choosing it has not run`);
  return value;
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
