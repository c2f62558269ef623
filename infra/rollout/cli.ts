/**
 * @module `npm run deploy -- plan | apply [--region NAME] [--stage NAME] [--yes] [-c key=value ...]`:
 * the rollout planner's command line. `plan` (and `apply` without `--yes`) prints the plan and
 * changes nothing; `apply --yes` runs it (see apply.ts for progress and resume).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { Region } from '../../regions/schema.js';
import { STAGES } from '../config/settings.js';
import { applyPlan, readState, stateFiles, type CommandRunner } from './apply.js';
import { PlanRefused, planRollout, renderPlan } from './plan.js';

export const USAGE = `usage:
  npm run deploy -- plan [--region NAME] [--stage NAME] [-c key=value ...]    print the rollout plan (changes nothing)
  npm run deploy -- apply --yes [same options]                                run it; run again to resume after a failure

  --stage      production (default) or staging; passed to cdk as -c stage=...
  --region     only the change concerning this region (its own stack when nothing else changed)
  -c k=v       CDK context for every cdk command (account, hostedZoneId, zoneName, ...)
  --state DIR  where the deployed state is recorded (default infra/state)`;

export interface DeployCommandOptions {
  readonly argv: readonly string[];
  readonly regions: readonly Region[];
  readonly repositoryRoot: string;
  readonly log?: (line: string) => void;
  readonly run?: CommandRunner;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

function spawnRunner(cwd: string): CommandRunner {
  return (command) =>
    new Promise((resolve) => {
      const [file = '', ...args] = command;
      const child = spawn(file, args, { cwd, stdio: 'inherit' });
      child.on('error', () => resolve(127));
      child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    });
}

/** Returns the process exit code: 0 done (or planned), 1 a step failed, 2 bad usage or refused plan. */
export async function runDeployCommand(options: DeployCommandOptions): Promise<number> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { values, positionals } = parseArgs({
    args: [...options.argv],
    allowPositionals: true,
    options: {
      region: { type: 'string' },
      stage: { type: 'string', default: 'production' },
      yes: { type: 'boolean', default: false },
      state: { type: 'string' },
      context: { type: 'string', short: 'c', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command] = positionals;
  if (values.help === true || (command !== 'plan' && command !== 'apply') || positionals.length > 1) {
    log(USAGE);
    return values.help === true ? 0 : 2;
  }
  const stage = values.stage ?? 'production';
  if (!(STAGES as readonly string[]).includes(stage)) {
    log(`--stage must be one of ${STAGES.join(', ')}, not "${stage}"`);
    return 2;
  }
  const context = values.context ?? [];
  for (const entry of context) {
    if (!/^[A-Za-z][A-Za-z0-9]*=/.test(entry)) {
      log(`-c ${entry}: expected key=value`);
      return 2;
    }
    if (/^(stage|pendingRegions)=/.test(entry)) {
      log(`-c ${entry}: the planner sets this one itself (use --stage)`);
      return 2;
    }
  }
  const cdkArgs = ['-c', `stage=${stage}`, ...context.flatMap((entry) => ['-c', entry])];
  const files = stateFiles(values.state ?? `${options.repositoryRoot}/infra/state`, stage);

  let plan;
  try {
    plan = planRollout(readState(files), options.regions, values.region === undefined ? {} : { region: values.region });
  } catch (error) {
    if (!(error instanceof PlanRefused)) throw error;
    log(`no plan: ${error.message}`);
    return 2;
  }
  log(renderPlan(plan, cdkArgs));
  if (command === 'plan' || !values.yes) {
    log('');
    log(`dry run: nothing was changed. Run \`npm run deploy -- apply --yes${values.region === undefined ? '' : ` --region ${values.region}`} --stage ${stage}${context.map((c) => ` -c ${c}`).join('')}\` to apply it.`);
    return 0;
  }
  const env = options.env ?? process.env;
  if (!context.some((c) => c.startsWith('account=')) && (env.CDK_DEFAULT_ACCOUNT ?? '') === '') {
    log('apply needs the AWS account (bucket names and ARNs are derived from it): pass -c account=123456789012 or set CDK_DEFAULT_ACCOUNT');
    return 2;
  }
  log('');
  const result = await applyPlan({ plan, cdkArgs, files, target: options.regions, run: options.run ?? spawnRunner(options.repositoryRoot), log });
  return result.ok ? 0 : 1;
}
