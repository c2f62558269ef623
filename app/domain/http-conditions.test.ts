import { describe, expect, it } from 'vitest';
import { evaluatePreconditions, resolveRange } from './http-conditions.js';

describe('resolveRange (RFC 9110 §14)', () => {
  it.each([
    [undefined, 100, { kind: 'full' }],
    ['bytes=0-9', 100, { kind: 'partial', range: { start: 0, end: 9 } }],
    ['bytes=90-', 100, { kind: 'partial', range: { start: 90, end: 99 } }],
    ['bytes=-10', 100, { kind: 'partial', range: { start: 90, end: 99 } }],
    ['bytes=-500', 100, { kind: 'partial', range: { start: 0, end: 99 } }],
    ['bytes=50-5000', 100, { kind: 'partial', range: { start: 50, end: 99 } }],
    ['bytes=100-', 100, { kind: 'unsatisfiable' }],
    ['bytes=-0', 100, { kind: 'unsatisfiable' }],
    ['bytes=0-0', 0, { kind: 'unsatisfiable' }],
    ['bytes=5-1', 100, { kind: 'full' }],
    ['bytes=0-1,5-6', 100, { kind: 'full' }],
    ['items=0-1', 100, { kind: 'full' }],
  ])('%s of %i bytes', (header, size, expected) => {
    expect(resolveRange(header, size)).toEqual(expected);
  });
});

describe('evaluatePreconditions (RFC 9110 §13.2.2)', () => {
  const current = { etag: '"abc"', lastModified: new Date('2026-01-01T00:00:10Z') };
  it.each([
    [{}, true, 'proceed'],
    [{ ifNoneMatch: '"abc"' }, true, 'not-modified'],
    [{ ifNoneMatch: 'W/"abc"' }, true, 'not-modified'],
    [{ ifNoneMatch: '"other", "abc"' }, true, 'not-modified'],
    [{ ifNoneMatch: '"other"' }, true, 'proceed'],
    [{ ifNoneMatch: '*' }, false, 'failed'],
    [{ ifMatch: '"abc"' }, false, 'proceed'],
    [{ ifMatch: '"nope"' }, false, 'failed'],
    [{ ifMatch: 'W/"abc"' }, false, 'failed'],
    [{ ifModifiedSince: 'Thu, 01 Jan 2026 00:00:10 GMT' }, true, 'not-modified'],
    [{ ifModifiedSince: 'Thu, 01 Jan 2026 00:00:09 GMT' }, true, 'proceed'],
    [{ ifUnmodifiedSince: 'Thu, 01 Jan 2026 00:00:09 GMT' }, false, 'failed'],
  ] as const)('%j (read %s) → %s', (headers, isRead, expected) => {
    expect(evaluatePreconditions(headers, current, isRead)).toBe(expected);
  });

  it('If-None-Match: * lets a create through when nothing exists, and If-Match fails on a missing target', () => {
    expect(evaluatePreconditions({ ifNoneMatch: '*' }, { etag: null, lastModified: null }, false)).toBe('proceed');
    expect(evaluatePreconditions({ ifMatch: '*' }, { etag: null, lastModified: null }, false)).toBe('failed');
  });
});
