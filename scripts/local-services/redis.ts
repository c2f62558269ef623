/**
 * @module The Redis of every local setup: the machine's redis-server, keeping nothing on disk.
 * `redisServerArgs` is how each one starts it (the tests and `npm run cluster` on a free loopback
 * port through `startRedis`, the rehearsal on each region's service address inside its
 * namespace); `requireRedisServer` installs it from Debian when missing and run as root.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { freePort, stopChild, waitForPort } from './processes.js';

/** redis-server's arguments: listen on `bind:port`, no snapshots, no append-only file. */
export function redisServerArgs(bind: string, port: number, dir?: string): string[] {
  return ['--bind', bind, '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...(dir === undefined ? [] : ['--dir', dir])];
}

/** Makes sure `redis-server` is on the PATH: installed from Debian as root, else an error naming the command. */
export function requireRedisServer(log: (line: string) => void = console.log): void {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' });
    return;
  } catch {
    // missing: install below or explain
  }
  const command = 'apt-get update && apt-get install -y --no-install-recommends redis-server';
  if (process.getuid?.() !== 0) throw new Error(`redis-server is needed for cluster-wide locks; install it with: sudo sh -c '${command}'`);
  log('installing redis-server');
  execFileSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive ${command}`], { stdio: 'inherit' });
}

export interface RedisServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A private redis-server on a free loopback port, started and stopped by PID (`start` again after `stop`). */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', redisServerArgs('127.0.0.1', port), { stdio: 'ignore' });
    await waitForPort(port);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    start,
    stop: async () => {
      if (child !== null) await stopChild(child);
      child = null;
    },
  };
}
