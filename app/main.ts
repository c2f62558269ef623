/**
 * @module The process entry point: `npm start [-- --config FILE]`. Loads and validates the
 * configuration (every problem stops the process with one line each naming the key), creates
 * the embedded default's credentials on first start, runs the node, and shuts it down
 * gracefully on SIGTERM / SIGINT.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import type { Config } from './config/config.js';
import { readCommandLine } from './cli/command-line.js';
import { ConfigError, loadConfigWithWarnings, withGeneratedCredentials } from './config/load.js';
import { describeStartupFailure } from './startup-failure.js';
import { readFileOrNull } from './read-config-file.js';

/** First start of the embedded default: create an API key and the two secrets, readable by the owner only. */
function ensureCredentials(config: Config): Config {
  if (config.auth.users.length > 0 && config.auth.internalProxySecret !== '' && config.auth.singleUseLinkSecret !== '') return config;
  const file = join(config.dataDir, 'credentials.json');
  const credentials = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { api_key: string; internal_proxy_secret: string; single_use_link_secret: string })
    : {
        api_key: randomBytes(24).toString('base64url'),
        internal_proxy_secret: randomBytes(32).toString('base64url'),
        single_use_link_secret: randomBytes(32).toString('base64url'),
      };
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return withGeneratedCredentials(config, credentials);
}

const USAGE = `usage: npm start [-- options]

Runs one geo-callfs node. Without a configuration file and without CALLFS_METADATA_STORE__*
variables it runs the embedded default (Postgres started by the node, files under ./data);
CALLFS_ environment variables override single keys either way (docs/configuration.md).

options:
  -c, --config FILE   CallFS-style YAML or JSON configuration (default: config.yaml,
                      config.yml or config.json in the working directory, if present)
  --check             validate the configuration, print any problems and exit (0 = valid)
  -h, --help          this text
  --version           the geo-callfs and Node versions

exit codes: 0 stopped cleanly, 1 could not start (the cause is printed), 2 bad configuration
or arguments`;

async function main(): Promise<void> {
  const line = readCommandLine({
    command: 'npm start --',
    usage: USAGE,
    options: { config: { type: 'string', short: 'c' }, check: { type: 'boolean' } },
  });
  let config: Config;
  try {
    const configFile = line.values.config;
    const loaded = loadConfigWithWarnings({ argv: configFile === undefined ? [] : ['--config', configFile], env: process.env, cwd: process.cwd(), readFile: readFileOrNull });
    for (const warning of loaded.warnings) process.stderr.write(`${warning}\n`);
    config = loaded.config;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (line.values.check === true) {
    process.stdout.write('configuration is valid\n');
    process.exit(0);
  }
  if (config.isEmbeddedDefault) config = ensureCredentials(config);
  // Loaded after the configuration is checked: a mistake is reported before the adapters load.
  const { startNode } = await import('./node.js');
  const node = await startNode(config);
  if (config.isEmbeddedDefault) {
    process.stdout.write(
      `callfs node ready at ${node.url} (embedded default: data in ${config.dataDir}; ` +
        `API key in ${join(config.dataDir, 'credentials.json')})\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    node.logger.info('shutting down', { signal });
    node.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`callfs: failed to start: ${describeStartupFailure(error)}\n`);
  process.exit(1);
});
