/** A private redis-server on a free loopback port, started and stopped by the tests (by PID). */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, stopChild, waitForPort } from './processes.js';

export interface RedisServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
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
