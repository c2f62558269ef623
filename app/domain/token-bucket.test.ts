import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './token-bucket.js';

describe('TokenBuckets', () => {
  it('allows the burst, then refills at the rate, per client', () => {
    const buckets = new TokenBuckets({ ratePerSec: 10, burst: 5 });
    const results = Array.from({ length: 6 }, () => buckets.take('a', 1000));
    expect(results).toEqual([true, true, true, true, true, false]);
    expect(buckets.take('b', 1000)).toBe(true);
    expect(buckets.take('a', 1099)).toBe(false);
    expect(buckets.take('a', 1100)).toBe(true);
  });

  it('never holds more than maxClients', () => {
    const buckets = new TokenBuckets({ ratePerSec: 1, burst: 1, maxClients: 3 });
    for (let i = 0; i < 10; i++) buckets.take(`c${i}`, 0);
    expect(buckets.size).toBeLessThanOrEqual(3);
  });
});
