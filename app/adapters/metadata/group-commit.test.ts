import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

describe('GroupCommit', () => {
  it('sends a lone item at once, and gathers the items that arrive while batches are in flight', async () => {
    const batches: number[][] = [];
    const releases: Array<() => void> = [];
    const group = new GroupCommit<number, number>({
      maxInFlight: 1,
      maxBatch: 10,
      send: async (items) => {
        batches.push([...items]);
        await new Promise<void>((resolve) => releases.push(resolve));
        return items.map((n) => (n === 4 ? { status: 'rejected' as const, reason: new Error('four') } : { status: 'fulfilled' as const, value: n * 2 }));
      },
    });
    const first = group.submit(1);
    expect(batches).toEqual([[1]]);
    const rest = [2, 3, 4].map((n) => group.submit(n));
    expect(batches).toEqual([[1]]);
    releases.shift()?.();
    expect(await first).toBe(2);
    await new Promise((r) => setTimeout(r, 0));
    expect(batches).toEqual([[1], [2, 3, 4]]);
    releases.shift()?.();
    const settled = await Promise.allSettled(rest);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([4, 6, 'four']);
  });

  it('fails every item of a batch whose send failed, and keeps serving later ones', async () => {
    let calls = 0;
    const group = new GroupCommit<string, string>({
      maxInFlight: 2,
      maxBatch: 64,
      send: async (items) => {
        calls++;
        if (calls === 1) throw new Error('connection lost');
        return items.map((value) => ({ status: 'fulfilled' as const, value }));
      },
    });
    await expect(group.submit('a')).rejects.toThrow('connection lost');
    expect(await group.submit('b')).toBe('b');
  });
});
