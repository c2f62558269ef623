/**
 * `npm run deploy`: the command line and the runner, with the cdk/aws commands replaced by a
 * recording runner (no AWS here). Dry run by default, steps in order, a stop at the first
 * failure, a resume from that step, and the state recorded when the rollout completes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REGIONS } from '../../regions/index.js';
import { runDeployCommand } from '../../infra/rollout/cli.js';
import { readState, stateFiles } from '../../infra/rollout/apply.js';
import { regionsWith, SA_REGION_FILE } from './support.js';

const scratch = mkdtempSync(join(tmpdir(), 'geo-callfs-deploy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function harness(name: string, failOn?: (command: readonly string[]) => boolean) {
  const state = join(scratch, name);
  const lines: string[] = [];
  const commands: string[] = [];
  const run = async (command: readonly string[]): Promise<number> => {
    commands.push(command.join(' '));
    return failOn?.(command) === true ? 1 : 0;
  };
  const deploy = (argv: readonly string[], regions = REGIONS) =>
    runDeployCommand({ argv: [...argv, '--state', state], regions, repositoryRoot: scratch, log: (line) => lines.push(line), run, env: {} });
  return { state, lines, commands, deploy };
}

const ACCOUNT_FLAG = ['-c', 'account=123456789012'];

describe('npm run deploy', () => {
  it('plan prints the steps with their reasons and commands, and runs nothing', async () => {
    const h = harness('plan');
    expect(await h.deploy(['plan', ...ACCOUNT_FLAG])).toBe(0);
    const text = h.lines.join('\n');
    expect(text).toMatch(/scenario: first-rollout/);
    expect(text).toMatch(/ 2\. deploy GeoCallfs-eu \(eu-west-1\) without rules to ap, us\n {4}why: creates the primary database/);
    expect(text).toContain('$ npx cdk deploy GeoCallfs-eu --exclusively --require-approval never -c stage=production -c account=123456789012 -c pendingRegions=ap,us');
    expect(text).toMatch(/dry run: nothing was changed/);
    expect(h.commands).toEqual([]);
  });

  it('apply without --yes is a dry run too; apply --yes needs the account', async () => {
    const h = harness('no-yes');
    expect(await h.deploy(['apply'])).toBe(0);
    expect(h.commands).toEqual([]);
    expect(await h.deploy(['apply', '--yes'])).toBe(2);
    expect(h.lines.at(-1)).toMatch(/apply needs the AWS account/);
    expect(h.commands).toEqual([]);
  });

  it('stops at the first failing step, resumes there, and records the state when done', async () => {
    let failing = true;
    const h = harness('resume', (command) => failing && command.includes('GeoCallfs-ap'));
    expect(await h.deploy(['apply', '--yes', ...ACCOUNT_FLAG])).toBe(1);
    expect(h.commands.map((c) => c.split(' ')[3])).toEqual(['GeoCallfs-Secrets', 'GeoCallfs-eu', 'GeoCallfs-ap']);
    expect(h.lines.join('\n')).toMatch(/\[3\/7\] FAILED \(exit 1\)/);
    expect(readState(stateFiles(h.state, 'production'))).toBeUndefined();

    failing = false;
    h.commands.length = 0;
    expect(await h.deploy(['apply', '--yes', ...ACCOUNT_FLAG])).toBe(0);
    expect(h.lines.join('\n')).toMatch(/resuming plan [0-9a-f]{16}: steps 1-2 are done/);
    expect(h.commands.map((c) => c.split(' ')[3])).toEqual(['GeoCallfs-ap', 'GeoCallfs-us', 'GeoCallfs-eu', 'GeoCallfs-ap', 'GeoCallfs-Global']);
    expect(existsSync(stateFiles(h.state, 'production').progress)).toBe(false);
    expect(readState(stateFiles(h.state, 'production'))?.regions.map((r) => r.name)).toEqual(['eu', 'ap', 'us']);

    // The next rollout starts from the recorded state: adding sa.
    h.commands.length = 0;
    h.lines.length = 0;
    expect(await h.deploy(['plan'], regionsWith({ 'sa.ts': SA_REGION_FILE }))).toBe(0);
    expect(h.lines[0]).toMatch(/^scenario: add-region\n/);
  });

  it('runs the delete commands of a removed region in order, with the deletion protections lifted first', async () => {
    const h = harness('remove');
    expect(await h.deploy(['apply', '--yes', ...ACCOUNT_FLAG])).toBe(0);
    h.commands.length = 0;
    const withoutUs = REGIONS.filter((r) => r.name !== 'us');
    expect(await h.deploy(['apply', '--yes', ...ACCOUNT_FLAG], withoutUs)).toBe(0);
    expect(h.commands.filter((c) => c.startsWith('aws '))).toEqual([
      'aws rds modify-db-instance --db-instance-identifier geo-callfs-metadata-us --no-deletion-protection --apply-immediately --region us-east-1',
      'aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name GeoCallfs-us --region us-east-1',
      'aws cloudformation delete-stack --stack-name GeoCallfs-us --region us-east-1',
      'aws cloudformation wait stack-delete-complete --stack-name GeoCallfs-us --region us-east-1',
    ]);
    expect(JSON.parse(readFileSync(stateFiles(h.state, 'production').state, 'utf8')).regions.map((r: { name: string }) => r.name)).toEqual(['eu', 'ap']);
  });

  it('refuses a plan it cannot order, saying what to do, and bad options', async () => {
    const h = harness('refused');
    expect(await h.deploy(['apply', '--yes', ...ACCOUNT_FLAG])).toBe(0);
    const flipped = REGIONS.map(({ databaseOrigin: _dropped, ...r }) => ({ ...r, role: r.name === 'us' ? ('home' as const) : ('secondary' as const) }));
    expect(await h.deploy(['plan'], flipped)).toBe(2);
    expect(h.lines.at(-1)).toMatch(/^no plan: regions\/eu\.ts: its database was created as 'primary'.*Write databaseOrigin: 'primary' into regions\/eu\.ts/);
    expect(await h.deploy(['plan', '--stage', 'prod'])).toBe(2);
    expect(await h.deploy(['plan', '-c', 'pendingRegions=us'])).toBe(2);
    expect(await h.deploy(['destroy'])).toBe(2);
  });
});
