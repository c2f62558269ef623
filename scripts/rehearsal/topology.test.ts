import { describe, expect, it } from 'vitest';
import { REGIONS } from '../../regions/index.js';
import { globalAnswer, namedConf, zoneText } from './dns.js';
import { nodeYaml } from './node-config.js';
import { delayMatrix, parseRttTable, planRehearsal, regionsByDistance, rttBetween, type RehearsalOptions } from './topology.js';

const options: RehearsalOptions = {
  dir: '/tmp/rehearsal-plan',
  prefix: 'gx',
  octet: 250,
  rttMs: { 'eu-us': 40, 'ap-eu': 80, 'ap-us': 141 },
  domain: 'rehearsal.test',
  globalLabel: 'api',
  nodePort: 8443,
  backend: 'localfs',
  s3ExtraLagMs: 0,
};
const plan = planRehearsal(REGIONS, options);
const everyoneUp = Object.fromEntries(plan.regions.flatMap((r) => r.nodes.map((n) => [n.id, true])));

describe('rehearsal plan', () => {
  it('puts the home region first, each region in its own namespace and /24, its nodes named region-k', () => {
    expect(plan.home.name).toBe('eu');
    expect(plan.regions.map((r) => [r.ns, r.subnet])).toEqual([
      ['gx-eu', '10.250.1.0/24'],
      ['gx-ap', '10.250.2.0/24'],
      ['gx-us', '10.250.3.0/24'],
    ]);
    expect(plan.regions[0]?.nodes.map((n) => [n.id, n.url])).toEqual([
      ['eu-1', 'http://10.250.1.11:8443'],
      ['eu-2', 'http://10.250.1.12:8443'],
    ]);
    expect(plan.primaryDsn).toBe('postgres://postgres@10.250.1.2:5432/callfs');
    expect(plan.metadataDsn).toBe('postgres://postgres@10.250.1.2:5432,10.250.2.2:5432,10.250.3.2:5432/callfs');
    expect(plan.regions.map((r) => r.replicaDsn)).toEqual([
      'postgres://postgres@10.250.1.2:5433/callfs',
      'postgres://postgres@10.250.2.2:5432/callfs',
      'postgres://postgres@10.250.3.2:5432/callfs',
    ]);
  });

  it('splits each round trip into two one-way delays, the odd millisecond on the way back', () => {
    expect(rttBetween(plan, 'ap', 'us')).toBe(141);
    expect(plan.links.filter((l) => [l.from, l.to].sort().join() === 'ap,us').map((l) => l.oneWayMs).sort()).toEqual([70, 71]);
    expect(delayMatrix(plan)).toContain('1 3 20   # eu -> us');
    expect(() => parseRttTable('eu-us=40,bad')).toThrow(/"bad" is not name-name=milliseconds/);
    expect(delayMatrix(plan, new Set(['eu-us']))).toMatch(/^3 1 drop/m);
  });

  it('orders regions by round trip from the client, its own first', () => {
    expect(regionsByDistance(plan, 'us').map((r) => r.name)).toEqual(['us', 'eu', 'ap']);
    expect(regionsByDistance(plan, 'ap').map((r) => r.name)).toEqual(['ap', 'eu', 'us']);
    expect(regionsByDistance(plan, undefined).map((r) => r.name)).toEqual(['eu', 'us', 'ap']);
  });
});

describe('GeoDNS answers', () => {
  it('answers each region with its own healthy nodes', () => {
    expect(globalAnswer(plan, 'us', everyoneUp)).toEqual({ region: 'us', addresses: ['10.250.3.11', '10.250.3.12'] });
    expect(globalAnswer(plan, 'us', { ...everyoneUp, 'us-1': false })).toEqual({ region: 'us', addresses: ['10.250.3.12'] });
  });

  it('sends a region whose nodes are all down to the next nearest, and falls back to all when none is healthy', () => {
    expect(globalAnswer(plan, 'us', { ...everyoneUp, 'us-1': false, 'us-2': false }).region).toBe('eu');
    expect(globalAnswer(plan, 'us', {}).region).toBe('us');
  });

  it('leaves a drained region (dnsWeight 0) out of the global name only', () => {
    const drained = planRehearsal(
      REGIONS.map((r) => (r.name === 'us' ? { ...r, dnsWeight: 0 } : r)),
      options,
    );
    expect(globalAnswer(drained, 'us', everyoneUp).region).toBe('eu');
    expect(zoneText(drained, 'us', everyoneUp, 7)).toMatch(/^us\s+IN A 10\.250\.3\.11$/m);
  });

  it('writes one bind view per region subnet plus one for everyone else', () => {
    const conf = namedConf(plan, '/tmp/dns');
    expect(conf).toContain('match-clients { 10.250.2.0/24; };');
    expect(conf).toContain('listen-on port 53 { 10.250.1.1; 10.250.2.1; 10.250.3.1; };');
    expect(conf.match(/^view /gm)).toHaveLength(4);
    expect(zoneText(plan, 'ap', everyoneUp, 3)).toMatch(/^api\s+IN A 10\.250\.2\.11$/m);
  });
});

describe('node configuration', () => {
  it('writes to whichever region server is the primary, reads from its region replica, locks at the home Redis, peers with every other node', () => {
    const ap = plan.regions[1];
    const node = ap?.nodes[0];
    if (ap === undefined || node === undefined) throw new Error('plan has no ap-1');
    const yaml = nodeYaml(plan, ap, node, { api_key: 'k'.repeat(24), internal_proxy_secret: 's'.repeat(32), single_use_link_secret: 't'.repeat(32) }, '/tmp/n');
    // Every region's promotable server, home first: the node writes to whichever is the primary.
    expect(yaml).toContain('  dsn: "postgres://postgres@10.250.1.2:5432,10.250.2.2:5432,10.250.3.2:5432/callfs"');
    expect(yaml).toContain('  read_dsn: "postgres://postgres@10.250.2.2:5432/callfs"');
    expect(yaml).toContain('  redis_addr: "10.250.1.2:6379"');
    expect(yaml).toContain('    us-2: "http://10.250.3.12:8443"');
    expect(yaml).toContain('    us-2: us');
    expect(yaml).not.toContain('    ap-1: "');
    expect(yaml).toContain('  factor: 2');
    // The node is told the round trips its region has to the others (reads prefer the nearest copy).
    expect(yaml).toContain(`  region_rtt_ms:\n    eu: ${rttBetween(plan, 'ap', 'eu')}\n    us: ${rttBetween(plan, 'ap', 'us')}`);
  });
});
