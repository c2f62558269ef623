/**
 * @module The rehearsal's layout, computed from `regions/` and a few options, with no I/O: which
 * network namespaces exist, every address and port, the nodes of each region, the one-way WAN
 * delays, the DSNs and the DNS names. `up`, `status`, `down`, the health checker and the tests all
 * read the same plan, so they can never disagree about where something lives.
 *
 * Addresses (N = `octet`, i = the region's 1-based position, home first):
 *   10.N.i.1        the router namespace's end of region i's link (also the DNS server for i)
 *   10.N.i.2        region i's services: its Postgres streaming replica :5432, Redis :6379,
 *                   S3 :9000; in the home region the primary :5432 and the replica :5433
 *   10.N.i.(10+k)   node k of region i, on `nodePort`
 * The router forwards between the /24s and delays each packet by the one-way delay of its pair.
 */
import { join } from 'node:path';
import type { Region } from '../../regions/schema.js';

export interface RehearsalOptions {
  /** Holds the state file, logs, and every server's data. */
  readonly dir: string;
  /** Prefix of the namespaces this rehearsal creates (`<prefix>-wan`, `<prefix>-eu`, ...). */
  readonly prefix: string;
  /** Second octet of the private 10.N.0.0/16 the rehearsal uses. */
  readonly octet: number;
  /** Round-trip times between region pairs, keyed `a-b` with the names in any order. */
  readonly rttMs: Readonly<Record<string, number>>;
  /** DNS zone served by the GeoDNS stand-in. */
  readonly domain: string;
  /** Label of the global hostname inside `domain`. */
  readonly globalLabel: string;
  readonly nodePort: number;
  /** Where nodes put new files: their own disk (replicated by the nodes) or their region's S3 server. */
  readonly backend: 'localfs' | 's3';
  /** Wait added by the S3 replicators before each copy, on top of the WAN (a slow replication). */
  readonly s3ExtraLagMs: number;
}

export interface NodePlan {
  /** Instance id, e.g. `eu-1`. */
  readonly id: string;
  readonly region: string;
  readonly ip: string;
  readonly port: number;
  /** `http://ip:port`, reachable from any namespace of the rehearsal. */
  readonly url: string;
  /** DNS name of this node alone, e.g. `eu-1.rehearsal.test`. */
  readonly hostname: string;
}

export interface RegionPlan {
  readonly name: string;
  readonly role: 'home' | 'secondary';
  /** 1-based; the third octet of the region's addresses. */
  readonly index: number;
  /** The region's own network namespace. */
  readonly ns: string;
  readonly subnet: string;
  /** The router's address on this region's link: default gateway and DNS server of the region. */
  readonly routerIp: string;
  /** Address of the region's Postgres, Redis and S3 server. */
  readonly serviceIp: string;
  readonly nodes: readonly NodePlan[];
  /**
   * Port of the region's own streaming replica on `serviceIp` (the home region's replica shares the
   * address with the primary, so it takes the next port).
   */
  readonly replicaPort: number;
  /** The region's own streaming replica: the nodes' `read_dsn`. */
  readonly replicaDsn: string;
  readonly redisAddr: string;
  readonly s3Endpoint: string;
  readonly bucket: string;
  /** Path the health checker polls on each node. */
  readonly healthCheckPath: string;
  /** 0 keeps the region out of the global name's answers (a drain), as in the CDK app. */
  readonly dnsWeight: number;
  /** DNS name answering this region's nodes, e.g. `eu.rehearsal.test`. */
  readonly hostname: string;
}

export interface WanLink {
  readonly from: string;
  readonly to: string;
  /** Delay added to every packet going from `from` to `to`. */
  readonly oneWayMs: number;
}

export interface RehearsalPlan {
  readonly options: RehearsalOptions;
  /** The router namespace joining the regions. */
  readonly wanNs: string;
  readonly regions: readonly RegionPlan[];
  readonly home: RegionPlan;
  /** The home region's primary as `up` creates it (on the home region's `serviceIp`). */
  readonly primaryDsn: string;
  /**
   * What the nodes write metadata to: every region's promotable server (`serviceIp:5432`), home
   * first. The nodes use whichever one is the writable primary, so after a failover drill promotes
   * another region's server they follow it without a restart.
   */
  readonly metadataDsn: string;
  /** The lock home: the home region's Redis, used by the nodes of every region. */
  readonly lockRedisAddr: string;
  readonly links: readonly WanLink[];
  /** `api.rehearsal.test` */
  readonly globalHostname: string;
}

/** Database the nodes use, on the primary and (replicated) on every standby. */
export const DATABASE = 'callfs';
export const POSTGRES_PORT = 5432;
export const REDIS_PORT = 6379;
export const S3_PORT = 9000;
/** Room for node addresses .11 to .99 inside a region's /24. */
const MAX_NODES_PER_REGION = 89;

/** Round trips given to region pairs that have no configured value, in pair order. */
const FALLBACK_RTTS = [40, 80, 140, 180, 220, 260];

export function pairKey(a: string, b: string): string {
  return [a, b].sort().join('-');
}

/** Parses `eu-us=40,eu-ap=80` into a round-trip table; throws naming the bad entry. */
export function parseRttTable(text: string): Record<string, number> {
  const table: Record<string, number> = {};
  for (const entry of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const match = /^([a-z][a-z0-9]*)-([a-z][a-z0-9]*)=(\d+)$/.exec(entry);
    if (match === null) throw new Error(`REHEARSAL_RTT: "${entry}" is not name-name=milliseconds (e.g. eu-us=40)`);
    const [, a = '', b = '', ms = '0'] = match;
    table[pairKey(a, b)] = Number(ms);
  }
  return table;
}

/** Round trip between two regions in ms (0 for a region and itself). */
export function rttBetween(plan: Pick<RehearsalPlan, 'links'>, a: string, b: string): number {
  if (a === b) return 0;
  const there = plan.links.find((l) => l.from === a && l.to === b)?.oneWayMs ?? 0;
  const back = plan.links.find((l) => l.from === b && l.to === a)?.oneWayMs ?? 0;
  return there + back;
}

/** The node's read readiness (`GET /ready/read`), the rehearsal's health-check path in every region. */
export const READ_READINESS_PATH = '/ready/read';

export function planRehearsal(regions: readonly Region[], options: RehearsalOptions): RehearsalPlan {
  if (regions.length < 2) throw new Error('the rehearsal needs at least two regions in regions/');
  if (regions.length > 200) throw new Error('the rehearsal supports at most 200 regions');
  if (!Number.isInteger(options.octet) || options.octet < 0 || options.octet > 255) throw new Error(`octet ${options.octet} is not 0..255`);
  const home = regions.find((r) => r.role === 'home');
  if (home === undefined) throw new Error('regions/ has no home region');
  const ordered = [home, ...regions.filter((r) => r !== home)];
  const net = `10.${options.octet}`;
  const plans: RegionPlan[] = ordered.map((region, i) => {
    const index = i + 1;
    if (region.nodeCount > MAX_NODES_PER_REGION) throw new Error(`region ${region.name}: nodeCount ${region.nodeCount} is more than the rehearsal's ${MAX_NODES_PER_REGION}`);
    const serviceIp = `${net}.${index}.2`;
    const nodes: NodePlan[] = Array.from({ length: region.nodeCount }, (_, k) => {
      const ip = `${net}.${index}.${11 + k}`;
      const id = `${region.name}-${k + 1}`;
      return { id, region: region.name, ip, port: options.nodePort, url: `http://${ip}:${options.nodePort}`, hostname: `${id}.${options.domain}` };
    });
    return {
      name: region.name,
      role: region.role,
      index,
      ns: `${options.prefix}-${region.name}`,
      subnet: `${net}.${index}.0/24`,
      routerIp: `${net}.${index}.1`,
      serviceIp,
      nodes,
      replicaPort: region.role === 'home' ? POSTGRES_PORT + 1 : POSTGRES_PORT,
      replicaDsn: `postgres://postgres@${serviceIp}:${region.role === 'home' ? POSTGRES_PORT + 1 : POSTGRES_PORT}/${DATABASE}`,
      redisAddr: `${serviceIp}:${REDIS_PORT}`,
      s3Endpoint: `http://${serviceIp}:${S3_PORT}`,
      bucket: region.bucketName ?? `geo-callfs-rehearsal-${region.name}`,
      // What the GeoDNS health checks ask, as Route 53's do (design decision D2): can the region
      // serve reads. A home outage then costs writes, not the other regions' place in DNS.
      healthCheckPath: READ_READINESS_PATH,
      dnsWeight: region.dnsWeight,
      hostname: `${region.name}.${options.domain}`,
    };
  });
  const links: WanLink[] = [];
  let pairNumber = 0;
  for (let i = 0; i < plans.length; i++) {
    for (let j = i + 1; j < plans.length; j++) {
      const a = plans[i];
      const b = plans[j];
      if (a === undefined || b === undefined) continue;
      const rtt = options.rttMs[pairKey(a.name, b.name)] ?? FALLBACK_RTTS[pairNumber] ?? 40 * (pairNumber + 1);
      pairNumber++;
      // An odd round trip puts the extra millisecond on the way back.
      links.push({ from: a.name, to: b.name, oneWayMs: Math.floor(rtt / 2) }, { from: b.name, to: a.name, oneWayMs: Math.ceil(rtt / 2) });
    }
  }
  const homePlan = plans[0];
  if (homePlan === undefined) throw new Error('no regions');
  return {
    options,
    wanNs: `${options.prefix}-wan`,
    regions: plans,
    home: homePlan,
    primaryDsn: `postgres://postgres@${homePlan.serviceIp}:${POSTGRES_PORT}/${DATABASE}`,
    metadataDsn: `postgres://postgres@${plans.map((r) => `${r.serviceIp}:${POSTGRES_PORT}`).join(',')}/${DATABASE}`,
    lockRedisAddr: homePlan.redisAddr,
    links,
    globalHostname: `${options.globalLabel}.${options.domain}`,
  };
}

/** Every namespace of the plan, the router first. */
export function namespacesOf(plan: RehearsalPlan): string[] {
  return [plan.wanNs, ...plan.regions.map((r) => r.ns)];
}

/** The region called `name`; throws naming the regions there are. */
export function regionNamed(plan: Pick<RehearsalPlan, 'regions'>, name: string): RegionPlan {
  const region = plan.regions.find((r) => r.name === name);
  if (region === undefined) throw new Error(`no region "${name}" in the rehearsal (regions: ${plan.regions.map((r) => r.name).join(', ')})`);
  return region;
}

export function allNodes(plan: RehearsalPlan): NodePlan[] {
  return plan.regions.flatMap((r) => [...r.nodes]);
}

/**
 * Regions in the order a client of `from` should try them: its own first, then by round trip
 * (ties by position). `from` undefined means a client outside every region: the home region first.
 */
export function regionsByDistance(plan: RehearsalPlan, from: string | undefined): RegionPlan[] {
  const origin = from ?? plan.home.name;
  return [...plan.regions].sort((a, b) => rttBetween(plan, origin, a.name) - rttBetween(plan, origin, b.name) || a.index - b.index);
}

/**
 * The `wan-delay` matrix file: `from to ms` per line, with the regions' third octets; pairs in
 * `partitioned` (pair keys, see `pairKey`) get `drop` both ways instead.
 */
export function delayMatrix(plan: RehearsalPlan, partitioned: ReadonlySet<string> = new Set()): string {
  const byName = new Map(plan.regions.map((r) => [r.name, r.index]));
  const lines = plan.links.map((l) => {
    const verdict = partitioned.has(pairKey(l.from, l.to)) ? 'drop' : String(l.oneWayMs);
    return `${byName.get(l.from) ?? 0} ${byName.get(l.to) ?? 0} ${verdict}   # ${l.from} -> ${l.to}`;
  });
  return ['# one-way delay between region subnets: <from third octet> <to third octet> <ms> (or "drop")', ...lines, ''].join('\n');
}

/** Counters of the S3 replicator pushing from `region`'s bucket. */
export function replicationStatsFile(plan: RehearsalPlan, region: string): string {
  return join(plan.options.dir, 'run', `s3-replication-${region}.json`);
}

/** Where a region's S3 stand-in appends every object it stores (what its replicator reads), under the rehearsal's run directory. */
export function createdObjectsLog(runDir: string, region: string): string {
  return join(runDir, `s3-created-${region}.log`);
}
