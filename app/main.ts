/**
 * @module The process entry point: `npm start [-- --config FILE]`. Loads and validates the
 * configuration (a bad value stops the process with one line naming the key), creates the
 * embedded default's credentials on first start, runs the node, and shuts it down gracefully
 * on SIGTERM / SIGINT.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import type { Config } from './config/config.js';
import { ConfigError, loadConfig, withGeneratedCredentials } from './config/load.js';
import { startNode } from './node.js';
import { readFileOrNull } from './read-config-file.js';

/** First start of the embedded default: create an API key and the two secrets, readable by the owner only. */
function ensureCredentials(config: Config): Config {
  if (config.auth.users.length > 0) return config;
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

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd(), readFile: readFileOrNull });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message.split('\n')[0] ?? error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (config.isEmbeddedDefault) config = ensureCredentials(config);
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
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`callfs: failed to start: ${message.split('\n')[0] ?? message}\n`);
  process.exit(1);
});
