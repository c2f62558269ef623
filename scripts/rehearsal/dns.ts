/**
 * @module The GeoDNS stand-in: bind9 in the router namespace with one view per region subnet
 * (and one for everyone else), so the global hostname answers each client with the nearest
 * region that is healthy, the way Route 53 latency records with health checks do. "Nearest" is
 * the rehearsal's RTT table; "healthy" comes from the health checker, which rewrites the zones
 * and signals named whenever an answer changes. Like Route 53, when no candidate region is
 * healthy the answer falls back to the nearest one as if all were healthy.
 */
import { join } from 'node:path';
import { regionsByDistance, type RegionPlan, type RehearsalPlan } from './topology.js';

/** Seconds resolvers may keep an answer: short, so a failover shows at once. */
export const DNS_TTL = 1;

/** instance id → whether its last health checks passed. */
export type NodeHealth = Readonly<Record<string, boolean>>;

export interface GlobalAnswer {
  /** Region the global name points the client at. */
  readonly region: string;
  readonly addresses: readonly string[];
}

/** View name for clients of `region`, or `outside` for any other client. */
export function viewName(region: string | undefined): string {
  return region ?? 'outside';
}

export function viewNames(plan: RehearsalPlan): string[] {
  return [...plan.regions.map((r) => viewName(r.name)), viewName(undefined)];
}

function healthyAddresses(region: RegionPlan, health: NodeHealth): string[] {
  return region.nodes.filter((n) => health[n.id] === true).map((n) => n.ip);
}

/**
 * What the global hostname answers a client of `from` (undefined: a client outside every region).
 * A region in `withdrawn` (a drill took it out of traffic) is never answered, healthy or not: it
 * stays out until it is restored, like an inverted Route 53 health check.
 */
export function globalAnswer(plan: RehearsalPlan, from: string | undefined, health: NodeHealth, withdrawn: ReadonlySet<string> = new Set()): GlobalAnswer {
  const allowed = regionsByDistance(plan, from).filter((r) => !withdrawn.has(r.name));
  const candidates = allowed.filter((r) => r.dnsWeight > 0);
  const ordered = candidates.length > 0 ? candidates : allowed.length > 0 ? allowed : regionsByDistance(plan, from);
  for (const region of ordered) {
    const addresses = healthyAddresses(region, health);
    if (addresses.length > 0) return { region: region.name, addresses };
  }
  const nearest = ordered[0] ?? plan.home;
  return { region: nearest.name, addresses: nearest.nodes.map((n) => n.ip) };
}

/** The zone as clients of `from` see it. */
export function zoneText(plan: RehearsalPlan, from: string | undefined, health: NodeHealth, serial: number, withdrawn: ReadonlySet<string> = new Set()): string {
  const own = plan.regions.find((r) => r.name === from) ?? plan.home;
  const global = globalAnswer(plan, from, health, withdrawn);
  const a = (label: string, address: string): string => `${label.padEnd(16)} IN A ${address}`;
  const lines = [
    `$TTL ${DNS_TTL}`,
    `@ IN SOA ns.${plan.options.domain}. hostmaster.${plan.options.domain}. ( ${serial} 60 60 600 ${DNS_TTL} )`,
    '@ IN NS ns',
    a('ns', own.routerIp),
    `; ${plan.options.globalLabel}: nearest healthy region for this view = ${global.region}`,
    ...global.addresses.map((ip) => a(plan.options.globalLabel, ip)),
  ];
  for (const region of plan.regions) {
    const healthy = healthyAddresses(region, health);
    for (const ip of healthy.length > 0 ? healthy : region.nodes.map((n) => n.ip)) lines.push(a(region.name, ip));
    for (const node of region.nodes) lines.push(a(node.id, node.ip));
    lines.push(a(`db.${region.name}`, region.serviceIp));
  }
  return lines.join('\n') + '\n';
}

export function zoneFile(dnsDir: string, view: string): string {
  return join(dnsDir, 'zones', `${view}.zone`);
}

export function namedConf(plan: RehearsalPlan, dnsDir: string): string {
  const listen = plan.regions.map((r) => `${r.routerIp};`).join(' ');
  const zone = (view: string): string => `  zone "${plan.options.domain}" { type primary; file "${zoneFile(dnsDir, view)}"; notify no; };`;
  return [
    'options {',
    `  directory "${dnsDir}";`,
    `  pid-file "${join(dnsDir, 'named.pid')}";`,
    `  session-keyfile "${join(dnsDir, 'session.key')}";`,
    `  managed-keys-directory "${dnsDir}";`,
    `  listen-on port 53 { ${listen} };`,
    '  listen-on-v6 { none; };',
    '  recursion no;',
    '  dnssec-validation no;',
    '  notify no;',
    '};',
    'controls { };',
    ...plan.regions.flatMap((r) => [`view "${viewName(r.name)}" {`, `  match-clients { ${r.subnet}; };`, zone(viewName(r.name)), '};']),
    `view "${viewName(undefined)}" {`,
    '  match-clients { any; };',
    zone(viewName(undefined)),
    '};',
    '',
  ].join('\n');
}
