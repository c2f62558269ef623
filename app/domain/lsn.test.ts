import { describe, expect, it } from 'vitest';
import { formatLsn, lsnReached, parseLsn } from './lsn.js';

describe('LSN tokens', () => {
  it('parses both halves as one 64-bit position', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn(' 1/FF ')).toBe((1n << 32n) | 0xffn);
  });

  it('refuses anything else', () => {
    for (const bad of ['', '16', '16/', '/1', 'G/1', '1/2/3', '123456789/1', '1/2; drop']) expect(parseLsn(bad)).toBeNull();
  });

  it('compares positions, not strings', () => {
    expect(lsnReached('1/A', parseLsn('0/FFFFFFFF') ?? 0n)).toBe(true);
    expect(lsnReached('0/9', parseLsn('0/A') ?? 0n)).toBe(false);
    expect(lsnReached(null, 0n)).toBe(false);
  });
});

describe('formatLsn', () => {
  it('prints a position as Postgres does, and parses back to it', () => {
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn((0x16n << 32n) | 0xb374d848n)).toBe('16/B374D848');
    for (const text of ['0/62C2428', 'FFFFFFFF/FFFFFFFF', '1/0']) expect(formatLsn(parseLsn(text) ?? -1n)).toBe(text);
  });
});
