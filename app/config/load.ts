/**
 * @module loadConfig: the node's configuration from `--config FILE` (YAML or JSON, CallFS
 * layout), `CALLFS_` environment overrides and defaults, validated once. A pure function of its
 * inputs. Any problem throws ConfigError whose first line names the key (and the environment
 * variable it came from) and what is wrong. No file and no `CALLFS_` variables = the embedded
 * default (embedded Postgres, in-process locks, files under ./data).
 */
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildConfig } from './build.js';
import type { Config } from './config.js';
import { envOverrides, isTree, mergeTrees, type Tree } from './env.js';
import { checkKeys } from './keys.js';
import { ConfigError, Problems } from './problems.js';
import { FileConfigSchema } from './schema.js';
import { parseListenAddr } from './units.js';

export { ConfigError } from './problems.js';
export { parseListenAddr } from './units.js';

export interface LoadInput {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** File contents, or null when the file does not exist. */
  readonly readFile: (path: string) => string | null;
}

export interface GeneratedCredentials {
  readonly api_key: string;
  readonly internal_proxy_secret: string;
  readonly single_use_link_secret: string;
}

function configFlag(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--config' || arg === '-c') {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError('config: --config needs a file name');
      return next;
    }
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return null;
}

function parseFile(path: string, content: string): Tree {
  const lower = path.toLowerCase();
  let parsed: unknown;
  try {
    if (lower.endsWith('.json')) parsed = JSON.parse(content);
    else if (lower.endsWith('.yaml') || lower.endsWith('.yml')) parsed = parseYaml(content);
    else throw new ConfigError(`config: ${path}: unsupported extension (use .yaml, .yml or .json)`);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ConfigError(`config: ${path}: cannot be parsed: ${reason}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new ConfigError(`config: ${path}: the top level must be a mapping of sections`);
  return parsed;
}

/** A loaded configuration and what the operator should hear about it (one warning line each). */
export interface LoadedConfig {
  readonly config: Config;
  readonly warnings: readonly string[];
}

export function loadConfig(input: LoadInput): Config {
  return loadConfigWithWarnings(input).config;
}

/**
 * The configuration, validated once. Every problem found (unknown keys, malformed values, missing
 * settings) is collected and thrown together, one line each, so an operator fixes them in one go.
 */
export function loadConfigWithWarnings(input: LoadInput): LoadedConfig {
  const explicit = configFlag(input.argv);
  let fileTree: Tree = {};
  let fileName: string | null = null;
  if (explicit !== null) {
    const path = resolve(input.cwd, explicit);
    const content = input.readFile(path);
    if (content === null) throw new ConfigError(`config: ${explicit}: file not found`);
    fileTree = parseFile(explicit, content);
    fileName = explicit;
  } else {
    for (const name of ['config.yaml', 'config.yml', 'config.json']) {
      const content = input.readFile(join(input.cwd, name));
      if (content === null) continue;
      fileTree = parseFile(name, content);
      fileName = name;
      break;
    }
  }
  const { tree: envTree, sources } = envOverrides(input.env);
  const problems = new Problems(sources);
  const keys = checkKeys(mergeTrees(fileTree, envTree), FileConfigSchema);
  for (const finding of keys.unknown) problems.unknownKey(finding);
  const warnings = keys.ignored.length === 0 ? [] : [`config: ignoring CallFS settings this node does not use: ${keys.ignored.join(', ')}`];

  // No file, and the environment does not choose a metadata store: the embedded default, with
  // whatever the environment sets on top of it.
  const embedded = fileName === null && !choosesMetadataStore(envTree);
  const merged = embedded ? mergeTrees(embeddedTree(envTree), envTree) : mergeTrees(fileTree, envTree);
  const parsed = FileConfigSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.add(issue.path.join('.'), issue.message);
    throw new ConfigError(problems.list.join('\n'));
  }
  const built = buildConfig(parsed.data, input.cwd, problems, embedded ? 'embedded' : 'strict');
  const config = embedded ? embeddedDefault(built, input) : built;
  return { config: deepFreeze(config), warnings };
}

function choosesMetadataStore(envTree: Tree): boolean {
  const store = envTree['metadata_store'];
  return isTree(store) && (store['type'] !== undefined || store['dsn'] !== undefined);
}

/** The embedded default as a configuration tree; paths follow `data_dir` and the listener. */
function embeddedTree(envTree: Tree): Tree {
  const server = isTree(envTree['server']) ? envTree['server'] : {};
  const listen = parseListenAddr(String(server['listen_addr'] ?? '127.0.0.1:8443'));
  const dataDir = typeof envTree['data_dir'] === 'string' ? envTree['data_dir'] : 'data';
  return {
    server: {
      listen_addr: '127.0.0.1:8443',
      protocol: 'http',
      external_url: listen === null ? 'http://127.0.0.1:8443' : `http://${listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host}:${listen.port}`,
    },
    metadata_store: { type: 'embedded', data_dir: join(dataDir, 'postgres') },
    dlm: { type: 'local' },
    backend: { default_backend: 'localfs', localfs_root_path: join(dataDir, 'files') },
  };
}

/**
 * The embedded default's credentials: those set in the environment win; the rest come from
 * `<data_dir>/credentials.json` (created by main.ts on first start when missing).
 */
function embeddedDefault(config: Config, input: LoadInput): Config {
  const withMode: Config = { ...config, isEmbeddedDefault: true };
  const credsFile = join(config.dataDir, 'credentials.json');
  const creds = input.readFile(credsFile);
  if (creds === null) return withMode;
  let parsed: GeneratedCredentials;
  try {
    parsed = JSON.parse(creds) as GeneratedCredentials;
  } catch {
    throw new ConfigError(`config: ${credsFile}: not valid JSON; delete it to have new credentials generated`);
  }
  return withGeneratedCredentials(withMode, parsed);
}

/** The embedded default with its generated key and secrets filled in where nothing was configured. */
export function withGeneratedCredentials(config: Config, creds: GeneratedCredentials): Config {
  return deepFreeze({
    ...config,
    auth: {
      ...config.auth,
      users: config.auth.users.length > 0 ? config.auth.users : [{ id: 'api-user-0', key: creds.api_key }],
      // The one running the embedded default administers it: its generated key, or the first configured one.
      adminUserIds: config.auth.adminUserIds.length > 0 ? config.auth.adminUserIds : [config.auth.users[0]?.id ?? 'api-user-0'],
      internalProxySecret: config.auth.internalProxySecret === '' ? creds.internal_proxy_secret : config.auth.internalProxySecret,
      singleUseLinkSecret: config.auth.singleUseLinkSecret === '' ? creds.single_use_link_secret : config.auth.singleUseLinkSecret,
    },
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
