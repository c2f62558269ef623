/**
 * @module The `local` drill provider: drives the rehearsal (scripts/rehearsal) the way the `aws`
 * provider drives a deployment. Every operation runs from the host into the rehearsal's network
 * namespaces (psql, redis-cli and curl inside the region, as an operator on a bastion there
 * would), by the PIDs the rehearsal's state file records.
 *
 * - DNS: a region is withdrawn by listing it in `<dir>/withdrawn.json`, which the health checker
 *   reads every round: the GeoDNS stand-in stops answering it even if its nodes are healthy.
 * - Postgres: each region's promotable server is `serviceIp:5432` (the home region's is the
 *   primary `up` created). Fencing marks the epoch row fenced and makes the server read-only
 *   (and leaves `standby.signal`, so a restart brings it back as a standby, never a primary);
 *   promotion is `pg_promote()`; a replica follows a new primary by `primary_conninfo` and a
 *   reload, or is rebuilt with pg_rewind (falling back to a fresh pg_basebackup) when it cannot.
 * - Redis: the lock home's epoch and fence floor are keys the nodes' lock grants read.
 * - Faults: `partition` drops every packet between the region and the others (the WAN delayer's
 *   matrix), `crash` kills every process of the region at once.
 *
 * The Postgres operations are in databases.ts, fencing.ts and follow.ts, what is asked of the
 * nodes in probes.ts, all over one view of the rehearsal (rehearsal-access.ts); this class is
 * the `DrillProvider` they make up, with the DNS, Redis, node and fault operations.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EpochRecord } from '../../../app/fencing/index.js';
import { readWithdrawn, readHealth, writeWithdrawn } from '../../rehearsal/health-checker.js';
import { setPartitions } from '../../rehearsal/network.js';
import { pingRtt, resolveFrom } from '../../rehearsal/netns.js';
import { ensureNodeRunning, nodeDir } from '../../rehearsal/nodes.js';
import { crashRegion, restartRegionServices, startRegionRedis, stopRegionRedis } from '../../rehearsal/region-services.js';
import { readState, runningProcess, stopProcess } from '../../rehearsal/state.js';
import { pairKey, type RegionPlan, type RehearsalOptions, type RehearsalPlan } from '../../rehearsal/topology.js';
import type { DatabaseStatus, DrillProvider, NodeStatus, RegionLoss, StandbyStatus, Topology } from '../provider.js';
import { databases, promoteDatabase, setSynchronousRegions, standbys, stopFencedPrimary, synchronousRegion } from './databases.js';
import { armLockHome, fenceDatabase, readEpoch, writeEpoch } from './fencing.js';
import { followPrimary } from './follow.js';
import { nodeStatus, probeHomeOutage, probeWrite } from './probes.js';
import { LocalRehearsal } from './rehearsal-access.js';

export interface LocalProviderOptions {
  readonly rehearsal: RehearsalOptions;
  readonly log?: (line: string) => void;
}

export function createLocalProvider(options: LocalProviderOptions): DrillProvider & { readonly plan: RehearsalPlan } {
  return new LocalProvider(options);
}

class LocalProvider implements DrillProvider {
  readonly name = 'local' as const;
  readonly #r: LocalRehearsal;

  constructor(options: LocalProviderOptions) {
    this.#r = new LocalRehearsal(options.rehearsal);
  }

  get plan(): RehearsalPlan {
    return this.#r.plan;
  }

  // ---- topology ------------------------------------------------------------------------------

  async topology(): Promise<Topology> {
    this.#r.requireUp();
    const databases = await this.databases();
    const primary = databases.find((d) => d.role === 'primary')?.region;
    let epoch: EpochRecord | null = null;
    for (const db of databases.filter((d) => d.role !== 'down')) {
      epoch = await this.readEpoch(db.region).catch(() => null);
      if (epoch !== null && (primary === undefined || db.region === primary)) break;
    }
    const primaryRegion = primary ?? epoch?.primaryRegion ?? this.plan.home.name;
    const lockHomeRegion = epoch?.lockHome === null || epoch === null ? this.plan.home.name : (this.#r.regionOfIp(epoch.lockHome.split(':')[0] ?? '') ?? this.plan.home.name);
    const ordered = [this.#r.region(primaryRegion), ...this.plan.regions.filter((r) => r.name !== primaryRegion)];
    return {
      regions: ordered.map((r) => r.name),
      primaryRegion,
      lockHomeRegion,
      nodes: Object.fromEntries(this.plan.regions.map((r) => [r.name, r.nodes.map((n) => n.id)])),
    };
  }

  // ---- DNS -----------------------------------------------------------------------------------

  async withdrawRegion(region: string): Promise<string> {
    this.#r.region(region);
    const withdrawn = readWithdrawn(this.#r.options.dir);
    withdrawn.add(region);
    writeWithdrawn(this.#r.options.dir, withdrawn);
    await this.#waitForHealthRound((report) => report.withdrawn?.includes(region) === true);
    return `${region} withdrawn from ${this.plan.globalHostname} (sticky until restored)`;
  }

  async restoreRegion(region: string): Promise<string> {
    this.#r.region(region);
    const withdrawn = readWithdrawn(this.#r.options.dir);
    withdrawn.delete(region);
    writeWithdrawn(this.#r.options.dir, withdrawn);
    await this.#waitForHealthRound((report) => report.withdrawn?.includes(region) !== true);
    return `${region} answered again by ${this.plan.globalHostname} (when its health checks pass)`;
  }

  /** Waits until the health checker has published a round satisfying `done` (it rewrites the zones in the same round). */
  async #waitForHealthRound(done: (report: NonNullable<ReturnType<typeof readHealth>>) => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const report = readHealth(this.#r.options.dir);
      if (report !== null && done(report)) return;
      if (Date.now() > deadline) throw new Error('the rehearsal health checker did not pick up the change within 10 s (is it running?)');
      await sleep(100);
    }
  }

  async answeringRegions(fromRegion: string): Promise<string[]> {
    const region = this.#r.region(fromRegion);
    const addresses = await resolveFrom(region.ns, region.routerIp, this.plan.globalHostname);
    return [...new Set(addresses.map((ip) => this.#r.regionOfIp(ip)).filter((r): r is string => r !== null))].sort();
  }

  // ---- Postgres (databases.ts, fencing.ts, follow.ts) --------------------------------------

  databases(): Promise<DatabaseStatus[]> {
    return databases(this.#r);
  }

  fenceDatabase(region: string): Promise<'fenced' | 'unreachable'> {
    return fenceDatabase(this.#r, region);
  }

  stopFencedPrimary(region: string): Promise<string> {
    return stopFencedPrimary(this.#r, region);
  }

  promoteDatabase(region: string): Promise<string> {
    return promoteDatabase(this.#r, region);
  }

  followPrimary(region: string, primaryRegion: string): Promise<string> {
    return followPrimary(this.#r, region, primaryRegion);
  }

  standbys(): Promise<StandbyStatus[]> {
    return standbys(this.#r);
  }

  setSynchronousRegions(primaryRegion: string, regions: readonly string[]): Promise<string> {
    return setSynchronousRegions(this.#r, primaryRegion, regions);
  }

  synchronousRegion(primaryRegion: string): Promise<string | null> {
    return synchronousRegion(this.#r, primaryRegion);
  }

  readEpoch(region: string): Promise<EpochRecord> {
    return readEpoch(this.#r, region);
  }

  writeEpoch(region: string, record: EpochRecord): Promise<string> {
    return writeEpoch(this.#r, region, record);
  }

  armLockHome(region: string, epoch: number, fenceFloor: number): Promise<string> {
    return armLockHome(this.#r, region, epoch, fenceFloor);
  }

  // ---- nodes and verification (probes.ts) ---------------------------------------------------

  nodeStatus(): Promise<NodeStatus[]> {
    return nodeStatus(this.#r);
  }

  probeWrite(region: string): Promise<string> {
    return probeWrite(this.#r, region);
  }

  probeHomeOutage(region: string): Promise<string> {
    return probeHomeOutage(this.#r, region);
  }

  // ---- Redis ---------------------------------------------------------------------------------

  redisAddress(region: string): string {
    return this.#r.region(region).redisAddr;
  }

  async measureRttMs(fromRegion: string, toRegion: string): Promise<number | null> {
    const from = this.#r.region(fromRegion);
    const to = this.#r.region(toRegion);
    // Only a Redis that answers is a candidate; the round trip itself is ICMP, free of process start-up.
    const answers = await this.#r.redis(toRegion, ['PING']).then((reply) => reply.includes('PONG'), () => false);
    if (!answers) return null;
    return pingRtt(from.ns, to.redisAddr.split(':')[0] ?? to.serviceIp, 3);
  }

  async stopRedis(region: string): Promise<string> {
    return (await stopRegionRedis(this.#r.options, region, 'crash')) ? `${region} Redis killed` : `${region} Redis was not running`;
  }

  async startRedis(region: string): Promise<string> {
    return (await startRegionRedis(this.#r.options, region)) ? `${region} Redis started (empty)` : `${region} Redis was running`;
  }

  // ---- nodes ---------------------------------------------------------------------------------

  #node(id: string): { region: RegionPlan; node: RegionPlan['nodes'][number] } {
    for (const region of this.plan.regions) {
      const node = region.nodes.find((n) => n.id === id);
      if (node !== undefined) return { region, node };
    }
    throw new Error(`no node "${id}" in the rehearsal`);
  }

  async stopNode(id: string): Promise<string> {
    this.#node(id);
    const record = runningProcess(this.#r.options.dir, `node ${id}`);
    if (record === null) return `${id} was not running`;
    await stopProcess({ ...record, stopSignal: 'SIGKILL' }, 3000);
    return `${id} killed (pid ${record.pid})`;
  }

  async startNode(id: string): Promise<string> {
    const { node } = this.#node(id);
    const record = await ensureNodeRunning(this.#r.options, node);
    return record === null ? `${id} was running` : `${id} started (pid ${record.pid}, data ${nodeDir(this.plan, node)})`;
  }

  // ---- S3 ------------------------------------------------------------------------------------

  async routeObjects(activeRegions: readonly string[]): Promise<string> {
    for (const r of activeRegions) this.#r.region(r);
    // The rehearsal has no Multi-Region Access Point: nodes write to their own region's bucket and
    // each region's replicator pushes to every other one, retrying a region it cannot reach.
    return `objects: nodes use their own region's bucket; replication runs between ${activeRegions.join(', ')} (no access point to re-route)`;
  }

  // ---- faults --------------------------------------------------------------------------------

  async injectRegionLoss(region: string, how: RegionLoss): Promise<string> {
    this.#r.region(region);
    if (how === 'crash') {
      const stopped = await crashRegion(this.#r.options, region);
      return `${region} crashed: killed ${stopped.length} process(es)`;
    }
    const current = readState(this.#r.options.dir)?.partitions ?? [];
    const pairs = new Set(current);
    for (const other of this.plan.regions.filter((r) => r.name !== region)) pairs.add(pairKey(region, other.name));
    const keys = await setPartitions(this.#r.options, [...pairs].map((key) => this.#pairOf(key)));
    return `${region} cut off from every other region (partitions: ${keys.join(', ')})`;
  }

  #pairOf(key: string): readonly [string, string] {
    const names = this.plan.regions.map((r) => r.name);
    for (const a of names) for (const b of names) if (a !== b && pairKey(a, b) === key) return [a, b];
    throw new Error(`unknown region pair ${key}`);
  }

  async healRegionLoss(region: string): Promise<string> {
    const current = readState(this.#r.options.dir)?.partitions ?? [];
    const keep = current.filter((key) => !this.#pairOf(key).includes(region));
    if (keep.length !== current.length) await setPartitions(this.#r.options, keep.map((key) => this.#pairOf(key)));
    const started = await restartRegionServices(this.#r.options, region);
    return `${region} reachable again${started.length > 0 ? `; started ${started.join(', ')}` : ''}`;
  }
}
