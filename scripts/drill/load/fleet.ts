/**
 * @module Starts the drill's load: one agent process per client region, inside that region's
 * network namespace (`ip netns exec <ns> node --import tsx agent-main.ts <options>`), all writing
 * their JSON lines under one directory. `stop()` creates the shared stop file, waits for every
 * agent to finish its operations in flight, signals only the processes it started (by their own
 * child handle) if one lingers, and returns every region's operations.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_AGENT_DURATION_MS, readOpLog, type AgentOptions, type OpRecord } from './agent.js';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const AGENT_MAIN = join(REPO_ROOT, 'scripts/drill/load/agent-main.ts');

export interface LoadClient {
  readonly region: string;
  /** Network namespace the agent runs in; null runs it in this process's own (tests, AWS). */
  readonly ns: string | null;
}

export interface LoadOptions {
  readonly clients: readonly LoadClient[];
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly runId: string;
  /** Holds the agents' JSON-lines files, logs and the stop file. */
  readonly dir: string;
  readonly writeIntervalMs?: number;
  readonly readIntervalMs?: number;
  /** Each agent's hard bound (default 10 min, at most 15). */
  readonly maxDurationMs?: number;
  readonly requestTimeoutMs?: number;
}

export type OpsByRegion = Record<string, OpRecord[]>;

export interface LoadFleet {
  readonly runId: string;
  /** region → the agent's JSON-lines file. */
  readonly files: Readonly<Record<string, string>>;
  /** region → PID of the agent process. */
  readonly pids: Readonly<Record<string, number>>;
  /** The operations recorded so far (the agents keep running). */
  snapshot(): OpsByRegion;
  /** Stops every agent and returns all their operations. Calling it again returns the same. */
  stop(): Promise<OpsByRegion>;
}

interface Agent {
  readonly region: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function waitFor(exited: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([exited.then(() => true as const), timeout]);
  clearTimeout(timer);
  return done;
}

export async function startLoad(options: LoadOptions): Promise<LoadFleet> {
  const regions = options.clients.map((c) => c.region);
  if (new Set(regions).size !== regions.length) throw new Error(`startLoad: a region appears twice in ${regions.join(', ')}`);
  mkdirSync(options.dir, { recursive: true });
  const stopFile = join(options.dir, `${options.runId}.stop`);
  // A resumed run loads again under the same id: the stop file of its interrupted load must not stop this one.
  rmSync(stopFile, { force: true });
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  const maxDurationMs = Math.min(options.maxDurationMs ?? 10 * 60_000, MAX_AGENT_DURATION_MS);
  const files: Record<string, string> = {};
  const pids: Record<string, number> = {};
  const agents: Agent[] = [];
  const startOne = (client: LoadClient): Agent => {
    const output = join(options.dir, `${options.runId}-${client.region}.jsonl`);
    files[client.region] = output;
    const agentOptions: AgentOptions = {
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      region: client.region,
      runId: options.runId,
      writeIntervalMs: options.writeIntervalMs ?? 500,
      readIntervalMs: options.readIntervalMs ?? 500,
      maxDurationMs,
      stopFile,
      output,
      requestTimeoutMs,
      randomBytes: 64,
    };
    const node = [process.execPath, '--import', 'tsx', AGENT_MAIN, JSON.stringify(agentOptions)];
    const [command = '', ...args] = client.ns === null ? node : ['ip', 'netns', 'exec', client.ns, ...node];
    const log = openSync(join(options.dir, `${options.runId}-${client.region}.log`), 'a');
    try {
      // `ip netns exec` replaces itself with node: the PID is the agent's own.
      const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', log, log] });
      const exited = new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', () => resolve());
      });
      if (child.pid !== undefined) pids[client.region] = child.pid;
      return { region: client.region, child, exited };
    } finally {
      closeSync(log);
    }
  };
  for (const client of options.clients) agents.push(startOne(client));

  const collect = (): OpsByRegion => Object.fromEntries(agents.map((a) => [a.region, readOpLog(files[a.region] ?? '')]));
  let stopping: Promise<OpsByRegion> | null = null;
  const stopAll = async (): Promise<OpsByRegion> => {
    writeFileSync(stopFile, `stopped at ${new Date().toISOString()}\n`);
    // An agent notices the stop file within ~100 ms, then finishes its operations in flight.
    const grace = requestTimeoutMs + 3000;
    await Promise.all(
      agents.map(async (agent) => {
        if (hasExited(agent.child) || (await waitFor(agent.exited, grace))) return;
        agent.child.kill('SIGTERM');
        if (await waitFor(agent.exited, grace)) return;
        agent.child.kill('SIGKILL');
        await waitFor(agent.exited, 5000);
      }),
    );
    return collect();
  };
  return {
    runId: options.runId,
    files,
    pids,
    snapshot: collect,
    stop: () => (stopping ??= stopAll()),
  };
}
