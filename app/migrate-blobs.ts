/**
 * @module `npm run migrate-blobs -- --config FILE [--yes] [--include-s3] [--s3-grace-seconds N]`:
 * moves this node's legacy-layout bytes (stored at their path) to versioned blob keys
 * (services/blob-migration.ts). Without `--yes` it is a dry run: it lists what would move and
 * changes nothing. Run it on every node that holds local-disk files (with the node's own
 * config; the node may keep serving meanwhile, except with the embedded metadata store, which
 * only one process can open: stop the node first), and with `--include-s3` on one node for the
 * bucket. Prints one JSON line per file, then a JSON report. Exit codes: 0 done, 2 bad arguments
 * or configuration, 1 the metadata store or a blob store could not be used, 3 some files were
 * skipped (listed; run again).
 */
import process from 'node:process';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config } from './config/config.js';
import { openBlobStores, openMetadata } from './open-adapters.js';
import { SILENT_LOGGER } from './observability/logger.js';
import { readFileOrNull } from './read-config-file.js';
import { migrateLegacyBlobs } from './services/blob-migration.js';

function option(argv: readonly string[], name: string): string | undefined {
  const index = argv.indexOf(name);
  return index >= 0 ? argv[index + 1] : undefined;
}

function fail(code: number, message: string): never {
  process.stderr.write(`migrate-blobs: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const configFile = option(argv, '--config');
  if (configFile === undefined) fail(2, 'usage: npm run migrate-blobs -- --config FILE [--yes] [--include-s3] [--s3-grace-seconds N]');
  const graceText = option(argv, '--s3-grace-seconds') ?? '60';
  const graceSeconds = Number(graceText);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) fail(2, `--s3-grace-seconds must be a number of seconds, not "${graceText}"`);
  let config: Config;
  try {
    config = loadConfig({ argv: ['--config', configFile], env: process.env, cwd: process.cwd(), readFile: readFileOrNull });
  } catch (error) {
    if (error instanceof ConfigError) fail(2, error.message.split('\n')[0] ?? error.message);
    throw error;
  }
  const dryRun = !argv.includes('--yes');
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const { store: metadata } = await openMetadata(config, SILENT_LOGGER, cleanups).catch((error: unknown) => fail(1, `metadata store unusable: ${describe(error)}`));
    const blobs = await openBlobStores(config, cleanups).catch((error: unknown) => fail(1, `blob store unusable: ${describe(error)}`));
    const report = await migrateLegacyBlobs(
      { metadata, blobs, instanceId: config.instanceDiscovery.instanceId },
      {
        dryRun,
        includeS3: argv.includes('--include-s3'),
        s3GraceMs: graceSeconds * 1000,
        onFile: (path, outcome, detail) => process.stdout.write(JSON.stringify({ path, outcome, ...(detail === undefined ? {} : { detail }) }) + '\n'),
      },
    );
    process.stdout.write(JSON.stringify({ report }) + '\n');
    if (dryRun) process.stderr.write('migrate-blobs: dry run, nothing changed; run again with --yes to move the bytes\n');
    if (report.skipped.length > 0) process.exitCode = 3;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

main().catch((error: unknown) => fail(1, describe(error)));
