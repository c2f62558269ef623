/**
 * @module `npm run admin -- <command>`: the state of a running cluster for its operator, from one
 * node (`--url` with an admin key: `auth.admin_api_keys`) or from the metadata database (`--dsn`,
 * or `--config` of any node). A table by default, `--json` for scripts.
 */
import process from 'node:process';
import { PostgresClusterStatus } from '../adapters/metadata/cluster-status.js';
import { readCommandLine, usageError } from '../cli/command-line.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { ClusterStatus } from '../ports/cluster-status.js';
import { createLogger } from '../observability/logger.js';
import { readFileOrNull } from '../read-config-file.js';
import { epochText, membersText, statusText, sweepText } from './render.js';

const COMMAND = 'npm run admin --';
const USAGE = `usage: npm run admin -- <command> [options]

commands:
  status            members, metadata database (primary, replicas, lag, streaming), fencing
                    epoch and lock home, replication backlog
  members           members with region, address, version, uptime and last heartbeat
  epoch             the fencing epoch, the primary region and the lock home
  sweep             one pass of the orphan sweeper over a node's stores (needs --config): lists
                    what it would quarantine, purge or remove; --yes does it. Runs even with
                    sweeper.enabled: false; with the embedded database, stop the node first

where from (one of):
  --url URL         a node of the cluster; its key from --key or ADMIN_API_KEY, which must be
                    listed in that node's auth.admin_api_keys
  --dsn DSN         the metadata database (several hosts as libpq lists them; add --read-dsn
                    for replicas the DSN does not name)
  -c, --config FILE a node's configuration: its metadata_store.dsn, read_dsn and replication factor

options:
  --key KEY                 admin API key for --url (prefer ADMIN_API_KEY: arguments are visible in ps)
  --read-dsn DSN            a replica to include (repeatable)
  --replication-factor N    copies wanted of each local-disk file, for the backlog (--dsn; default 1)
  --yes                     sweep: act (without it a sweep is a dry run that changes nothing)
  --json                    machine-readable output
  -h, --help                this text
  --version                 the geo-callfs and Node versions

exit codes: 0 shown, 1 the node or database could not be read, 2 bad arguments`;

const COMMANDS = new Set(['status', 'members', 'epoch', 'sweep']);

async function fromNode(url: string, key: string): Promise<ClusterStatus> {
  const target = `${url.replace(/\/+$/, '')}/v1/admin/status`;
  let response: Response;
  try {
    response = await fetch(target, { headers: { Authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
    throw new Error(`${target}: ${cause}`);
  }
  const body = (await response.json().catch(() => null)) as (ClusterStatus & { code?: string; message?: string }) | null;
  if (!response.ok) throw new Error(`${target}: ${response.status} ${body?.code ?? ''}: ${body?.message ?? ''}`);
  if (body === null) throw new Error(`${target}: the answer is not JSON`);
  return body;
}

async function main(): Promise<void> {
  const { values, positionals } = readCommandLine({
    command: COMMAND,
    usage: USAGE,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      dsn: { type: 'string' },
      'read-dsn': { type: 'string', multiple: true },
      config: { type: 'string', short: 'c' },
      'replication-factor': { type: 'string' },
      json: { type: 'boolean' },
      yes: { type: 'boolean' },
    },
  });
  const [command, ...extra] = positionals;
  if (command === undefined) usageError(COMMAND, 'admin: name a command (status, members or epoch)');
  if (!COMMANDS.has(command) || extra.length > 0) usageError(COMMAND, `admin: unknown command "${[command, ...extra].join(' ')}"`);
  if (command === 'sweep') {
    if (values.config === undefined || values.url !== undefined || values.dsn !== undefined) usageError(COMMAND, 'admin: sweep needs --config (the node whose stores are swept), and neither --url nor --dsn');
    await sweep(values.config, values.yes !== true, values.json === true);
    return;
  }
  if (values.yes !== undefined) usageError(COMMAND, 'admin: --yes belongs to sweep');
  const sources = [values.url, values.dsn, values.config].filter((v) => v !== undefined).length;
  if (sources !== 1) usageError(COMMAND, 'admin: give exactly one of --url, --dsn or --config');
  let factor = 1;
  if (values['replication-factor'] !== undefined) {
    factor = Number(values['replication-factor']);
    if (!Number.isInteger(factor) || factor < 1) usageError(COMMAND, `admin: --replication-factor must be a whole number of at least 1, not "${values['replication-factor']}"`);
  }

  let status: ClusterStatus;
  if (values.url !== undefined) {
    const key = values.key ?? process.env['ADMIN_API_KEY'];
    if (key === undefined || key === '') usageError(COMMAND, 'admin: --url needs an admin key (--key or ADMIN_API_KEY)');
    status = await fromNode(values.url, key);
  } else {
    let dsn = values.dsn ?? '';
    const readDsns = [...(values['read-dsn'] ?? [])];
    if (values.config !== undefined) {
      try {
        const config = loadConfig({ argv: ['--config', values.config], env: process.env, cwd: process.cwd(), readFile: readFileOrNull });
        if (config.metadataStore.type !== 'postgres') usageError(COMMAND, `admin: ${values.config} uses the embedded database; ask the node instead (--url)`);
        dsn = config.metadataStore.dsn;
        if (config.metadataStore.readDsn !== null) readDsns.push(config.metadataStore.readDsn);
        if (values['replication-factor'] === undefined) factor = config.replication.factor;
      } catch (error) {
        if (error instanceof ConfigError) usageError(COMMAND, error.message);
        throw error;
      }
    }
    status = await new PostgresClusterStatus(dsn, { readDsns }).read({ replicationFactor: factor });
  }

  if (values.json === true) {
    const shown = command === 'members' ? status.members : command === 'epoch' ? status.epoch : status;
    process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
    return;
  }
  const text = command === 'members' ? membersText(status) : command === 'epoch' ? epochText(status) : statusText(status);
  process.stdout.write(text + '\n');
}

/** `admin sweep`: one sweep with the node's own configuration, a dry run unless `--yes`. */
async function sweep(configFile: string, dryRun: boolean, json: boolean): Promise<void> {
  let config;
  try {
    config = loadConfig({ argv: ['--config', configFile], env: process.env, cwd: process.cwd(), readFile: readFileOrNull });
  } catch (error) {
    if (error instanceof ConfigError) usageError(COMMAND, error.message);
    throw error;
  }
  // Loaded only here: the node's adapters are not needed by the status commands.
  const { sweepOnce } = await import('../node.js');
  // The node's log lines go to stderr: stdout carries the report (parseable with --json).
  const logger = createLogger({ level: config.log.level, format: config.log.format, write: (line) => process.stderr.write(line + '\n') });
  const report = await sweepOnce(config, { dryRun, logger });
  process.stdout.write((json ? JSON.stringify(report, null, 2) : sweepText(report)) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`admin: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
