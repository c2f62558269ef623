/**
 * @module What runs around a drill to score it: before the first step, one load agent per
 * region starts writing and reading through the global name from inside that region; when the
 * last step is done the agents keep going for the steady window (so recovery can be seen), then
 * stop; every acknowledged write is read back, the metadata↔bytes audit runs, and the scorecard
 * is printed and written to the history. Load needs clients inside the regions, which only the
 * rehearsal has: with another provider the drill runs without a scorecard, and says so.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { credentialsOf } from '../../local-credentials.js';
import { loadPlan, rehearsalOptions } from '../../rehearsal/paths.js';
import { sleep } from '../../rehearsal/state.js';
import type { RehearsalOptions } from '../../rehearsal/topology.js';
import type { ScorecardHooks } from '../cli.js';
import { auditRehearsal, removeRehearsalOrphan } from './audit.js';
import { DNS_TTL } from '../../rehearsal/dns.js';
import { readOpLog, type OpRecord } from '../load/agent.js';
import { namespaceFetchFile } from './fetch-file.js';
import { startLoad, type LoadFleet } from '../load/fleet.js';
import { REPLICA_LAG_BOUND_MS, type DrillProvider } from '../provider.js';
import { printScorecard, writeScorecard } from '../report.js';
import type { RunOutcome, RunProgress } from '../runner.js';
import { scoreDrill, type StepTiming } from '../scorecard.js';

export interface ScorecardHookOptions {
  readonly rehearsal?: RehearsalOptions;
  /** Where scorecards are kept (default `<drill dir>/history`). */
  readonly historyDir?: string;
  readonly log?: (line: string) => void;
  /** Traffic recorded before the first step, as the baseline. */
  readonly baselineMs?: number;
}

/** Fault time and the promotion window as the drill steps recorded them. */
function numberIn(memo: Readonly<Record<string, unknown>>, key: string): number | null {
  const value = memo[key];
  return typeof value === 'number' ? value : null;
}

export function scorecardHooks(options: ScorecardHookOptions = {}): ScorecardHooks {
  const rehearsal = options.rehearsal ?? rehearsalOptions();
  const log = options.log ?? ((line: string) => console.log(line));
  let fleet: LoadFleet | null = null;
  let startedAt = 0;
  // What start() found, kept for finish(): the load ran against it.
  let plan = loadPlan(rehearsal);
  let baseUrl = '';
  let apiKey = '';
  return {
    async start(progress: RunProgress, provider: DrillProvider, drillDir: string): Promise<void> {
      if (provider.name !== 'local') {
        log(`scorecard: the ${provider.name} provider has no clients inside the regions; the drill runs without load generators or RTO/RPO figures`);
        return;
      }
      plan = loadPlan(rehearsal);
      baseUrl = `http://${plan.globalHostname}:${plan.options.nodePort}`;
      apiKey = credentialsOf(rehearsal.dir).api_key;
      startedAt = Date.now();
      fleet = await startLoad({
        clients: plan.regions.map((r) => ({ region: r.name, ns: r.ns })),
        baseUrl,
        apiKey,
        runId: progress.runId,
        dir: join(drillDir, 'load', progress.runId),
        writeIntervalMs: 100,
        readIntervalMs: 150,
        maxDurationMs: 15 * 60_000,
      });
      log(`load: one client per region writing and reading through ${plan.globalHostname} (runs until the scorecard, at most 15 min)`);
      await sleep(options.baselineMs ?? 3000);
    },
    async finish(progress: RunProgress, provider: DrillProvider, outcome: RunOutcome, drillDir: string, withdrawn: readonly string[], outageRegion?: string | null): Promise<boolean | null> {
      const running = fleet;
      if (running === null) return null;
      fleet = null;
      const steadyMs = typeof progress.options['steadyMs'] === 'number' ? progress.options['steadyMs'] : 60_000;
      if (outcome.kind === 'done') {
        log(`load: keeping the clients running ${Math.round(steadyMs / 1000)} s more, to see the recovery hold`);
        await sleep(steadyMs + 1000);
      }
      const ops = await running.stop();
      const topology = await provider.topology().catch(() => progress.topology);
      const reader = plan.regions.find((r) => r.name === topology.primaryRegion) ?? plan.home;
      const memo = progress.memo;
      const faultAt = numberIn(memo, 'faultAt') ?? startedAt;
      const promotionStart = numberIn(memo, 'promotionStartedAt') ?? numberIn(memo, 'back-promotionStartedAt');
      const promotionEnd = numberIn(memo, 'promotionEndedAt') ?? numberIn(memo, 'back-promotionEndedAt');
      const steps: StepTiming[] = progress.steps.map((s) => ({ name: s.id, start: s.startedAt, end: s.endedAt, ok: s.ok, detail: s.result }));
      const lag = (memo['lagBeforeFault'] ?? memo['back-lagBeforeFault'] ?? {}) as Record<string, number | null>;
      const outageEnd = numberIn(memo, 'outageEndedAt');
      const outage =
        outageRegion === null || outageRegion === undefined
          ? null
          : { region: outageRegion, start: faultAt, detectedAt: numberIn(memo, 'outageDetectedAt'), end: outageEnd ?? Date.now(), dnsTtlMs: DNS_TTL * 1000 };
      // After an unplanned failover the lost region's databases stay cut off (or down) until a
      // failback rebuilds them: they cannot stream yet, and are not judged by this drill.
      const lostRegions = progress.drill === 'primary-failover' ? withdrawn : [];
      const allStandbys = provider.standbys === undefined ? null : await provider.standbys().catch(() => null);
      const standbysAtEnd = allStandbys === null ? null : allStandbys.filter((st) => !lostRegions.includes(st.region));
      if (allStandbys !== null && standbysAtEnd !== null && standbysAtEnd.length < allStandbys.length) {
        log(`scorecard: not judging the replicas of ${lostRegions.join(', ')} (lost by the failover; rebuilt by failback)`);
      }
      const rtoBudgetMs = typeof progress.options['rtoBudgetMs'] === 'number' ? progress.options['rtoBudgetMs'] : undefined;
      const card = await scoreDrill(
        {
          drill: progress.drill,
          provider: provider.name,
          runId: progress.runId,
          startedAt,
          faultAt,
          steps,
          dbPromotion: promotionStart !== null && promotionEnd !== null ? { start: promotionStart, end: promotionEnd } : null,
          withdrawnRegions: withdrawn,
          // A partition cuts the lost region's own clients off with it (they sit in its namespace).
          isolatedRegions: outage !== null ? [outage.region] : progress.options['fault'] === 'partition' && progress.drill === 'primary-failover' ? withdrawn : [],
          ipRegions: Object.fromEntries(plan.regions.flatMap((r) => r.nodes.map((n) => [n.ip, r.name]))),
          ops,
          earlierWrites: earlierWrites(join(drillDir, 'load'), progress.runId),
          lagBeforeFaultMs: lag,
          budgets: { steadyMs, ...(rtoBudgetMs === undefined ? {} : { rtoBudgetMs }) },
          standbysAtEnd,
          replicaLagBoundMs: REPLICA_LAG_BOUND_MS,
          outage,
        },
        {
          fetchFile: namespaceFetchFile(reader.ns, baseUrl, apiKey),
          audit: () => auditRehearsal(plan, { primaryRegion: topology.primaryRegion }),
          cleanOrphan: async (orphan) => removeRehearsalOrphan(plan, orphan),
        },
      );
      printScorecard(card, log);
      const written = writeScorecard(options.historyDir ?? join(drillDir, 'history'), card);
      log(`scorecard: ${written.markdown} (history: ${written.history})`);
      return card.pass;
    },
  };
}

/** The writes logged by the load of every earlier run under `loadDir` (`<runId>/<runId>-<region>.jsonl`). */
function earlierWrites(loadDir: string, currentRunId: string): OpRecord[] {
  if (!existsSync(loadDir)) return [];
  const writes: OpRecord[] = [];
  for (const runId of readdirSync(loadDir)) {
    if (runId === currentRunId) continue;
    let names: string[];
    try {
      names = readdirSync(join(loadDir, runId));
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.jsonl')) continue;
      try {
        writes.push(...readOpLog(join(loadDir, runId, name)).filter((op) => op.op === 'write'));
      } catch {
        // an unreadable log explains nothing
      }
    }
  }
  return writes;
}
