/**
 * @module The rehearsal's nodes: each one `app/main.ts` in its own process inside its region's
 * namespace, configured only by the YAML written for it (node-config.ts), recorded by PID; and
 * a region's nodes stopped or started again, as an outage drill does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentialsOf, type Credentials } from '../local-credentials.js';
import { startDaemon, waitForTcp } from './netns.js';
import { nodeYaml } from './node-config.js';
import { loadPlan, REPO_ROOT, requireUp, STOP } from './paths.js';
import { readState, recordProcess, runningProcess, stopProcess, type ProcessRecord } from './state.js';
import { isRunning } from '../local-services/pid-lock.js';
import type { NodePlan, RehearsalOptions, RehearsalPlan } from './topology.js';
import { withNodeThreadPool } from '../local-services/node-runtime.js';

function nodeEnv(): NodeJS.ProcessEnv {
  // The YAML is the whole configuration: no CALLFS_ override from the caller's environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CALLFS_')));
  return withNodeThreadPool({ ...env, NODE_OPTIONS: '' });
}

export function nodeDir(plan: RehearsalPlan, node: NodePlan): string {
  return join(plan.options.dir, 'run', 'nodes', node.id);
}

export async function startNode(plan: RehearsalPlan, node: NodePlan, creds: Credentials): Promise<ProcessRecord> {
  const region = plan.regions.find((r) => r.name === node.region);
  if (region === undefined) throw new Error(`node ${node.id}: unknown region ${node.region}`);
  const dir = nodeDir(plan, node);
  mkdirSync(join(dir, 'files'), { recursive: true });
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, nodeYaml(plan, region, node, creds, dir), { mode: 0o600 });
  const log = join(plan.options.dir, 'logs', `node-${node.id}.log`);
  const record = await startDaemon({
    name: `node ${node.id}`,
    ns: region.ns,
    command: process.execPath,
    args: ['--import', 'tsx', join(REPO_ROOT, 'app/main.ts'), '--config', configFile],
    cwd: REPO_ROOT,
    env: nodeEnv(),
    log,
    stopOrder: STOP.node,
  });
  try {
    await waitForTcp(region.ns, node.ip, node.port, 60_000, `node ${node.id}`, log);
  } catch (error) {
    await stopProcess(record, 2000);
    throw error;
  }
  return record;
}

/** Stops the nodes of one region (a regional outage), by their recorded PIDs. */
export async function stopRegionNodes(options: RehearsalOptions, region: string): Promise<number> {
  const state = readState(options.dir);
  const plan = loadPlan(options);
  const ids = new Set(plan.regions.find((r) => r.name === region)?.nodes.map((n) => `node ${n.id}`) ?? []);
  const targets = state?.processes.filter((p) => ids.has(p.name) && isRunning(p)) ?? [];
  await Promise.all(targets.map((p) => stopProcess(p, 8000)));
  return targets.length;
}

/** Starts again the nodes of `region` that are not running, and records them. */
export async function startRegionNodes(options: RehearsalOptions, region: string): Promise<number> {
  const plan = loadPlan(options);
  const nodes = plan.regions.find((r) => r.name === region)?.nodes ?? [];
  let started = 0;
  for (const node of nodes) if ((await ensureNodeRunning(options, node)) !== null) started++;
  return started;
}

/** Starts `node` unless it is running, and records it; null when it was running. */
export async function ensureNodeRunning(options: RehearsalOptions, node: NodePlan): Promise<ProcessRecord | null> {
  requireUp(options);
  if (runningProcess(options.dir, `node ${node.id}`) !== null) return null;
  return recordProcess(options.dir, await startNode(loadPlan(options), node, credentialsOf(options.dir)));
}
