/**
 * A private Redis Sentinel setup on free loopback ports: one master, one replica and three
 * sentinels (quorum 2, down-after 1 s, failover-timeout 2 s) monitoring it as `mymaster`.
 * Every process is one of our children and is stopped by its PID; `kill()` takes a Redis down
 * hard (SIGKILL) to force a failover, `failover()` asks the sentinels for a graceful one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { until as untilEvery } from '../../scripts/drill/drills/steps.js';
import { freePort, stopChild, waitForPort } from '../../scripts/local-services/processes.js';

export const MASTER_NAME = 'mymaster';
const HOST = '127.0.0.1';

export interface RedisSentinelSetup {
  readonly masterName: string;
  /** `host:port` of each sentinel. */
  readonly sentinels: readonly string[];
  /** The master's port as the sentinels report it now. */
  masterPort(): Promise<number>;
  /** `SENTINEL FAILOVER`, then waits until the sentinels name a different master; returns its port. */
  failover(): Promise<number>;
  /** SIGKILLs the Redis on `port` (ours, by PID) and waits until it has exited. */
  kill(port: number): Promise<void>;
  /** Waits until the master on `port` has `count` replicas online and the sentinels know them. */
  waitForReplicas(port: number, count: number): Promise<void>;
  /** Waits until the sentinels name a master other than `port`; returns the new master's port. */
  waitForNewMaster(port: number, timeoutMs?: number): Promise<number>;
  /** Runs one command on a Redis or sentinel port with a fresh connection. */
  command(port: number, ...args: Array<string | number>): Promise<unknown>;
  stop(): Promise<void>;
}

export async function command(port: number, ...args: Array<string | number>): Promise<unknown> {
  const [name, ...rest] = args;
  const client = new Redis({ host: HOST, port, lazyConnect: true, connectTimeout: 1000, commandTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.call(String(name), ...rest);
  } finally {
    client.disconnect();
  }
}


/** SENTINEL replies are flat [field, value, …] arrays; this reads one field. */
function field(entry: unknown, name: string): string | undefined {
  if (!Array.isArray(entry)) return undefined;
  const i = entry.indexOf(name);
  return i >= 0 && i % 2 === 0 ? String(entry[i + 1]) : undefined;
}

export async function startRedisSentinel(): Promise<RedisSentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'callfs-sentinel-'));
  const children = new Map<number, ChildProcess>();
  const startRedis = async (port: number, replicaOf: number | null): Promise<void> => {
    const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--repl-diskless-sync-delay', '0', '--dir', dir];
    if (replicaOf !== null) args.push('--replicaof', HOST, String(replicaOf));
    children.set(port, spawn('redis-server', args, { stdio: 'ignore' }));
    await waitForPort(port);
  };
  const startSentinel = async (port: number, masterPort: number): Promise<void> => {
    // The sentinel rewrites its config file, so each gets its own writable copy.
    const file = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        `bind ${HOST}`,
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} ${HOST} ${masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 2000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    children.set(port, spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
    await waitForPort(port);
  };

  const stop = async (): Promise<void> => {
    await Promise.allSettled([...children.values()].map((child) => stopChild(child)));
    children.clear();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [masterPort = 0, replicaPort = 0, ...sentinelPorts] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    await startRedis(masterPort, null);
    await startRedis(replicaPort, masterPort);
    await Promise.all(sentinelPorts.map((port) => startSentinel(port, masterPort)));

    const masterPortNow = async (): Promise<number> => {
      const reply = await command(sentinelPorts[0] ?? 0, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME);
      return Number((reply as string[])[1]);
    };
    /** Polls every 50 ms: a failover completes in about two seconds. */
    const until = <T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> => untilEvery(what, timeoutMs, probe, 50);
    const waitForNewMaster = (old: number, timeoutMs = 20_000): Promise<number> =>
      until(`a master other than :${old}`, timeoutMs, async () => {
        // Every sentinel must agree, so clients asking any of them land on the same node.
        const ports = await Promise.all(sentinelPorts.map(async (s) => Number(((await command(s, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[])[1])));
        const first = ports[0] ?? old;
        return first !== old && ports.every((p) => p === first) ? first : null;
      });
    const waitForReplicas = async (port: number, count: number): Promise<void> => {
      await until(`${count} replica(s) online at :${port}`, 20_000, async () => {
        const info = String(await command(port, 'INFO', 'replication'));
        const online = info.split('\n').filter((line) => /^slave\d+:.*state=online/.test(line)).length;
        return info.includes('role:master') && online >= count ? true : null;
      });
      await until('sentinels aware of the replicas and of each other', 20_000, async () => {
        for (const s of sentinelPorts) {
          const replicas = (await command(s, 'SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[];
          // Only the flags: a sentinel refreshes what it knows of a replica's link every 10 s, but
          // may promote any replica that is neither down nor disconnected.
          const healthy = replicas.filter((r) => field(r, 'flags') === 'slave');
          const peers = (await command(s, 'SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[];
          if (healthy.length < count || peers.length < sentinelPorts.length - 1) return null;
        }
        return true;
      });
    };

    await waitForReplicas(masterPort, 1);
    return {
      masterName: MASTER_NAME,
      sentinels: sentinelPorts.map((port) => `${HOST}:${port}`),
      masterPort: masterPortNow,
      failover: async () => {
        const old = await masterPortNow();
        await command(sentinelPorts[0] ?? 0, 'SENTINEL', 'FAILOVER', MASTER_NAME);
        return waitForNewMaster(old);
      },
      kill: async (port) => {
        const child = children.get(port);
        if (child === undefined) throw new Error(`no Redis of ours on :${port}`);
        await stopChild(child, 'SIGKILL');
        children.delete(port);
      },
      waitForReplicas,
      waitForNewMaster,
      command,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
