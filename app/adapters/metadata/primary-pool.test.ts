import { describe, expect, it } from 'vitest';
import { isSwitchoverSign } from './primary-pool.js';

function withCode(code: string, message = 'failed'): Error {
  return Object.assign(new Error(message), { code });
}

describe('isSwitchoverSign', () => {
  it('recognises a primary stepping down, a standby refusing a write and lost connections', () => {
    for (const code of ['25006', '57P01', '57P02', '57P03', '08006', 'ECONNREFUSED', 'ECONNRESET']) expect(isSwitchoverSign(withCode(code))).toBe(true);
    expect(isSwitchoverSign(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isSwitchoverSign(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });

  it('ignores ordinary query failures', () => {
    for (const code of ['23505', '57014', '42P01']) expect(isSwitchoverSign(withCode(code))).toBe(false);
    expect(isSwitchoverSign(new Error('division by zero'))).toBe(false);
    expect(isSwitchoverSign(undefined)).toBe(false);
  });
});
