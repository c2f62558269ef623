/**
 * @module The GeoDNS stand-in of the rehearsal: bind9 in the router namespace with one view per
 * region (zones from dns.ts, every node up at first), and the health checker that rewrites its
 * zones as nodes come and go, the way Route 53's health checks steer the latency record.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { namedConf } from './dns.js';
import { writeZones } from './health-checker.js';
import { logTail, resolveFrom, startDaemon } from './netns.js';
import { REPO_ROOT, STOP, type Paths, type Remember } from './paths.js';
import { sleep } from './state.js';
import { allNodes, type RehearsalPlan } from './topology.js';

export async function startDns(plan: RehearsalPlan, paths: Paths, remember: Remember): Promise<void> {
  mkdirSync(join(paths.dns, 'zones'), { recursive: true });
  const everyoneUp = Object.fromEntries(allNodes(plan).map((n) => [n.id, true]));
  writeZones(plan, paths.dns, everyoneUp, Math.floor(Date.now() / 1000));
  const conf = join(paths.dns, 'named.conf');
  writeFileSync(conf, namedConf(plan, paths.dns));
  const namedLog = join(paths.logs, 'named.log');
  remember(await startDaemon({ name: 'named', ns: plan.wanNs, command: 'named', args: ['-g', '-n', '1', '-c', conf], log: namedLog, stopOrder: STOP.dns }));
  const probe = plan.regions[0];
  if (probe === undefined) return;
  const deadline = Date.now() + 15_000;
  while ((await resolveFrom(probe.ns, probe.routerIp, plan.globalHostname).catch(() => [])).length === 0) {
    if (Date.now() > deadline) throw new Error(`named does not answer ${plan.globalHostname}\n${logTail(namedLog)}`);
    await sleep(100);
  }
  remember(
    await startDaemon({
      name: 'health checker',
      ns: plan.wanNs,
      command: process.execPath,
      args: ['--import', 'tsx', join(REPO_ROOT, 'scripts/rehearsal/health-main.ts'), plan.options.dir, paths.dns],
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
      log: join(paths.logs, 'health-checker.log'),
      stopOrder: STOP.health,
    }),
  );
}
