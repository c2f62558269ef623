/**
 * Every drill, end to end, with the AWS provider: the real SDK v3 clients (signing, the RDS
 * cross-region pre-signed URL, each protocol's serialisation and error parsing) talk to the AWS
 * stand-in over loopback HTTP, and the drill's SQL and Redis steps reach real Postgres servers
 * (TLS verified against the test's CA bundle) and real Redis servers. The drills run in sequence
 * on one deployment, as an operator would run them: a planned switchover from the home region,
 * the failback with the switch back, an evacuation (and restore) of a region, a node loss and the
 * lock home's Redis loss. The drill's SQL runs inside each region: the provider starts the region's
 * drill SQL runner task (RunTask), and the stand-in runs the runner's entry point against that
 * region's Postgres and keeps its output as the task's log stream.
 *
 * Besides each drill passing, the tests check the AWS calls the stand-in saw: no cross-region
 * replica is created with a parameter group (RDS refuses it), no instance is renamed aside before
 * its replacement exists, Route 53 stays within its rate, and the node lost is found by count and
 * readiness (ECS gives the replacement task a new id).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { DATABASE_NAME, databaseIdentifier } from '../../infra/config/names.js';
import { runDrillCommand } from '../../scripts/drill/cli.js';
import { startAwsWorld, APP_ROLE, type AwsWorld } from '../support/aws-standin-world.js';

let world: AwsWorld;
let dir: string;
/** The epoch the migrations seeded, before any drill. */
let firstEpoch = 0;
const output: string[] = [];

async function drill(...args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runDrillCommand({
    argv: [...args, '--provider', 'aws', '--yes', '--no-load', '--dir', dir],
    provider: world.provider(),
    scorecard: null,
    log: (line) => {
      lines.push(line);
      output.push(line);
    },
  });
  return { code, lines };
}

function regionOf(name: string): { awsRegion: string; identifier: string } {
  const region = world.regions.find((r) => r.name === name);
  if (region === undefined) throw new Error(`no region ${name}`);
  return { awsRegion: region.awsRegion, identifier: databaseIdentifier(region) };
}

/** The role RDS reports for a region's instance: `replica of <region>`, `primary`, `fenced`. */
async function roles(): Promise<Record<string, string>> {
  const provider = world.provider();
  const databases = await provider.databases();
  return Object.fromEntries(databases.map((d) => [d.region, d.role === 'replica' ? `replica of ${d.upstream ?? '?'}` : d.role]));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'callfs-aws-drills-'));
  world = await startAwsWorld();
  const [row] = await world.query<{ epoch: string }>('eu', 'SELECT epoch::text FROM callfs_epoch WHERE id = 1');
  firstEpoch = Number(row?.epoch ?? 0);
}, 120_000);

afterAll(async () => {
  await world?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('drills with the AWS provider against the stand-in', () => {
  it('primary-failover (planned switchover) moves the primary from eu to us, fencing eu so its sessions cannot write', async () => {
    const { code, lines } = await drill('primary-failover', 'us');
    expect(code, lines.join('\n')).toBe(0);
    expect(await roles()).toEqual({ eu: 'replica of us', us: 'primary', ap: 'replica of us' });
    // The epoch moved on, with the lock home at us's Redis, on every database.
    const [row] = await world.query<{ epoch: string; fenced: boolean; primary_region: string }>('us', 'SELECT epoch::text, fenced, primary_region FROM callfs_epoch WHERE id = 1');
    expect(row).toMatchObject({ epoch: String(firstEpoch + 1), fenced: false, primary_region: 'us' });
    // The nodes' role writes on the new primary again (the fence's revocation reached it as WAL and was undone).
    const [grant] = await world.query<{ ok: boolean }>('us', "SELECT has_table_privilege($1, 'inodes', 'INSERT') AS ok", [APP_ROLE]);
    expect(grant?.ok).toBe(true);
    // The old primary, renamed aside for the audit, holds the revocation: none of the nodes' sessions can write there.
    const aside = world.standin.rds.instances.find((i) => i.region === regionOf('eu').awsRegion && i.identifier.startsWith(`${regionOf('eu').identifier}-old-`));
    expect(aside?.tags.some((t) => t.Key === 'geo-callfs:fenced')).toBe(true);
    const session = new pg.Client({ host: '127.0.0.1', port: aside?.port ?? 0, user: APP_ROLE, database: DATABASE_NAME, connectionTimeoutMillis: 5000, query_timeout: 5000 });
    session.on('error', () => undefined);
    await session.connect();
    try {
      // What a session could do against a read-only default: turn it off for itself. The fence does not rest on it.
      await session.query('SET default_transaction_read_only = off');
      await expect(session.query('BEGIN TRANSACTION READ WRITE; UPDATE callfs_epoch SET fenced = false; COMMIT')).rejects.toThrow(/permission denied/);
      await session.query('ROLLBACK').catch(() => undefined);
      await expect(session.query("INSERT INTO drill_probe (path, body) VALUES ('/after-fence', 'x')")).rejects.toThrow(/permission denied/);
    } finally {
      await session.end().catch(() => undefined);
    }
  }, 240_000);

  it('failback eu --switch rebuilds nothing that already follows, catches up and moves the primary back to eu', async () => {
    const { code, lines } = await drill('failback', 'eu', '--switch');
    expect(code, lines.join('\n')).toBe(0);
    expect(await roles()).toEqual({ eu: 'primary', us: 'replica of eu', ap: 'replica of eu' });
    const [row] = await world.query<{ epoch: string; primary_region: string }>('eu', 'SELECT epoch::text, primary_region FROM callfs_epoch WHERE id = 1');
    expect(row).toMatchObject({ epoch: String(firstEpoch + 2), primary_region: 'eu' });
  }, 300_000);

  it('region-evacuate ap takes ap out of every region\'s answers (TestDNSAnswer), and region-restore brings it back', async () => {
    const evacuated = await drill('region-evacuate', 'ap');
    expect(evacuated.code, evacuated.lines.join('\n')).toBe(0);
    expect(evacuated.lines.join('\n')).toMatch(/ap→(eu|us)/);
    const restored = await drill('region-restore', 'ap');
    expect(restored.code, restored.lines.join('\n')).toBe(0);
    expect(restored.lines.join('\n')).toMatch(/ap→ap/);
  }, 120_000);

  it('node-loss of a us node is detected by the count of ready tasks, and the replacement (a new task id) restores it', async () => {
    const before = new Set(world.standin.ecs.tasks.filter((t) => t.region === regionOf('us').awsRegion && t.desiredStatus === 'RUNNING').map((t) => t.id));
    // The node the provider names first in us (whatever its ids are).
    const id = (await world.provider().topology()).nodes['us']?.[0] ?? 'none';
    const { code, lines } = await drill('node-loss', id);
    expect(code, lines.join('\n')).toBe(0);
    const after = world.standin.ecs.tasks.filter((t) => t.region === regionOf('us').awsRegion && t.desiredStatus === 'RUNNING').map((t) => t.id);
    expect(after).toHaveLength(2);
    // ECS replaced the stopped task by one with a new id: a provider waiting for the old id would never see it back.
    expect(after.filter((id) => !before.has(id))).toHaveLength(1);
  }, 120_000);

  it('redis-loss eu fails the lock home over and moves the lock home to another region under a new epoch', async () => {
    const { code, lines } = await drill('redis-loss', 'eu');
    expect(code, lines.join('\n')).toBe(0);
    expect(lines.join('\n')).toMatch(/exercises a failover, not an empty Redis/);
    const [row] = await world.query<{ epoch: string; lock_home: string }>('eu', 'SELECT epoch::text, lock_home FROM callfs_epoch WHERE id = 1');
    expect(row?.epoch).toBe(String(firstEpoch + 3));
    expect(row?.lock_home).not.toBe(`127.0.0.1:${world.redis['eu']?.port ?? 0}`);
  }, 120_000);

  it('never asked RDS for a cross-region replica with a parameter group, and associated the region\'s group after creation', () => {
    const creates = world.standin.rds.events.filter((e) => e.action === 'CreateDBInstanceReadReplica');
    expect(creates.length).toBeGreaterThan(0);
    for (const create of creates) {
      expect(create.detail['DBParameterGroupName'], `${create.region} ${create.identifier}`).toBeUndefined();
      expect(create.detail['PreSignedUrl']).toBe('present');
    }
    const associations = world.standin.rds.events.filter((e) => e.action === 'ModifyDBInstance' && e.detail['DBParameterGroupName'] !== undefined);
    expect(associations.map((e) => e.detail['DBParameterGroupName'])).toEqual(creates.map((c) => `${c.identifier.replace(/-next$/, '')}-params`));
    for (const instance of world.standin.rds.instances.filter((i) => i.identifier === databaseIdentifier({ name: i.tags.find((t) => t.Key === 'geo-callfs:region')?.Value ?? '' }))) {
      expect(instance.parameterGroup, instance.identifier).toEqual({ name: `${instance.identifier}-params`, applyStatus: 'in-sync' });
    }
  });

  it('renamed no database aside before its replacement existed', () => {
    const events = world.standin.rds.events;
    const asides = events.filter((e) => e.action === 'ModifyDBInstance' && /-old-/.test(e.detail['NewDBInstanceIdentifier'] ?? ''));
    expect(asides.length).toBeGreaterThan(0);
    for (const aside of asides) {
      const replacement = events.find((e) => e.action === 'CreateDBInstanceReadReplica' && e.region === aside.region && e.identifier === `${aside.identifier}-next` && e.at < aside.at);
      expect(replacement, `${aside.region}: ${aside.identifier} renamed aside at ${aside.at} with no replacement created before`).toBeDefined();
      // ...and the replacement took its parameter group before the old one was moved.
      const grouped = events.find((e) => e.action === 'RebootDBInstance' && e.region === aside.region && e.identifier === `${aside.identifier}-next` && e.at < aside.at);
      expect(grouped).toBeDefined();
    }
  });

  it('stayed within Route 53\'s request rate', () => {
    const calls = world.standin.route53.calls.map((c) => c.at).sort((a, b) => a - b);
    expect(calls.length).toBeGreaterThan(0);
    const worstSecond = Math.max(...calls.map((at) => calls.filter((t) => t >= at && t < at + 1000).length));
    expect(worstSecond).toBeLessThanOrEqual(10);
    expect(world.standin.calls.filter((c) => c.service === 'route53' && c.status === 400 && c.operation === 'ErrorResponse')).toHaveLength(0);
    expect(world.standin.errors, world.log.join('\n')).toEqual([]);
  });

  it('ran the drills\' SQL inside each region through its drill SQL runner task, never from here', () => {
    // Every region's SQL went through RunTask of its runner (the provider's default, `auto`, finds it published).
    const runs = world.standin.runTasks?.runs ?? [];
    for (const region of world.regions) expect(runs.filter((r) => r.region === region.awsRegion).length, region.name).toBeGreaterThan(0);
    expect(world.log.filter((line) => /connecting directly/.test(line))).toEqual([]);
    // Each task stopped after its container exited, and the drill read each result from CloudWatch Logs.
    const tasks = world.standin.runTasks?.tasks ?? [];
    expect(tasks.filter((t) => t.lastStatus === 'STOPPED' && t.stopCode === 'EssentialContainerExited').length).toBeGreaterThan(0);
    expect(world.standin.calls.filter((c) => c.service === 'logs' && c.operation === 'GetLogEvents').length).toBeGreaterThanOrEqual(tasks.filter((t) => t.exitCode !== undefined).length);
  });
});
