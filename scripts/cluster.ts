/**
 * `npm run cluster`: a three-node cluster on this machine, in one command. One Postgres (the
 * embedded distribution from npm, data kept under data/cluster/pg), one Redis (the machine's
 * redis-server, started by the local-services toolkit the tests and the rehearsal share;
 * installed from Debian when run as root and missing), and three nodes as separate processes
 * in regions eu, us and ap on 127.0.0.1:9101..9103, with local-disk files under
 * data/cluster/<node>/files and replication factor 2. Ctrl-C (or SIGTERM) stops exactly what it
 * started, nodes first. Env: CLUSTER_BASE_PORT (9101), CLUSTER_DIR (data/cluster).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCommandLine, usageError } from '../app/cli/command-line.js';
import { startEmbeddedPostgres } from '../app/adapters/metadata/embedded-postgres.js';
import { freePort, stopChild, waitForPort } from './local-services/processes.js';
import { requireRedisServer, startRedis, type RedisServer } from './local-services/redis.js';
import { credentialsOf, type Credentials } from './local-credentials.js';
import { withNodeThreadPool } from './local-services/node-runtime.js';

const USAGE = `usage: npm run cluster [-- options]

Three nodes (regions eu, us, ap) on this machine, sharing one embedded Postgres and one Redis;
Ctrl-C stops everything it started.

options:
  --base-port PORT   first node's port; the others follow (default 9101, or CLUSTER_BASE_PORT)
  --dir DIR          where data and credentials live (default data/cluster, or CLUSTER_DIR)
  -h, --help         this text
  --version          the geo-callfs and Node versions`;

const { values } = readCommandLine({ command: 'npm run cluster --', usage: USAGE, options: { 'base-port': { type: 'string' }, dir: { type: 'string' } } });
const repo = resolve(new URL('..', import.meta.url).pathname);
const dir = resolve(values.dir ?? process.env['CLUSTER_DIR'] ?? join(repo, 'data/cluster'));
const basePort = Number(values['base-port'] ?? process.env['CLUSTER_BASE_PORT'] ?? 9101);
if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65533) usageError('npm run cluster --', `cluster: --base-port must be a port number, not "${values['base-port'] ?? ''}"`);
const NODES = [
  { id: 'node-eu', region: 'eu' },
  { id: 'node-us', region: 'us' },
  { id: 'node-ap', region: 'ap' },
] as const;

function nodeYaml(node: (typeof NODES)[number], port: number, dsn: string, redisPort: number, creds: Credentials): string {
  const peers = NODES.map((peer, i) => ({ ...peer, port: basePort + i })).filter((peer) => peer.id !== node.id);
  return [
    'server:',
    `  listen_addr: "127.0.0.1:${port}"`,
    '  protocol: http',
    `  external_url: "http://127.0.0.1:${port}"`,
    'auth:',
    `  api_keys: ["${creds.api_key}"]`,
    `  admin_api_keys: ["${creds.api_key}"]`,
    `  internal_proxy_secret: "${creds.internal_proxy_secret}"`,
    `  single_use_link_secret: "${creds.single_use_link_secret}"`,
    'log:',
    '  level: info',
    '  format: console',
    'metadata_store:',
    `  dsn: "${dsn}"`,
    'dlm:',
    `  redis_addr: "127.0.0.1:${redisPort}"`,
    'backend:',
    '  default_backend: localfs',
    `  localfs_root_path: "${join(dir, node.id, 'files')}"`,
    'instance_discovery:',
    `  instance_id: ${node.id}`,
    `  region: ${node.region}`,
    '  peer_endpoints:',
    ...peers.map((peer) => `    ${peer.id}: "http://127.0.0.1:${peer.port}"`),
    '  peer_regions:',
    ...peers.map((peer) => `    ${peer.id}: ${peer.region}`),
    'replication:',
    '  factor: 2',
    '  placement: other-region',
    '  promote_after: 5m',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  requireRedisServer();
  mkdirSync(dir, { recursive: true });
  const creds = credentialsOf(dir);
  const children: ChildProcess[] = [];
  let postgres: { stop(): Promise<void> } | null = null;
  let redis: RedisServer | null = null;
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the cluster');
    for (const child of children.reverse()) await stopChild(child, 'SIGTERM', 15_000);
    await redis?.stop();
    await postgres?.stop();
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));
  try {
    const pgPort = await freePort();
    const pg = await startEmbeddedPostgres({
      dataDir: join(dir, 'pg'),
      port: pgPort,
      log: () => undefined,
      notice: (message, fields) => console.log(`${message}: ${Object.entries(fields).map(([key, value]) => `${key} ${value}`).join('; ')}`),
    });
    postgres = pg;
    redis = await startRedis();
    const redisPort = redis.port;
    // Start the first node alone (it runs the schema migrations), then the other two.
    const startNode = async (index: number): Promise<void> => {
      const node = NODES[index];
      if (node === undefined) return;
      const port = basePort + index;
      mkdirSync(join(dir, node.id), { recursive: true });
      const configFile = join(dir, node.id, 'config.yaml');
      writeFileSync(configFile, nodeYaml(node, port, pg.dsn, redisPort, creds), { mode: 0o600 });
      const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'app/main.ts'), '--config', configFile], { cwd: repo, env: withNodeThreadPool(process.env), stdio: ['ignore', 'inherit', 'inherit'] });
      children.push(child);
      await waitForPort(port, 30_000);
    };
    await startNode(0);
    await Promise.all([startNode(1), startNode(2)]);
    console.log(
      [
        '',
        'three-node cluster ready:',
        ...NODES.map((node, i) => `  ${node.id} (region ${node.region}): http://127.0.0.1:${basePort + i}`),
        `API key: ${creds.api_key} (in ${join(dir, 'credentials.json')})`,
        '',
        'try:',
        `  curl -X PUT -H "Authorization: Bearer ${creds.api_key}" --data-binary 'hello' http://127.0.0.1:${basePort}/v1/files/hello.txt`,
        `  curl -i -H "Authorization: Bearer ${creds.api_key}" http://127.0.0.1:${basePort + 1}/v1/files/hello.txt`,
        `  curl -H "Authorization: Bearer ${creds.api_key}" http://127.0.0.1:${basePort + 2}/v1/cluster`,
        '',
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
  } catch (error) {
    await stopAll();
    throw error;
  }
}

main().catch((error: unknown) => {
  console.error(`cluster: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
