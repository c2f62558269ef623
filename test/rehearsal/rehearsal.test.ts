/**
 * End to end on the local multi-region rehearsal: the file starts its own rehearsal (own
 * namespace prefix and directory, so it never meets `npm run rehearsal` or another run of this
 * file), checks the WAN it built, cross-region reads and a cross-region POST race through real
 * nodes, and the GeoDNS stand-in's answers before and after a region's nodes stop, then takes it
 * all down. Needs root and `ip netns`; skipped, saying why, otherwise.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsOf } from '../../scripts/local-credentials.js';
import { down, isFullyUp, up } from '../../scripts/rehearsal/lifecycle.js';
import { measureRtt, setPartitions } from '../../scripts/rehearsal/network.js';
import { stopRegionNodes } from '../../scripts/rehearsal/nodes.js';
import { pathsOf, rehearsalOptions } from '../../scripts/rehearsal/paths.js';
import { httpFrom, namespaceExists, netnsAvailable, pingRtt, resolveFrom, type HttpAnswer } from '../../scripts/rehearsal/netns.js';
import { collectStatus } from '../../scripts/rehearsal/report.js';
import { readState, sleep, type RehearsalState } from '../../scripts/rehearsal/state.js';
import { isRunning } from '../../scripts/local-services/pid-lock.js';
import { createdObjectsLog, regionsByDistance, type RegionPlan, type RehearsalPlan } from '../../scripts/rehearsal/topology.js';
import { downAbandonedRuns, ownedTestDir } from '../support/rehearsal-dirs.js';

const unavailable = await netnsAvailable();
if (unavailable !== null) console.warn(`rehearsal tests skipped: ${unavailable}`);

/** Allowed distance between a measured RTT and the configured one (the machine may be busy). */
function rttTolerance(configuredMs: number): number {
  return Math.max(10, configuredMs * 0.2);
}

const DIR_PREFIX = 'rehearsal-test-';


describe.skipIf(unavailable !== null)('local multi-region rehearsal', () => {
  const dir = ownedTestDir(DIR_PREFIX);
  // Files go to each region's S3 bucket, and replication waits a little before each copy, so a
  // read right after a write in another region always finds its own bucket without the copy.
  const replicationLagMs = 1500;
  const options = rehearsalOptions(
    { dir, prefix: `gct${process.pid % 100_000}`, octet: 252, rttMs: { 'eu-us': 40, 'ap-eu': 80, 'ap-us': 140 }, backend: 's3', s3ExtraLagMs: replicationLagMs },
    {},
  );
  let plan: RehearsalPlan;
  let state: RehearsalState;
  let apiKey = '';
  const lines: string[] = [];

  const region = (name: string): RegionPlan => {
    const found = plan.regions.find((r) => r.name === name);
    if (found === undefined) throw new Error(`no region ${name}`);
    return found;
  };
  const auth = (): Record<string, string> => ({ Authorization: `Bearer ${apiKey}` });
  /** The consistency token a write answered with, to present on later reads (read-your-writes). */
  const withToken = (write: HttpAnswer): Record<string, string> => {
    const token = write.headers['x-callfs-consistency-token'];
    return token === undefined ? {} : { 'X-CallFS-Consistency-Token': token };
  };
  const servedByRegion = (header: string | undefined): string | undefined => /region=([a-z0-9-]+)/.exec(header ?? '')?.[1];

  beforeAll(async () => {
    await downAbandonedRuns(DIR_PREFIX);
    const result = await up(options, (line) => lines.push(line));
    plan = result.plan;
    state = result.state;
    apiKey = credentialsOf(dir).api_key;
    console.log(`rehearsal up in ${((state.upMs ?? 0) / 1000).toFixed(1)} s\n${lines.join('\n')}`);
  }, 180_000);

  afterAll(async () => {
    await down(options, () => undefined).catch((error: unknown) => console.error('rehearsal down failed:', error));
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('is idempotent: a second up finds everything running and starts nothing', async () => {
    const again = await up(options, () => undefined);
    expect(again.started).toBe(false);
    expect(isFullyUp(readState(dir))).toBe(true);
  });

  it('delays traffic between regions by the configured round trips', async () => {
    expect(state.wanDelay).toMatch(/NFQUEUE/);
    const now = await measureRtt(plan, 5);
    for (const pair of [...state.rtt, ...now]) {
      expect(pair.measuredMs, `${pair.from}<->${pair.to}`).not.toBeNull();
      expect(Math.abs((pair.measuredMs ?? 0) - pair.configuredMs), `${pair.from}<->${pair.to}: ${pair.measuredMs} ms for ${pair.configuredMs} ms`).toBeLessThanOrEqual(
        rttTolerance(pair.configuredMs),
      );
    }
    expect(now.map((p) => p.configuredMs).sort((a, b) => a - b)).toEqual([40, 80, 140]);
  });

  it('runs a Postgres streaming replica in every region', async () => {
    const status = await collectStatus(options);
    expect(status?.replicas.map((r) => [r.region, r.state]).sort()).toEqual([
      ['ap', 'streaming'],
      ['eu', 'streaming'],
      ['us', 'streaming'],
    ]);
    expect(status?.processes.every((p) => p.running)).toBe(true);
  });

  it('serves a file written in one region, byte for byte, in another: through to the origin bucket, then from its own', async () => {
    const eu = region('eu');
    const us = region('us');
    const ap = region('ap');
    const bytes = randomBytes(256 * 1024);
    const path = `/v1/files/geo/${Date.now()}-written-in-eu.bin`;
    const put = await httpFrom(eu.ns, { method: 'PUT', url: `${eu.nodes[0]?.url}${path}`, headers: { ...auth(), 'Content-Type': 'application/octet-stream' }, body: bytes });
    expect(put.status, put.body.toString()).toBe(201);
    expect(servedByRegion(put.headers['x-callfs-served-by'])).toBe('eu');
    // Reads in other regions use their own metadata replica: the write's consistency token makes
    // them wait for the replica (or use the primary) instead of missing the new file.
    const readHeaders = { ...auth(), ...withToken(put) };

    // Right after the write the us bucket has no copy yet: the us node reads through to eu's.
    const early = await httpFrom(us.ns, { url: `${us.nodes[0]?.url}${path}`, headers: readHeaders });
    expect(early.status, early.body.toString()).toBe(200);
    expect(early.body.equals(bytes)).toBe(true);
    expect(servedByRegion(early.headers['x-callfs-served-by'])).toBe('us');
    expect(early.headers['x-callfs-read-through']).toBe('eu');
    expect(early.headers['x-callfs-region-hops']).toBe('1');

    // Once replication has copied it, the same read is served from the us bucket alone.
    const started = Date.now();
    let late = early;
    while (late.headers['x-callfs-read-through'] !== undefined && Date.now() - started < 20_000) {
      await sleep(250);
      late = await httpFrom(us.ns, { url: `${us.nodes[1]?.url}${path}`, headers: readHeaders });
    }
    expect(late.status).toBe(200);
    expect(late.body.equals(bytes)).toBe(true);
    expect(servedByRegion(late.headers['x-callfs-served-by'])).toBe('us');
    expect(late.headers['x-callfs-read-through']).toBeUndefined();
    // Region-local from here on: no hop between regions.
    expect(late.headers['x-callfs-region-hops']).toBe('0');

    // Through the global name, from ap: the GeoDNS sends the client to an ap node.
    const fromAp = await httpFrom(ap.ns, { url: `http://${plan.globalHostname}:${plan.options.nodePort}${path}`, headers: readHeaders });
    expect(fromAp.status, fromAp.body.toString()).toBe(200);
    expect(fromAp.body.equals(bytes)).toBe(true);
    expect(servedByRegion(fromAp.headers['x-callfs-served-by'])).toBe('ap');
    expect(Number(fromAp.headers['x-callfs-region-hops'])).toBe(fromAp.headers['x-callfs-read-through'] === undefined ? 0 : 1);
    for (const [where, answer] of [['us at once', early], ['us later', late], ['ap by name', fromAp]] as const) {
      console.log(
        `read in ${where}: served by ${answer.headers['x-callfs-served-by']}, metadata from ${answer.headers['x-callfs-read-source'] ?? '?'}, ` +
          `bytes ${answer.headers['x-callfs-read-through'] === undefined ? 'from its own bucket' : `through ${answer.headers['x-callfs-read-through']}`}, ${answer.ms} ms`,
      );
    }
  });

  it('gives exactly one 201 and one 409 to a POST race between two regions', async () => {
    const eu = region('eu');
    const ap = region('ap');
    for (let round = 0; round < 3; round++) {
      const path = `/v1/files/race/${Date.now()}-${round}.txt`;
      const [a, b] = await Promise.all([
        httpFrom(eu.ns, { method: 'POST', url: `${eu.nodes[1]?.url}${path}`, headers: auth(), body: 'from eu' }),
        httpFrom(ap.ns, { method: 'POST', url: `${ap.nodes[0]?.url}${path}`, headers: auth(), body: 'from ap' }),
      ]);
      expect([a.status, b.status].sort(), `${a.body.toString()} | ${b.body.toString()}`).toEqual([201, 409]);
      const [winner, won] = a.status === 201 ? ['from eu', a] : ['from ap', b];
      const read = await httpFrom(ap.ns, { url: `${ap.nodes[1]?.url}${path}`, headers: { ...auth(), ...withToken(won) } });
      expect(read.body.toString()).toBe(winner);
    }
  });

  it('replicates an object written to one region\'s bucket to the others, asynchronously', async () => {
    const ap = region('ap');
    const key = `replication/${Date.now()}.bin`;
    const bytes = randomBytes(64 * 1024);
    // s3rver takes unsigned requests: a plain PUT stands in for any writer of the bucket.
    const put = await httpFrom(ap.ns, { method: 'PUT', url: `${ap.s3Endpoint}/${ap.bucket}/${key}`, body: bytes });
    expect(put.status).toBe(200);
    const started = Date.now();
    for (const other of plan.regions.filter((r) => r !== ap)) {
      let copy: HttpAnswer | null = null;
      while (Date.now() - started < 15_000) {
        copy = await httpFrom(other.ns, { url: `${other.s3Endpoint}/${other.bucket}/${key}` });
        if (copy.status === 200) break;
        await sleep(100);
      }
      expect(copy?.status, `copy in ${other.name}`).toBe(200);
      expect(copy?.body.equals(bytes)).toBe(true);
      expect(copy?.headers['x-amz-meta-rehearsal-replica-of']).toBe('ap');
    }
    console.log(`S3 copy of an ap object present in every other region ${Date.now() - started} ms after the write`);
    // The replicator's counters are written once the copy is done: give them a moment.
    let status = await collectStatus(options);
    for (let i = 0; i < 20 && (status?.s3Replication.find((r) => r.region === 'ap')?.stats?.replicated ?? 0) < 1; i++) {
      await sleep(250);
      status = await collectStatus(options);
    }
    const fromAp = status?.s3Replication.find((r) => r.region === 'ap')?.stats;
    expect(fromAp?.replicated).toBeGreaterThanOrEqual(1);
    expect(fromAp?.lagMs.last).not.toBeNull();
    // Copies are never copied back: the objects pushed from eu and us are only those written there.
    expect(status?.s3Replication.find((r) => r.region === 'us')?.stats?.replicated).toBe(0);
    // What the replicator reads instead of listing the bucket every round: ap's stand-in logged
    // the object once stored, and us's stand-in logged the copy it received.
    const logged = (name: string): Array<{ bucket: string; key: string }> =>
      readFileSync(createdObjectsLog(pathsOf(plan).run, name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { bucket: string; key: string });
    expect(logged('ap')).toContainEqual({ bucket: ap.bucket, key });
    expect(logged('us')).toContainEqual({ bucket: region('us').bucket, key });
  });

  it('answers the global name with the client region, and with the next nearest once that region is down', async () => {
    for (const r of plan.regions) {
      const answer = await resolveFrom(r.ns, r.routerIp, plan.globalHostname);
      expect(answer, `from ${r.name}`).toEqual(r.nodes.map((n) => n.ip).sort());
    }
    const us = region('us');
    const next = regionsByDistance(plan, 'us')[1];
    expect(next?.name).toBe('eu');
    const stopped = await stopRegionNodes(options, 'us');
    expect(stopped).toBe(2);
    const started = Date.now();
    let answer: string[] = [];
    while (Date.now() - started < 20_000) {
      answer = await resolveFrom(us.ns, us.routerIp, plan.globalHostname);
      if (answer.join() === next?.nodes.map((n) => n.ip).sort().join()) break;
      await sleep(200);
    }
    expect(answer).toEqual(next?.nodes.map((n) => n.ip).sort());
    console.log(`global name moved from us to ${next?.name} ${Date.now() - started} ms after the us nodes stopped`);
    // A client in us using the name (its resolver is the GeoDNS) is now served by eu.
    const health = await httpFrom(us.ns, { url: `http://${plan.globalHostname}:${plan.options.nodePort}/health` });
    expect(health.status).toBe(200);
    expect(servedByRegion(health.headers['x-callfs-served-by'])).toBe('eu');
    // Other regions keep their own answer.
    const eu = region('eu');
    expect(await resolveFrom(eu.ns, eu.routerIp, plan.globalHostname)).toEqual(eu.nodes.map((n) => n.ip).sort());
  });

  it('partitions two regions (every packet dropped) and heals them', async () => {
    const eu = region('eu');
    const ap = region('ap');
    const us = region('us');
    expect(await setPartitions(options, [['ap', 'eu']])).toEqual(['ap-eu']);
    expect(await pingRtt(eu.ns, ap.serviceIp, 2)).toBeNull();
    expect(await pingRtt(ap.ns, eu.serviceIp, 2)).toBeNull();
    expect(await pingRtt(eu.ns, us.serviceIp, 2)).not.toBeNull();
    expect(readState(dir)?.partitions).toEqual(['ap-eu']);
    expect(await setPartitions(options, [])).toEqual([]);
    const healed = await pingRtt(eu.ns, ap.serviceIp, 3);
    expect(Math.abs((healed ?? 0) - 80)).toBeLessThanOrEqual(rttTolerance(80));
  });

  it('down stops every process and namespace it started, and a second down is a no-op', async () => {
    const recorded = readState(dir);
    expect(await down(options, () => undefined)).toBe(true);
    for (const ns of recorded?.namespaces ?? []) expect(namespaceExists(ns), ns).toBe(false);
    for (const p of recorded?.processes ?? []) expect(isRunning(p), p.name).toBe(false);
    expect(await down(options, () => undefined)).toBe(false);
  });
});
