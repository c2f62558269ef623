/**
 * @module `npm run promote -- --config FILE --from NODE [--to NODE]`: an operator hands the files
 * of a node that is gone for good to the nodes holding current copies of them (all of them, or
 * only `--to`). Prints a JSON report: files taken over per node, and how many files of the old
 * holder have no copy anywhere (those come back only if the old node does). Exit codes: 0 done,
 * 2 bad arguments or configuration, 1 the database could not be reached.
 *
 * It sits beside `npm run admin` (main.ts): both are the operator's commands on a running
 * cluster, built into the image with the node (dist/app/admin/), unlike the scripts/ tools that
 * run a rehearsal or a drill from a workstation.
 */
import process from 'node:process';
import { createPostgresMetadataStore } from '../adapters/metadata/postgres.js';
import { readCommandLine, usageError } from '../cli/command-line.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { readFileOrNull } from '../read-config-file.js';
import { promoteHolder } from '../services/replication.js';

const USAGE = `usage: npm run promote -- --config FILE --from NODE [--to NODE]

Hands the files of a node that is gone for good to the nodes holding current copies of them
(all of them, or only --to). Prints a JSON report.

options:
  -c, --config FILE   the configuration of any node of the cluster (its metadata_store.dsn is used)
  --from NODE         instance id of the node that is gone
  --to NODE           only this node takes files over
  -h, --help          this text
  --version           the geo-callfs and Node versions

exit codes: 0 done, 1 the database could not be reached, 2 bad arguments or configuration`;

function fail(code: number, message: string): never {
  process.stderr.write(`promote: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const { values } = readCommandLine({
    command: 'npm run promote --',
    usage: USAGE,
    options: { config: { type: 'string', short: 'c' }, from: { type: 'string' }, to: { type: 'string' } },
  });
  const { from, to, config: configFile } = values;
  if (from === undefined || from === '' || configFile === undefined) usageError('npm run promote --', 'promote: --config FILE and --from NODE are required');
  let dsn: string;
  try {
    const config = loadConfig({ argv: ['--config', configFile], env: process.env, cwd: process.cwd(), readFile: readFileOrNull });
    if (config.metadataStore.type !== 'postgres') fail(2, 'promotion needs the shared Postgres of a cluster (metadata_store.dsn)');
    if (to === config.instanceDiscovery.instanceId || from === to) fail(2, '--from and --to must name two different nodes');
    dsn = config.metadataStore.dsn;
  } catch (error) {
    if (error instanceof ConfigError) fail(2, error.message.split('\n')[0] ?? error.message);
    throw error;
  }
  const store = await createPostgresMetadataStore({ dsn }).catch((error: unknown) => fail(1, `metadata store unreachable: ${error instanceof Error ? error.message : String(error)}`));
  try {
    const report = await promoteHolder(store, from, to);
    process.stdout.write(JSON.stringify({ from, ...report }) + '\n');
  } finally {
    await store.close();
  }
}

main().catch((error: unknown) => fail(1, error instanceof Error ? error.message : String(error)));
