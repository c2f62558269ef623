/**
 * @module The steps the drills share, over `DrillProvider` only: waiting for a condition with a
 * deadline, arming the next lock home under a new epoch (chosen once per run and kept in the
 * memo, so a resumed drill reuses it), and the convergence checks every drill ends with (nodes on
 * the epoch and ready, replicas streaming within the lag bound, a write probe per region).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLsn } from '../../../app/fencing/index.js';
import { REPLICA_LAG_BOUND_MS, type DatabaseStatus, type DrillProvider } from '../provider.js';
import type { DrillStep, Memo, StepContext } from '../runner.js';

export function lsnValue(lsn: string | null): bigint | null {
  return lsn === null ? null : parseLsn(lsn);
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await sleep(intervalMs);
  }
}

export function step(id: string, title: string, run: (ctx: StepContext) => Promise<string>): DrillStep {
  return { id, title, run };
}

export function memoNumber(memo: Memo, key: string): number | null {
  const value = memo[key];
  return typeof value === 'number' ? value : null;
}

export function memoText(memo: Memo, key: string): string {
  const value = memo[key];
  if (typeof value !== 'string') throw new Error(`no ${key} recorded: the step choosing it has not run`);
  return value;
}

/**
 * Chooses the next epoch (once per run: the memo keeps it, so a resumed drill reuses it), read
 * from `epochRegion`'s database, and arms `lockHomeRegion`'s Redis with it and a fence floor
 * above every token stored in the metadata.
 */
export async function armNextLockHome(provider: DrillProvider, memo: Memo, key: string, lockHomeRegion: string, epochRegion: string): Promise<string> {
  const current = await provider.readEpoch(epochRegion);
  const epoch = memoNumber(memo, key) ?? current.epoch + 1;
  memo[key] = epoch;
  return provider.armLockHome(lockHomeRegion, epoch, (current.maxFence ?? 0) + 1);
}

/** The epoch `armNextLockHome` chose. */
export function chosenEpoch(memo: Memo, key: string): number {
  const epoch = memoNumber(memo, key);
  if (epoch === null) throw new Error('no epoch chosen: the arm-lock-home step has not run');
  return epoch;
}

export function describeDatabases(databases: readonly DatabaseStatus[]): string {
  return databases.map((d) => `${d.region} ${d.role}${d.lagMs === null ? '' : ` lag ${d.lagMs} ms`}`).join(', ');
}

/** Every node outside `except` answers ready and reports `epoch`. */
export async function nodesOnEpoch(provider: DrillProvider, epoch: number, except: ReadonlySet<string>, timeoutMs: number): Promise<string> {
  const nodes = await until(`every node outside ${[...except].join(', ') || 'none'} on epoch ${epoch} and ready`, timeoutMs, async () => {
    const all = (await provider.nodeStatus()).filter((n) => !except.has(n.region));
    return all.every((n) => n.ready && n.epoch === epoch) ? all : null;
  }, 500);
  return `${nodes.length} node(s) ready on epoch ${epoch}`;
}

/**
 * Waits until every standby outside `except` streams from the primary within the lag bound: a
 * drill is not over while a replica sits on a forked timeline or far behind. Judged by
 * `standbys()` when the provider has it (every server, as the primary sees it), else by
 * `databases()` (each region's replica streaming from the primary's region).
 */
export async function replicasStreaming(provider: DrillProvider, except: ReadonlySet<string>, timeoutMs: number): Promise<string> {
  const describe = (items: ReadonlyArray<{ name: string; ok: boolean; why: string }>): string => items.map((i) => `${i.name} ${i.ok ? 'streaming' : i.why}`).join(', ');
  let last: Array<{ name: string; ok: boolean; why: string }> = [];
  try {
    const settled = await until(`every replica${except.size > 0 ? ` outside ${[...except].join(', ')}` : ''} streaming with under ${REPLICA_LAG_BOUND_MS / 1000} s of lag`, timeoutMs, async () => {
      if (provider.standbys !== undefined) {
        last = (await provider.standbys())
          .filter((st) => !except.has(st.region))
          .map((st) => ({ name: st.name, ok: st.streaming && (st.lagMs ?? 0) <= REPLICA_LAG_BOUND_MS, why: st.streaming ? `lag ${st.lagMs ?? '?'} ms` : (st.detail ?? 'not streaming') }));
      } else {
        const databases = await provider.databases();
        const primary = databases.find((d) => d.role === 'primary')?.region ?? null;
        last = databases
          .filter((d) => d.region !== primary && !except.has(d.region))
          .map((d) => ({ name: d.region, ok: d.role === 'replica' && d.upstream === primary && (d.lagMs ?? 0) <= REPLICA_LAG_BOUND_MS, why: d.role === 'replica' ? `from ${d.upstream ?? 'nowhere'}, lag ${d.lagMs ?? '?'} ms` : d.role }));
      }
      return last.every((i) => i.ok) ? last : null;
    }, 500);
    return describe(settled);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}: ${describe(last)}`);
  }
}

export async function probeAll(provider: DrillProvider, regions: readonly string[]): Promise<string> {
  const lines = [];
  for (const region of regions) lines.push(await provider.probeWrite(region));
  return lines.join('; ');
}
