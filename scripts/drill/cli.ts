/**
 * @module `npm run drill`: argument parsing and the wiring of provider, plan, runner and
 * scorecard. `runDrillCommand` is what the script calls and what the tests call.
 */
import { join, resolve } from 'node:path';
import { parseCommandLine } from '../../app/cli/command-line.js';
import { loadPlan, rehearsalOptions, REPO_ROOT } from '../rehearsal/paths.js';
import { readState } from '../rehearsal/state.js';
import { DEFAULT_DRILL_OPTIONS, DRILLS, planDrill, type DrillName, type DrillOptions } from './drills.js';
import { createAwsProvider } from './aws/provider.js';
import { SQL_VIA, type SqlVia } from './aws/sql-reach.js';
import { createLocalProvider } from './local/provider.js';
import type { DrillProvider, Topology } from './provider.js';
import { DEFAULT_BUDGETS } from './scorecard.js';
import { lastUnfinishedRun, newRunId, readProgress, runDrill, saveProgress, type RunOutcome, type RunProgress } from './runner.js';

export const USAGE = `usage:
  npm run drill -- <drill> <target> [options]     plan a drill (dry run: prints the plan, changes nothing)
  npm run drill -- <drill> <target> --yes         plan and run it without asking (--execute: ask first)
  npm run drill -- resume [run-id] --yes          resume the last (or the named) unfinished run

drills:
  primary-failover <to-region>   the home region is lost: fence its database, promote <to-region>'s
                                 replica, move the lock home, re-point replicas and nodes, update DNS
  failback <region>              rebuild <region> as a replica of the current primary, catch up,
                                 answer it in DNS again; --switch also moves the primary back
  home-outage <home-region>      cut the home region off with no promotion: the other regions must
                                 keep serving reads and refuse writes cleanly; then heal it
  region-evacuate <region>       take <region> out of the global name and check no request lands there
  region-restore <region>        answer <region> in the global name again
  node-loss <instance-id>        kill one node, check the cluster serves without it, start it again
  redis-loss <region>            kill a region's Redis; if it is the lock home, move the lock home
                                 to the healthy region nearest to the primary (measured round trip)

options:
  --provider local|aws     local drives the rehearsal (npm run rehearsal -- up); aws a CDK deployment
  --fault partition|crash|none   how primary-failover loses the home region (default partition;
                           none = a planned switchover with no write lost)
  --allow-data-loss        promote even if another replica holds more WAL than the target
  --switch                 failback: move the primary back after the rebuild
  --no-load                do not run the load generators (no RTO/RPO scorecard)
  --steady <seconds>       scorecard: a region has recovered after this long of unbroken success (default 60)
  --rto-budget <seconds>   scorecard: the largest acceptable RTO of any client region (default 60)
  --hold <seconds>         home-outage: how long the home region stays cut off (default 15)
  --dir <path>             where runs and the scorecard history are kept (default data/drills)

aws provider (credentials from the usual AWS environment; Redis steps, and SQL with
--sql-via direct, need network access to the regions' VPCs, e.g. from a bastion):
  --hosted-zone-id <id>    the hosted zone the CDK app was deployed with
  --global-hostname <name> the global hostname (files.<zone> by default in the CDK app)
  --withdraw-by resource-path|invert   how a region is taken out of DNS (default resource-path:
                           its health check probes a path that always fails, whatever its state)
  --mrap-arn <arn>         an S3 Multi-Region Access Point to re-route (the CDK app makes none)
  --client-subnet <region>=<ip>/<mask>   a public address of clients in <region> (repeatable): DNS
                           convergence is judged from Route 53's answers to it (TestDNSAnswer)
  --sql-via auto|ecs|direct   where the drill's SQL runs: ecs, a one-shot task of the region's
                           drill SQL runner inside its VPC; direct, a connection from here; auto
                           (default), ecs in the regions whose stack publishes the runner
  --rds-ca-bundle <file>   the RDS CA bundle the databases' certificates are verified against
                           (default: where the node image ships it)
  --app-role <role>        the nodes' database role, whose write path a fence revokes (default callfs)
  --admin-secret <name>    the secret with the administrative database credentials the drill uses
  --account-id <12 digits> the AWS account deployed to: the regions' bucket names derive from it
                           (needed for the replication steps unless regions/*.ts name bucketName)
  GEO_CALLFS_AWS_ENDPOINT=http://127.0.0.1:<port>   send every AWS call to the AWS stand-in
                           (scripts/aws-standin) instead of AWS; loopback addresses only
`;

export interface DrillCommandOptions {
  readonly argv: readonly string[];
  readonly log?: (line: string) => void;
  /** Where usage mistakes go (stderr by default). */
  readonly logError?: (line: string) => void;
  /** Overrides the provider (tests); otherwise built from --provider. */
  readonly provider?: DrillProvider;
  /** Scorecard hooks; the default runs the load generators of the provider (local only). */
  readonly scorecard?: ScorecardHooks | null;
}

/** What the load generators and the scorecard plug into around a run. */
export interface ScorecardHooks {
  /** Before the first step runs; `drillDir` holds runs, load logs and history. */
  start(progress: RunProgress, provider: DrillProvider, drillDir: string): Promise<void>;
  /**
   * After the run ended (done or failed); `withdrawn` are the regions the drill took out of
   * traffic, `outageRegion` the one it cut off without a failover (home-outage). Resolves whether
   * the scorecard passed (null: there was none).
   */
  finish(progress: RunProgress, provider: DrillProvider, outcome: RunOutcome, drillDir: string, withdrawn: readonly string[], outageRegion?: string | null): Promise<boolean | null>;
}

interface AwsFlags {
  readonly hostedZoneId: string | undefined;
  readonly globalHostname: string | undefined;
  readonly mrapArn: string | undefined;
  readonly withdrawBy: string | undefined;
  readonly clientSubnets?: readonly string[] | undefined;
  readonly caBundlePath?: string | undefined;
  readonly appRole?: string | undefined;
  readonly adminSecret?: string | undefined;
  readonly accountId?: string | undefined;
  readonly sqlVia?: string | undefined;
}

/** `GEO_CALLFS_AWS_ENDPOINT`: the AWS stand-in's endpoint; refused unless it is on loopback. */
function standinEndpoint(): string | undefined {
  const value = process.env['GEO_CALLFS_AWS_ENDPOINT'];
  if (value === undefined || value === '') return undefined;
  const host = new URL(value).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') throw new Error(`GEO_CALLFS_AWS_ENDPOINT must be a loopback address (the AWS stand-in), not ${host}`);
  return value;
}

function parseClientSubnets(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  return Object.fromEntries(
    values.map((v) => {
      const match = /^([a-z][a-z0-9-]*)=(\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?)$/.exec(v);
      if (match === null) throw new Error(`--client-subnet: "${v}" is not <region>=<ip>[/<mask>]`);
      return [match[1] ?? '', match[2] ?? ''];
    }),
  );
}

function buildProvider(name: string, aws: AwsFlags, log: (line: string) => void): DrillProvider {
  if (name === 'local') return createLocalProvider({ rehearsal: rehearsalOptions() });
  if (name !== 'aws') throw new Error(`--provider must be local or aws, not "${name}"`);
  if (aws.hostedZoneId === undefined || aws.globalHostname === undefined) throw new Error('--provider aws needs --hosted-zone-id and --global-hostname (the values the CDK app was deployed with)');
  const withdrawBy = aws.withdrawBy ?? 'resource-path';
  if (withdrawBy !== 'resource-path' && withdrawBy !== 'invert') throw new Error(`--withdraw-by must be resource-path or invert, not "${withdrawBy}"`);
  const endpoint = standinEndpoint();
  const clientSubnets = parseClientSubnets(aws.clientSubnets);
  const sqlVia = aws.sqlVia ?? 'auto';
  if (!(SQL_VIA as readonly string[]).includes(sqlVia)) throw new Error(`--sql-via must be ${SQL_VIA.join(', ')}, not "${sqlVia}"`);
  return createAwsProvider({
    sqlVia: sqlVia as SqlVia,
    dns: { hostedZoneId: aws.hostedZoneId, globalHostname: aws.globalHostname },
    withdrawBy,
    ...(aws.mrapArn === undefined ? {} : { mrapArn: aws.mrapArn }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(clientSubnets === undefined ? {} : { clientSubnets }),
    ...(aws.caBundlePath === undefined ? {} : { caBundlePath: aws.caBundlePath }),
    ...(aws.appRole === undefined ? {} : { appRole: aws.appRole }),
    ...(aws.adminSecret === undefined ? {} : { adminSecret: aws.adminSecret }),
    ...(aws.accountId === undefined ? {} : { accountId: aws.accountId }),
    log,
  });
}

function parseSeconds(flag: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const value = Number(text.replace(/s$/, ''));
  if (!Number.isFinite(value) || value < 1 || value > 3600) throw new Error(`--${flag}: "${text}" is not a number of seconds between 1 and 3600`);
  return value * 1000;
}

/**
 * The topology a dry run plans against: the running rehearsal's, or when none is running the
 * one regions/ describes (home region primary and lock home), so a plan can be read first.
 */
async function localTopologyForPlan(provider: DrillProvider, log: (line: string) => void): Promise<Topology> {
  const rehearsal = rehearsalOptions();
  if (readState(rehearsal.dir) !== null) return provider.topology();
  const plan = loadPlan(rehearsal);
  log(`the rehearsal is not running (no state in ${rehearsal.dir}): planning from regions/, with ${plan.home.name} as primary and lock home`);
  const ordered = [plan.home, ...plan.regions.filter((r) => r.name !== plan.home.name)];
  return {
    regions: ordered.map((r) => r.name),
    primaryRegion: plan.home.name,
    lockHomeRegion: plan.home.name,
    nodes: Object.fromEntries(plan.regions.map((r) => [r.name, r.nodes.map((n) => n.id)])),
  };
}

/** Returns the process exit code. */
export async function runDrillCommand(options: DrillCommandOptions): Promise<number> {
  const log = options.log ?? ((line: string) => console.log(line));
  const line = parseCommandLine(
    {
      command: 'npm run drill --',
      usage: USAGE,
      allowPositionals: true,
      options: {
        provider: { type: 'string', default: 'local' },
        yes: { type: 'boolean', default: false },
        execute: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        fault: { type: 'string' },
        'allow-data-loss': { type: 'boolean', default: false },
        switch: { type: 'boolean', default: false },
        'no-load': { type: 'boolean', default: false },
        steady: { type: 'string' },
        'rto-budget': { type: 'string' },
        hold: { type: 'string' },
        dir: { type: 'string' },
        'hosted-zone-id': { type: 'string' },
        'global-hostname': { type: 'string' },
        'mrap-arn': { type: 'string' },
        'withdraw-by': { type: 'string' },
        'client-subnet': { type: 'string', multiple: true },
        'rds-ca-bundle': { type: 'string' },
        'app-role': { type: 'string' },
        'admin-secret': { type: 'string' },
        'account-id': { type: 'string' },
        'sql-via': { type: 'string' },
      },
    },
    options.argv,
  );
  if (line.kind === 'exit') {
    if (line.stdout !== '') log(line.stdout.trimEnd());
    if (line.stderr !== '') (options.logError ?? ((text: string) => console.error(text)))(line.stderr.trimEnd());
    return line.code;
  }
  const { values, positionals } = line;
  const [command, target] = positionals;
  if (command === undefined) {
    (options.logError ?? ((text: string) => console.error(text)))(`npm run drill: name a drill\nSee: npm run drill -- --help`);
    return 2;
  }
  let awsFlags: AwsFlags = {
    hostedZoneId: values['hosted-zone-id'],
    globalHostname: values['global-hostname'],
    mrapArn: values['mrap-arn'],
    withdrawBy: values['withdraw-by'],
    clientSubnets: values['client-subnet'],
    caBundlePath: values['rds-ca-bundle'],
    appRole: values['app-role'],
    adminSecret: values['admin-secret'],
    accountId: values['account-id'],
    sqlVia: values['sql-via'],
  };
  const dir = resolve(values.dir ?? process.env['DRILL_DIR'] ?? join(REPO_ROOT, 'data/drills'));
  const dryRun = values['dry-run'] || (!values.yes && !values.execute);
  let progress: RunProgress;
  let providerName = values.provider;
  if (command === 'resume') {
    const found = target === undefined ? lastUnfinishedRun(dir) : readProgress(dir, target);
    if (found === null) {
      log(`no unfinished drill run in ${join(dir, 'runs')}`);
      return 1;
    }
    if (found.status === 'done') {
      log(`run ${found.runId} finished already`);
      return 0;
    }
    progress = found;
    providerName = found.provider;
    const saved = (found.options['aws'] ?? {}) as Partial<AwsFlags>;
    awsFlags = {
      hostedZoneId: awsFlags.hostedZoneId ?? saved.hostedZoneId,
      globalHostname: awsFlags.globalHostname ?? saved.globalHostname,
      mrapArn: awsFlags.mrapArn ?? saved.mrapArn,
      withdrawBy: awsFlags.withdrawBy ?? saved.withdrawBy,
      clientSubnets: awsFlags.clientSubnets ?? saved.clientSubnets,
      caBundlePath: awsFlags.caBundlePath ?? saved.caBundlePath,
      appRole: awsFlags.appRole ?? saved.appRole,
      adminSecret: awsFlags.adminSecret ?? saved.adminSecret,
      accountId: awsFlags.accountId ?? saved.accountId,
      sqlVia: awsFlags.sqlVia ?? saved.sqlVia,
    };
    log(`resuming run ${found.runId} (${found.status}${found.error === null ? '' : `: ${found.error}`})`);
  } else {
    if (!(DRILLS as readonly string[]).includes(command)) throw new Error(`unknown drill "${command}"\n${USAGE}`);
    if (target === undefined) throw new Error(`drill ${command} needs a target\n${USAGE}`);
    const fault = values.fault ?? (providerName === 'aws' ? 'none' : DEFAULT_DRILL_OPTIONS.fault);
    if (fault !== 'partition' && fault !== 'crash' && fault !== 'none') throw new Error(`--fault must be partition, crash or none, not "${fault}"`);
    const drillOptions: DrillOptions = {
      ...DEFAULT_DRILL_OPTIONS,
      fault,
      allowDataLoss: values['allow-data-loss'],
      switchBack: values.switch,
      holdMs: parseSeconds('hold', values.hold, DEFAULT_DRILL_OPTIONS.holdMs),
    };
    const provider = options.provider ?? buildProvider(providerName, awsFlags, log);
    const topology = dryRun && options.provider === undefined && provider.name === 'local' ? await localTopologyForPlan(provider, log) : await provider.topology();
    progress = {
      runId: newRunId(command),
      drill: command,
      target,
      provider: provider.name,
      options: {
        ...drillOptions,
        load: !values['no-load'],
        steadyMs: parseSeconds('steady', values.steady, 60_000),
        rtoBudgetMs: parseSeconds('rto-budget', values['rto-budget'], DEFAULT_BUDGETS.rtoBudgetMs),
        ...(provider.name === 'aws' ? { aws: awsFlags } : {}),
      },
      topology,
      createdAt: new Date().toISOString(),
      status: 'running',
      steps: [],
      memo: {},
      error: null,
      owner: null,
    };
  }
  const provider = options.provider ?? buildProvider(providerName, awsFlags, log);
  const drillOptions: DrillOptions = {
    fault: (progress.options['fault'] as DrillOptions['fault'] | undefined) ?? DEFAULT_DRILL_OPTIONS.fault,
    allowDataLoss: progress.options['allowDataLoss'] === true,
    switchBack: progress.options['switchBack'] === true,
    convergeTimeoutMs: DEFAULT_DRILL_OPTIONS.convergeTimeoutMs,
    holdMs: typeof progress.options['holdMs'] === 'number' ? progress.options['holdMs'] : DEFAULT_DRILL_OPTIONS.holdMs,
  };
  const plan = planDrill(progress.drill as DrillName, progress.target ?? '', progress.topology, drillOptions);
  const hooks = options.scorecard === undefined ? null : options.scorecard;
  const useHooks = hooks !== null && progress.options['load'] !== false && !dryRun;
  if (!dryRun && command !== 'resume') saveProgress(dir, progress);
  const outcome = await runDrill(plan, provider, progress, {
    dir,
    log,
    confirm: !values.yes,
    dryRun,
    beforeSteps: useHooks ? () => hooks.start(progress, provider, dir) : undefined,
  });
  const passed = useHooks && (outcome.kind === 'done' || outcome.kind === 'failed') ? await hooks.finish(progress, provider, outcome, dir, plan.withdrawnRegion === null ? [] : [plan.withdrawnRegion], plan.outageRegion ?? null) : null;
  if (outcome.kind === 'done') log(`drill ${plan.drill} done in ${((Date.now() - Date.parse(progress.createdAt)) / 1000).toFixed(1)} s (run ${progress.runId})`);
  if (outcome.kind === 'done' && passed === false) {
    log('every step succeeded, but the scorecard failed a budget (see above): exit code 4');
    return 4;
  }
  return outcome.kind === 'failed' ? 1 : outcome.kind === 'declined' ? 3 : 0;
}
