import { describe, expect, it } from 'vitest';
import { inlineReadWriteTransaction, inlineStatement, sqlLiteral } from './sql-text.js';

describe('SQL statements rendered for psql', () => {
  it('quotes every kind of value as a literal', () => {
    expect([null, true, false, 42, "it's", 'a\\b'].map(sqlLiteral)).toEqual(['NULL', 'true', 'false', '42', "'it''s'", "'a\\b'"]);
    expect(() => sqlLiteral(Number.NaN)).toThrow(RangeError);
  });

  it('replaces each placeholder by its value, including two-digit ones, and refuses a missing value', () => {
    const values = Array.from({ length: 11 }, (_, i) => i + 1);
    expect(inlineStatement({ text: 'select $1, $11, $2', values })).toBe('select 1, 11, 2');
    expect(inlineStatement({ text: 'update t set a = $1 where b = $2', values: ["x'; drop table t; --", null] })).toBe("update t set a = 'x''; drop table t; --' where b = NULL");
    expect(() => inlineStatement({ text: 'select $2', values: [1] })).toThrow(RangeError);
  });

  it('wraps statements in one read-write transaction with local settings', () => {
    expect(inlineReadWriteTransaction([{ text: 'update t set a = $1', values: [1] }], { lock_timeout: '2s' })).toBe("begin read write; set local lock_timeout = '2s'; update t set a = 1; commit");
    expect(() => inlineReadWriteTransaction([], { 'x; drop': '1' })).toThrow(RangeError);
  });
});
