/**
 * The failover drills end to end on a rehearsal of their own (own namespaces, addresses and
 * directory): primary-failover under load through the global name with the scorecard's RPO and
 * RTO, the fencing of a node that still reaches the old primary, a failback that is interrupted
 * (its process killed) midway and resumed, region-evacuate and restore, node-loss and redis-loss.
 * The drills run in this order on the same rehearsal, each starting from where the last one left
 * it, as an operator would run them: the failover, the fenced node, a failback whose switchover
 * is scored (at most 10 s, no write lost, every replica streaming), a home outage with no
 * promotion, evacuation, node and Redis loss, and a failover whose target is behind another replica
 * by WAL that was never acknowledged (that replica is rewound). Needs root and `ip netns`; skipped, saying why, otherwise.
 */
import { spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDrillCommand } from '../../scripts/drill/cli.js';
import { lsnValue } from '../../scripts/drill/drills/steps.js';
import { createLocalProvider } from '../../scripts/drill/local/provider.js';
import type { DrillProvider } from '../../scripts/drill/provider.js';
import { readProgress, runsDir, type RunProgress } from '../../scripts/drill/runner.js';
import { scorecardHooks } from '../../scripts/drill/local/scorecard-hooks.js';
import { credentialsOf } from '../../scripts/local-credentials.js';
import { down, up } from '../../scripts/rehearsal/lifecycle.js';
import { rehearsalOptions, REPO_ROOT } from '../../scripts/rehearsal/paths.js';
import { pgServers } from '../../scripts/rehearsal/pg-servers.js';
import { setPartitions } from '../../scripts/rehearsal/network.js';
import { sql } from '../../scripts/rehearsal/postgres.js';
import { httpFrom, netnsAvailable } from '../../scripts/rehearsal/netns.js';
import { collectStatus } from '../../scripts/rehearsal/report.js';
import { sleep } from '../../scripts/rehearsal/state.js';
import type { RehearsalPlan } from '../../scripts/rehearsal/topology.js';
import { downAbandonedRuns, ownedTestDir } from '../support/rehearsal-dirs.js';

const unavailable = await netnsAvailable();
if (unavailable !== null) console.warn(`drill tests skipped: ${unavailable}`);

const DIR_PREFIX = 'drill-test-';


interface ScorecardFile {
  readonly drill: string;
  readonly pass: boolean;
  readonly budgets: { readonly rtoBudgetMs: number };
  readonly rtoMaxMs: number | null;
  readonly rpo: { readonly count: number; readonly checked: number; readonly unverified: readonly unknown[]; readonly lost: readonly unknown[] };
  readonly rto: Readonly<Record<string, { readonly rtoMs: number | null; readonly dnsMs: number | null }>>;
  readonly standbysAtEnd: ReadonlyArray<{ readonly name: string; readonly streaming: boolean }> | null;
  readonly orphans: ReadonlyArray<{ readonly explained: boolean }>;
  readonly outage: {
    readonly reads: Readonly<Record<string, { readonly total: number; readonly ok: number }>>;
    readonly readsRoutedToDeadRegion: number;
    readonly writesAfterDetection: number;
    readonly uncleanRefusals: readonly unknown[];
  } | null;
}

describe.skipIf(unavailable !== null)('failover drills on the rehearsal', () => {
  const dir = ownedTestDir(DIR_PREFIX);
  const drillDir = join(dir, 'drills');
  const options = rehearsalOptions({ dir: join(dir, 'rehearsal'), prefix: `gdt${process.pid % 100_000}`, octet: 248, backend: 'localfs' }, {});
  let plan: RehearsalPlan;
  let provider: DrillProvider;
  let apiKey = '';
  const output: string[] = [];

  const drill = async (...argv: string[]): Promise<{ code: number; lines: string[] }> => {
    const lines: string[] = [];
    const code = await runDrillCommand({
      argv: [...argv, '--dir', drillDir, '--steady', '8'],
      provider,
      log: (line) => {
        lines.push(line);
        output.push(line);
      },
      scorecard: scorecardHooks({ rehearsal: options, historyDir: join(drillDir, 'history'), log: (line) => (lines.push(line), output.push(line)) }),
    });
    return { code, lines };
  };
  const latestScorecard = (): ScorecardFile => JSON.parse(readFileSync(join(drillDir, 'history', 'latest.json'), 'utf8')) as ScorecardFile;
  const regionNs = (name: string): string => plan.regions.find((r) => r.name === name)?.ns ?? '';
  const nodeUrl = (id: string): string => plan.regions.flatMap((r) => r.nodes).find((n) => n.id === id)?.url ?? '';
  const auth = (): Record<string, string> => ({ Authorization: `Bearer ${apiKey}` });
  const primaryRegions = async (): Promise<string[]> => (await provider.databases()).filter((d) => d.role === 'primary').map((d) => d.region);

  beforeAll(async () => {
    await downAbandonedRuns(DIR_PREFIX, 'rehearsal');
    const result = await up(options, () => undefined);
    plan = result.plan;
    provider = createLocalProvider({ rehearsal: options });
    apiKey = credentialsOf(options.dir).api_key;
  }, 180_000);

  afterAll(async () => {
    if (output.length > 0) console.log(output.join('\n'));
    if (process.env['DRILL_TEST_KEEP'] !== undefined) cpSync(drillDir, process.env['DRILL_TEST_KEEP'], { recursive: true });
    await down(options, () => undefined).catch((error: unknown) => console.error('rehearsal down failed:', error));
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('plans without acting by default (dry run)', async () => {
    const { code, lines } = await drill('primary-failover', 'us');
    expect(code).toBe(0);
    expect(lines.join('\n')).toMatch(/dry run: nothing was changed/);
    expect(lines.join('\n')).toMatch(/fence-db .*\n.*check-target[\s\S]*promote/);
    expect(await primaryRegions()).toEqual(['eu']);
  });

  it('primary-failover eu → us under load: no acknowledged write lost, RTO measured, one writable primary', async () => {
    const { code, lines } = await drill('primary-failover', 'us', '--yes');
    expect(code, lines.join('\n')).toBe(0);
    expect(await primaryRegions()).toEqual(['us']);
    expect((await collectStatus(options))?.primaryRegion).toBe('us');
    const card = latestScorecard();
    expect(card.drill).toBe('primary-failover');
    expect(card.rpo.checked).toBeGreaterThan(20);
    expect(card.rpo.lost).toEqual([]);
    expect(card.rpo.count).toBe(0);
    expect(card.rpo.unverified).toEqual([]);
    expect(card.pass, JSON.stringify(card, null, 1).slice(0, 4000)).toBe(true);
    for (const region of ['us', 'ap']) expect(card.rto[region]?.rtoMs, `RTO of ${region}'s clients`).not.toBeNull();
    expect(lines.join('\n')).toMatch(/RTO/);
    // The new epoch and lock home are on the new primary.
    const epoch = await provider.readEpoch('us');
    expect(epoch).toMatchObject({ epoch: 2, fenced: false, primaryRegion: 'us', lockHome: provider.redisAddress('us') });
  }, 300_000);

  it('fencing: a node still connected to the old primary is refused, and writes nothing there', async () => {
    // eu is cut off: its nodes reach only eu's own (fenced) database.
    const before = await sql(pgServers(plan)[0]!.target, 'select count(*) from inodes', 'callfs');
    // Any eu node that listens (one that is not, e.g. after a crash, is reported in the output;
    // a run once found eu-1 not listening here, cause not yet known).
    let answer: Awaited<ReturnType<typeof httpFrom>> | null = null;
    let asked = '';
    for (const id of ['eu-1', 'eu-2']) {
      try {
        answer = await httpFrom(regionNs('eu'), { method: 'POST', url: `${nodeUrl(id)}/v1/files/fenced/${Date.now()}.txt`, headers: auth(), body: 'must not land', timeoutMs: 20_000 });
        asked = id;
        break;
      } catch (error) {
        output.push(`fencing test: ${id} did not answer: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (answer === null) throw new Error('no eu node answered');
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body.toString()) as { code?: string }).toMatchObject({ code: 'FENCED' });
    expect(answer.headers['retry-after']).toBeDefined();
    const ready = await httpFrom(regionNs('eu'), { url: `${nodeUrl(asked)}/ready`, timeoutMs: 10_000 });
    expect(ready.status).toBe(503);
    const after = await sql(pgServers(plan)[0]!.target, 'select count(*) from inodes', 'callfs');
    expect(after).toEqual(before);
    expect(await provider.answeringRegions('eu')).not.toContain('eu');
  }, 60_000);

  it('failback eu --switch under load, interrupted midway (its process killed) and resumed: no write lost, every replica streaming, the switchover RTO scored against a 10 s budget', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/drill.ts'), 'failback', 'eu', '--switch', '--yes', '--steady', '8', '--rto-budget', '10', '--dir', drillDir], {
      cwd: REPO_ROOT,
      env: { ...process.env, REHEARSAL_DIR: options.dir, REHEARSAL_PREFIX: options.prefix, REHEARSAL_OCTET: String(options.octet), REHEARSAL_BACKEND: 'localfs' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let childOutput = '';
    child.stdout.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Killed as soon as the rebuild of eu's databases is recorded: mid-drill, before the switchover.
    let run: RunProgress | null = null;
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      const names = (() => {
        try {
          return readdirSync(runsDir(drillDir)).filter((n) => n.endsWith('-failback.json'));
        } catch {
          return [];
        }
      })();
      const name = names[0];
      run = name === undefined ? null : readProgress(drillDir, name.slice(0, -5));
      if (run?.steps.some((s) => s.id === 'rebuild-db' && s.ok) === true) break;
      if (child.exitCode !== null) break;
      await sleep(100);
    }
    expect(child.exitCode, childOutput).toBeNull();
    child.kill('SIGKILL');
    await exited;
    expect(run?.status).toBe('running');
    // The killed process's load agents outlive it: stop them (their stop file) before resuming.
    writeFileSync(join(drillDir, 'load', run?.runId ?? '', `${run?.runId ?? ''}.stop`), 'the drill process was killed\n');
    await sleep(7000);
    const { code, lines } = await drill('resume', '--yes');
    expect(code, lines.join('\n')).toBe(0);
    expect(lines.join('\n')).toContain('resuming run');
    expect(lines.join('\n')).not.toMatch(/^\[ ?\d+\/\d+\] rebuild-db /m); // done before the kill: not run again
    expect(await primaryRegions()).toEqual(['eu']);
    const epoch = await provider.readEpoch('eu');
    expect(epoch).toMatchObject({ epoch: 3, fenced: false, primaryRegion: 'eu' });
    const databases = await provider.databases();
    expect(databases.filter((d) => d.role === 'replica').map((d) => [d.region, d.upstream]).sort()).toEqual([
      ['ap', 'eu'],
      ['us', 'eu'],
    ]);
    expect((await provider.nodeStatus()).every((n) => n.ready && n.epoch === 3)).toBe(true);
    expect(await provider.answeringRegions('eu')).toEqual(['eu']);
    // The scorecard: T0 is the switchover's declare step, the budget 10 s, nothing lost, and every
    // replica (the old primary and ap included) streams from eu at the end.
    const card = latestScorecard();
    expect(card.drill).toBe('failback');
    expect(card.budgets.rtoBudgetMs).toBe(10_000);
    expect(card.rpo.lost).toEqual([]);
    expect(card.rpo.count).toBe(0);
    expect(card.standbysAtEnd?.length).toBe(3);
    expect(card.standbysAtEnd?.every((st) => st.streaming)).toBe(true);
    expect(card.orphans.every((o) => o.explained)).toBe(true);
    // The 10 s budget is judged by the card (the drill's own verdict, recorded in its history); a
    // test on a shared, loaded machine cannot promise speed, so every other verdict must pass and
    // the RTO is reported, never asserted here.
    const failed = (card as unknown as { verdicts: Array<{ check: string; ok: boolean | null }> }).verdicts.filter((v) => v.ok === false);
    expect(failed.filter((v) => !v.check.startsWith('RTO')), JSON.stringify(card, null, 1).slice(0, 4000)).toEqual([]);
    console.log(`failback --switch: RTO max ${card.rtoMaxMs ?? 'none'} ms (budget 10 s)`);
    const status = await collectStatus(options);
    expect(status?.primaryRegion).toBe('eu');
    expect(status?.replicas.filter((r) => r.failure !== null)).toEqual([]);
  }, 420_000);

  it('home-outage eu under load: the other regions keep reading and refuse writes cleanly; all recovers after the heal', async () => {
    const { code, lines } = await drill('home-outage', 'eu', '--yes', '--hold', '15');
    expect(code, lines.join('\n')).toBe(0);
    const card = latestScorecard();
    expect(card.drill).toBe('home-outage');
    expect(card.outage).not.toBeNull();
    for (const region of ['us', 'ap']) {
      const reads = card.outage?.reads[region];
      // A sample, not a rate: on a loaded machine the one load client per region manages fewer.
      expect(reads?.total, `reads from ${region} during the outage`).toBeGreaterThanOrEqual(10);
      expect((reads?.ok ?? 0) / (reads?.total ?? 1)).toBeGreaterThanOrEqual(0.999);
    }
    expect(card.outage?.readsRoutedToDeadRegion).toBe(0);
    expect(card.outage?.writesAfterDetection).toBeGreaterThan(0);
    expect(card.outage?.uncleanRefusals).toEqual([]);
    expect(card.rpo.lost).toEqual([]);
    expect(card.pass, JSON.stringify(card, null, 1).slice(0, 4000)).toBe(true);
    expect(lines.join('\n')).toMatch(/write refused 503 WRITES_UNAVAILABLE/);
    expect(await primaryRegions()).toEqual(['eu']);
    expect((await provider.nodeStatus()).every((n) => n.ready)).toBe(true);
    expect((await collectStatus(options))?.replicas.filter((r) => r.failure !== null)).toEqual([]);
  }, 300_000);

  it('region-evacuate ap: no client is answered with ap; region-restore brings it back', async () => {
    const { code, lines } = await drill('region-evacuate', 'ap', '--yes');
    expect(code, lines.join('\n')).toBe(0);
    for (const from of ['eu', 'us', 'ap']) expect(await provider.answeringRegions(from)).not.toContain('ap');
    const served = await httpFrom(regionNs('ap'), { method: 'POST', url: `http://${plan.globalHostname}:${plan.options.nodePort}/v1/files/evacuated/${Date.now()}.txt`, headers: auth(), body: 'x', timeoutMs: 20_000 });
    expect(served.status).toBe(201);
    expect(served.headers['x-callfs-served-by']).not.toMatch(/region=ap/);
    const card = latestScorecard();
    expect(card.rpo.lost).toEqual([]);
    expect(card.pass, JSON.stringify(card, null, 1).slice(0, 4000)).toBe(true);
    const restored = await drill('region-restore', 'ap', '--yes', '--no-load');
    expect(restored.code, restored.lines.join('\n')).toBe(0);
    expect(await provider.answeringRegions('ap')).toEqual(['ap']);
  }, 300_000);

  it('node-loss and redis-loss of the lock home: writes keep working, the lock home moves under a new epoch', async () => {
    const lost = await drill('node-loss', 'us-1', '--yes', '--no-load');
    expect(lost.code, lost.lines.join('\n')).toBe(0);
    expect((await provider.nodeStatus()).find((n) => n.id === 'us-1')?.ready).toBe(true);
    const redis = await drill('redis-loss', 'eu', '--yes', '--no-load');
    expect(redis.code, redis.lines.join('\n')).toBe(0);
    const epoch = await provider.readEpoch('eu');
    expect(epoch.epoch).toBe(4);
    // The successor is the nearest region to the primary (eu) by measured round trip: us (40 ms), not ap (80 ms).
    expect(epoch.lockHome).toBe(provider.redisAddress('us'));
    expect((await collectStatus(options))?.lockHomeRegion).toBe('us');
    expect((await provider.nodeStatus()).every((n) => n.ready && n.epoch === 4)).toBe(true);
  }, 300_000);

  it('primary-failover with a replica ahead of the synchronous target: the target is promoted, and the replica is rewound onto its timeline', async () => {
    // In a partition, WAL the synchronous standby (us) has not received yet can already have
    // reached another standby (ap). Made deterministic: right before the cut, after the drill
    // made us the synchronous standby, eu's link to us drops every packet (eu still lists us as
    // its synchronous standby for seconds), and a commit that waits for no standby
    // (synchronous_commit = local: nothing the cluster acknowledges) reaches ap alone.
    const server = (region: string) => pgServers(plan).find((s) => s.region.name === region && s.promotable)!;
    const lsnOf = async (region: string): Promise<bigint> => lsnValue((await provider.databases()).find((d) => d.region === region)?.lsn ?? null) ?? 0n;
    let ahead = false;
    const racing = new Proxy(provider, {
      get(target, key) {
        if (key === 'injectRegionLoss') {
          return async (region: string, how: Parameters<NonNullable<DrillProvider['injectRegionLoss']>>[1]) => {
            await setPartitions(options, [['eu', 'us']]);
            await sql(server('eu').target, 'set synchronous_commit = local; create table drill_test_unacknowledged (v text); insert into drill_test_unacknowledged values (1)', 'postgres');
            for (const until = Date.now() + 5_000; !ahead && Date.now() < until; ) {
              ahead = (await lsnOf('ap')) > (await lsnOf('us'));
              if (!ahead) await sleep(50);
            }
            return target.injectRegionLoss!(region, how);
          };
        }
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const lines: string[] = [];
    const code = await runDrillCommand({
      argv: ['primary-failover', 'us', '--yes', '--no-load', '--dir', drillDir],
      provider: racing,
      log: (line) => (lines.push(line), output.push(line)),
      scorecard: scorecardHooks({ rehearsal: options, historyDir: join(drillDir, 'history'), log: (line) => (lines.push(line), output.push(line)) }),
    });
    const text = lines.join('\n');
    expect(ahead, `ap received WAL us had not when the fault began\n${text}`).toBe(true);
    expect(code, text).toBe(0);
    expect(text).toMatch(/check-target .*received WAL past it that no client was told is committed \(us was the synchronous standby at the cut\)/);
    expect(text).toMatch(/ap \(ap-replica\) rebuilt from us \(its WAL runs to [0-9A-F]+\/[0-9A-F]+, past [0-9A-F]+\/[0-9A-F]+ where timeline \d+ forked off; pg_rewind\)/);
    expect(await primaryRegions()).toEqual(['us']);
    expect((await provider.databases()).filter((d) => d.region === 'ap').map((d) => [d.role, d.upstream])).toEqual([['replica', 'us']]);
    // The unacknowledged commit is gone wherever us's timeline is followed: ap was rewound, not
    // just re-pointed, and it replays what us writes now.
    await sql(server('us').target, 'create table drill_test_after (v text)', 'postgres');
    let seen: string[][] = [];
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(200)) {
      seen = await sql(server('ap').target, "select to_regclass('drill_test_unacknowledged') is null, to_regclass('drill_test_after') is not null", 'postgres');
      if (seen[0]?.[1] === 't') break;
    }
    expect(seen).toEqual([['t', 't']]);
    expect(await sql(server('us').target, "select to_regclass('drill_test_unacknowledged') is null", 'postgres')).toEqual([['t']]);
  }, 300_000);
});
