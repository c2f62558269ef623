/**
 * A node as users run it, in its own process: `node --import tsx app/main.ts --config FILE` with a
 * CallFS-style YAML written here. Used by the multi-node tests that kill or stop nodes. Each
 * process is ended by its own handle (SIGTERM, or SIGKILL to simulate a crash), never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, stopChild, waitForPort } from '../../scripts/local-services/processes.js';
import { KEYS, SECRETS } from './test-node.js';

const repoRoot = new URL('../../', import.meta.url).pathname;

export interface NodeProcessOptions {
  /** Directory for this node's YAML file and local-disk root. */
  readonly dir: string;
  readonly instanceId: string;
  readonly dsn: string;
  readonly redisUrl: string;
  readonly region?: string;
  /** Static peer map (instance id → URL); the registry adds the rest. */
  readonly peers?: Readonly<Record<string, string>>;
  readonly port?: number;
  /** Extra `instance_discovery` lines (already indented by two spaces). */
  readonly discoveryLines?: readonly string[];
  /** Extra top-level YAML lines (whole sections). */
  readonly extraYaml?: readonly string[];
}

export interface NodeProcess {
  readonly instanceId: string;
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly rootPath: string;
  readonly configFile: string;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM and wait (graceful stop). */
  stop(): Promise<void>;
  /** SIGKILL and wait (a crash). */
  kill(): Promise<void>;
}

export async function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const port = options.port ?? (await freePort());
  const rootPath = join(options.dir, `${options.instanceId}-files`);
  mkdirSync(rootPath, { recursive: true });
  const peers = Object.entries(options.peers ?? {}).map(([id, url]) => `    ${id}: "${url}"`);
  const yaml = [
    'server:',
    `  listen_addr: "127.0.0.1:${port}"`,
    '  protocol: http',
    '  external_url: "http://files.example.test"',
    '  shutdown_grace_period: 10s',
    'auth:',
    `  api_keys: ["${KEYS.owner}"]`,
    `  api_key_users: { alice: "${KEYS.alice}" }`,
    `  admin_api_keys: ["${KEYS.owner}"]`,
    `  internal_proxy_secret: "${SECRETS.internal}"`,
    `  single_use_link_secret: "${SECRETS.link}"`,
    'log:',
    '  level: warn',
    'metadata_store:',
    `  dsn: "${options.dsn}"`,
    'dlm:',
    `  redis_addr: "${options.redisUrl.replace('redis://', '')}"`,
    'backend:',
    '  default_backend: localfs',
    `  localfs_root_path: "${rootPath}"`,
    'instance_discovery:',
    `  instance_id: ${options.instanceId}`,
    `  region: ${options.region ?? 'test'}`,
    '  heartbeat_interval: 500ms',
    '  probe_interval: 300ms',
    '  peer_down_period: 2s',
    ...(peers.length > 0 ? ['  peer_endpoints:', ...peers] : ['  peer_endpoints: {}']),
    ...(options.discoveryLines ?? []),
    ...(options.extraYaml ?? []),
  ].join('\n');
  const configFile = join(options.dir, `${options.instanceId}.yaml`);
  writeFileSync(configFile, yaml + '\n');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'app/main.ts'), '--config', configFile], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await Promise.race([
      waitForPort(port, 30_000),
      exited.then((code) => {
        throw new Error(`node ${options.instanceId} exited with ${String(code)} before listening: ${stderr.trim()}`);
      }),
    ]);
  } catch (error) {
    await stopChild(child, 'SIGKILL');
    throw error;
  }
  return {
    instanceId: options.instanceId,
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? 0,
    rootPath,
    configFile,
    exited,
    stderr: () => stderr,
    stop: () => stopChild(child, 'SIGTERM', 15_000),
    kill: () => stopChild(child, 'SIGKILL'),
  };
}
