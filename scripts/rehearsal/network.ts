/**
 * @module The rehearsal's network: one namespace per region plus a router namespace joined by
 * veth pairs, each region resolving through the GeoDNS stand-in, and the WAN between them (the
 * `wan-delay` NFQUEUE program in the router delays, or for a partition drops, packets by region
 * pair). Also the round trips measured across it. Everything created is recorded in the state
 * file first, so `deleteNetwork` removes exactly that.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inNamespace, logTail, namespaceExists, pingRtt, run, startDaemon } from './netns.js';
import { loadPlan, STOP, type Paths, type Remember } from './paths.js';
import { readState, sleep, writeState, type RehearsalState, type RttMeasurement } from './state.js';
import { isRunning } from '../local-services/pid-lock.js';
import { delayMatrix, namespacesOf, pairKey, rttBetween, type RegionPlan, type RehearsalOptions, type RehearsalPlan } from './topology.js';

/** `ip netns exec` mounts the files of /etc/netns/<namespace>/ over /etc inside the namespace. */
const ETC_NETNS = '/etc/netns';

export async function createNetwork(plan: RehearsalPlan, state: RehearsalState): Promise<void> {
  const save = (): void => writeState(plan.options.dir, state);
  for (const ns of namespacesOf(plan)) {
    if (namespaceExists(ns)) throw new Error(`namespace ${ns} already exists and is not in this rehearsal's state file; choose another REHEARSAL_PREFIX or remove it`);
  }
  const ip = (...args: string[]): Promise<unknown> => run('ip', args, 10_000);
  // Each name is recorded before it is created, so an `up` killed in between still lets `down`
  // delete it (down skips names that do not exist); a name `ip` refuses is dropped again, since
  // then it was someone else's.
  const addNamespace = async (ns: string): Promise<void> => {
    state.namespaces.push(ns);
    save();
    try {
      await ip('netns', 'add', ns);
    } catch (error) {
      state.namespaces = state.namespaces.filter((n) => n !== ns);
      save();
      throw error;
    }
  };
  if (!existsSync(ETC_NETNS)) {
    state.etcNetnsDirs.push(ETC_NETNS);
    save();
  }
  await addNamespace(plan.wanNs);
  await ip('-n', plan.wanNs, 'link', 'set', 'lo', 'up');
  await inNamespace(plan.wanNs, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  for (const region of plan.regions) {
    await addNamespace(region.ns);
    const routerSide = `r${region.index}`;
    // Both ends are created inside namespaces: nothing appears in the host's.
    await ip('-n', plan.wanNs, 'link', 'add', routerSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', region.ns);
    await ip('-n', plan.wanNs, 'addr', 'add', `${region.routerIp}/24`, 'dev', routerSide);
    await ip('-n', plan.wanNs, 'link', 'set', routerSide, 'up');
    await ip('-n', region.ns, 'link', 'set', 'lo', 'up');
    for (const address of [region.serviceIp, ...region.nodes.map((n) => n.ip)]) await ip('-n', region.ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', region.ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', region.ns, 'route', 'add', 'default', 'via', region.routerIp);
    // `ip netns exec` mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf: the region's
    // programs (curl, dig, the nodes) resolve through the GeoDNS stand-in.
    const etcDir = join(ETC_NETNS, region.ns);
    state.etcNetnsDirs.push(etcDir);
    save();
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(join(etcDir, 'resolv.conf'), `nameserver ${region.routerIp}\nsearch ${plan.options.domain}\noptions timeout:1 attempts:2\n`);
  }
}

/** Deletes the namespaces and /etc/netns directories `createNetwork` recorded, newest first. */
export async function deleteNetwork(state: RehearsalState, log: (line: string) => void): Promise<void> {
  for (const ns of [...state.namespaces].reverse()) {
    if (!namespaceExists(ns)) continue;
    const left = (await run('ip', ['netns', 'pids', ns], 10_000).catch(() => ({ stdout: '' }))).stdout.trim();
    if (left !== '') log(`namespace ${ns} still has processes this rehearsal did not start (${left.split('\n').join(', ')}); deleting the name only`);
    await run('ip', ['netns', 'del', ns], 10_000);
  }
  for (const dir of [...state.etcNetnsDirs].reverse()) {
    if (dir !== ETC_NETNS) rmSync(dir, { recursive: true, force: true });
    else if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir); // made by us; kept if others use it now
  }
}

function matrixFile(plan: RehearsalPlan): string {
  return join(plan.options.dir, 'run', 'wan-delay.matrix');
}

/**
 * Cuts the listed region pairs off from each other (every packet between them dropped, both ways),
 * or, with an empty list, heals every partition: the WAN delayer re-reads its matrix (SIGHUP).
 * Returns once the delayer has loaded it.
 */
export async function setPartitions(options: RehearsalOptions, pairs: ReadonlyArray<readonly [string, string]>): Promise<string[]> {
  const state = readState(options.dir);
  const delayer = state?.processes.find((p) => p.name === 'wan-delay');
  if (state === null || delayer === undefined || !isRunning(delayer)) throw new Error('the rehearsal is not up (no running wan-delay)');
  const plan = loadPlan(options);
  const names = new Set(plan.regions.map((r) => r.name));
  for (const [a, b] of pairs) {
    if (!names.has(a) || !names.has(b) || a === b) throw new Error(`"${a} ${b}" is not a pair of two regions of ${[...names].join(', ')}`);
  }
  const keys = [...new Set(pairs.map(([a, b]) => pairKey(a, b)))].sort();
  writeFileSync(matrixFile(plan), delayMatrix(plan, new Set(keys)));
  const loadsBefore = logTail(delayer.log, 10_000).split('\n').filter((l) => l.includes('delays loaded')).length;
  process.kill(delayer.pid, 'SIGHUP');
  const deadline = Date.now() + 3000;
  while (logTail(delayer.log, 10_000).split('\n').filter((l) => l.includes('delays loaded')).length <= loadsBefore && Date.now() < deadline) await sleep(20);
  state.partitions = keys;
  writeState(options.dir, state);
  return keys;
}

export async function startWanDelay(plan: RehearsalPlan, binary: string, paths: Paths, remember: Remember): Promise<string> {
  const matrix = matrixFile(plan);
  writeFileSync(matrix, delayMatrix(plan));
  const log = join(paths.logs, 'wan-delay.log');
  const record = remember(await startDaemon({ name: 'wan-delay', ns: plan.wanNs, command: binary, args: ['-q', '0', '-f', matrix], log, stopOrder: STOP.wan }));
  for (let i = 0; i < 100 && !logTail(log, 20).includes('ready'); i++) await sleep(20);
  if (!isRunning(record)) throw new Error(`wan-delay did not start: ${logTail(log)}`);
  // Only once the queue has its reader: a queue without one drops every packet.
  await inNamespace(plan.wanNs, 'iptables', ['-w', '-A', 'FORWARD', '-j', 'NFQUEUE', '--queue-num', '0']);
  return `NFQUEUE delayer ${binary} (matrix ${matrix})`;
}

/** Pings between every pair of regions (from one region's namespace to the other's services). */
export async function measureRtt(plan: RehearsalPlan, count = 5): Promise<RttMeasurement[]> {
  const pairs: Array<[RegionPlan, RegionPlan]> = [];
  plan.regions.forEach((a, i) => plan.regions.slice(i + 1).forEach((b) => pairs.push([a, b])));
  return Promise.all(
    pairs.map(async ([a, b]) => ({ from: a.name, to: b.name, configuredMs: rttBetween(plan, a.name, b.name), measuredMs: await pingRtt(a.ns, b.serviceIp, count) })),
  );
}
