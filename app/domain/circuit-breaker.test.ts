import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.js';

const options = { failureThreshold: 3, openMs: 5000 };

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and resets on success', () => {
    const breaker = new CircuitBreaker(options);
    breaker.failed(0, 'ECONNREFUSED');
    breaker.failed(1, 'ECONNREFUSED');
    expect(breaker.admit(2)).toEqual({ ok: true });
    breaker.succeeded(3);
    breaker.failed(4, 'ECONNREFUSED');
    breaker.failed(5, 'ECONNREFUSED');
    expect(breaker.snapshot(6).state).toBe('closed');
  });

  it('opens after consecutive failures and refuses with the remaining wait', () => {
    const breaker = new CircuitBreaker(options);
    for (let t = 0; t < 3; t++) breaker.failed(t, 'ECONNREFUSED');
    expect(breaker.snapshot(3).state).toBe('open');
    expect(breaker.admit(1002)).toEqual({ ok: false, retryAfterSec: 4 });
    expect(breaker.snapshot(1000)).toMatchObject({ consecutiveFailures: 3, lastError: 'ECONNREFUSED', lastFailureAt: 2 });
  });

  it('lets one trial through after the open period; its failure re-opens, its success closes', () => {
    const breaker = new CircuitBreaker(options);
    for (let t = 0; t < 3; t++) breaker.failed(t, 'x');
    expect(breaker.admit(5002)).toEqual({ ok: true });
    expect(breaker.admit(5003)).toEqual({ ok: false, retryAfterSec: 5 });
    breaker.failed(5004, 'x');
    expect(breaker.snapshot(5005)).toMatchObject({ state: 'open', downSince: 2 });
    expect(breaker.admit(10_004)).toEqual({ ok: true });
    breaker.succeeded(10_005);
    expect(breaker.admit(10_006)).toEqual({ ok: true });
    expect(breaker.snapshot(10_006)).toMatchObject({ state: 'closed', consecutiveFailures: 0, lastSuccessAt: 10_005, downSince: null });
  });

  it('closes at once when a probe succeeds while open', () => {
    const breaker = new CircuitBreaker(options);
    for (let t = 0; t < 3; t++) breaker.failed(t, 'x');
    breaker.succeeded(100);
    expect(breaker.admit(101)).toEqual({ ok: true });
  });
});
