/**
 * The check-target step of primary-failover, on a fake provider: a standby that received WAL past
 * the target is no reason to stop when the target was the synchronous standby at the cut (no
 * commit in that WAL was acknowledged), and still is one otherwise.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { planDrill } from '../../scripts/drill/drills.js';
import { DEFAULT_DRILL_OPTIONS } from '../../scripts/drill/drills/options.js';
import type { DatabaseStatus, DrillProvider, Topology } from '../../scripts/drill/provider.js';

const TOPOLOGY: Topology = { regions: ['eu', 'ap', 'us'], primaryRegion: 'eu', lockHomeRegion: 'eu', nodes: { eu: ['eu-1'], ap: ['ap-1'], us: ['us-1'] } };

/** eu fenced and cut off; ap received more WAL than us before the cut. */
const DATABASES: DatabaseStatus[] = [
  { region: 'eu', role: 'fenced', lsn: '0/5000200', lagMs: 0, upstream: null },
  { region: 'ap', role: 'replica', lsn: '0/5000100', lagMs: 80, upstream: 'eu' },
  { region: 'us', role: 'replica', lsn: '0/5000080', lagMs: 40, upstream: 'eu' },
];

function checkTarget(fault: 'partition' | 'none') {
  const plan = planDrill('primary-failover', 'us', TOPOLOGY, { ...DEFAULT_DRILL_OPTIONS, fault });
  const found = plan.steps.find((s) => s.id === 'check-target');
  if (found === undefined) throw new Error('no check-target step');
  return found;
}

function provider(onRead: () => void = () => undefined): DrillProvider {
  return {
    databases: () => {
      onRead();
      return Promise.resolve(DATABASES);
    },
  } as unknown as DrillProvider;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('primary-failover check-target', () => {
  it('promotes the synchronous standby of the cut although another standby received more WAL', async () => {
    const line = await checkTarget('partition').run({ provider: provider(), memo: { synchronousAtFault: 'us' }, log: () => undefined });
    expect(line).toMatch(/^us at 0\/5000080: ap 0\/5000100 received WAL past it that no client was told is committed \(us was the synchronous standby at the cut\)$/);
  });

  it('stops when the target was not the synchronous standby at the cut, naming --allow-data-loss', async () => {
    // The step waits 15 s for the target to catch up; the clock jumps 5 s at every look.
    vi.useFakeTimers({ toFake: ['Date'] });
    const step = checkTarget('partition');
    const run = step.run({ provider: provider(() => vi.setSystemTime(Date.now() + 5000)), memo: { synchronousAtFault: 'ap' }, log: () => undefined });
    await expect(run).rejects.toThrow(/us catching up with the most advanced database: not reached within 15 s; promoting us would lose writes another database holds \(pass --allow-data-loss to accept\)/);
  });

  it('in a planned switchover, waits for the fenced primary whatever the synchronous standby was', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const run = checkTarget('none').run({ provider: provider(() => vi.setSystemTime(Date.now() + 5000)), memo: { synchronousAtFault: 'us' }, log: () => undefined });
    await expect(run).rejects.toThrow(/not reached within 15 s/);
  });
});
