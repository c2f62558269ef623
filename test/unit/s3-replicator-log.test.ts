/**
 * The rehearsal's bucket replicator reads what its S3 stand-in logged as stored since its last
 * round (scripts/rehearsal/s3-replicator.ts `loggedKeys`): only complete lines, only its bucket,
 * each key once, and "cannot use the log" (a listing instead) when the log is missing or shrank.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loggedKeys } from '../../scripts/rehearsal/s3-replicator.js';

const dirs: string[] = [];
const logFile = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'replicator-log-'));
  dirs.push(dir);
  return join(dir, 'created.log');
};
const line = (bucket: string, key: string): string => JSON.stringify({ bucket, key }) + '\n';

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('loggedKeys', () => {
  it('returns the keys of its bucket once each, and the offset after the last complete line', () => {
    const file = logFile();
    writeFileSync(file, line('b', 'k1') + line('other', 'k2') + line('b', 'k1') + line('b', 'k/3 with space') + '{"bucket":"b","key":"torn');
    const first = loggedKeys(file, 0, 'b');
    expect(first?.keys).toEqual(['k1', 'k/3 with space']);
    // The torn line is not consumed: once completed, the next read returns it.
    appendFileSync(file, '"}\n' + line('b', 'k4'));
    const second = loggedKeys(file, first?.offset ?? -1, 'b');
    expect(second?.keys).toEqual(['torn', 'k4']);
    expect(loggedKeys(file, second?.offset ?? -1, 'b')).toEqual({ keys: [], offset: second?.offset });
  });

  it('gives up (null: list the bucket instead) when the log is missing or shorter than what was read', () => {
    const file = logFile();
    expect(loggedKeys(file, 0, 'b')).toBeNull();
    writeFileSync(file, line('b', 'k1'));
    const read = loggedKeys(file, 0, 'b');
    writeFileSync(file, '');
    expect(loggedKeys(file, read?.offset ?? 0, 'b')).toBeNull();
  });

  it('skips a line that is not JSON without losing the lines around it', () => {
    const file = logFile();
    writeFileSync(file, line('b', 'k1') + 'garbage\n' + line('b', 'k2'));
    expect(loggedKeys(file, 0, 'b')?.keys).toEqual(['k1', 'k2']);
  });
});
