import { describe, expect, it } from 'vitest';
import type { Entry } from '../domain/entry.js';
import { entryHeaders, listingItem } from './entry-headers.js';

const mtime = new Date('2026-01-02T03:04:05.678Z');
const file: Entry = { path: '/d/report.pdf', name: 'report.pdf', type: 'file', size: 1234, mode: '0644', owner: 'alice', mtime, ctime: mtime, backendType: 'localfs', instanceId: 'node1', originInstanceId: 'node1', version: 3, blobKey: '.callfs/blobs/ab/0123456789abcdef0123456789abcdef' };
const dir: Entry = { ...file, path: '/d', name: 'd', type: 'directory', size: 4096, mode: '0755', instanceId: null, blobKey: null };

describe('entry headers', () => {
  it('describe a file with the X-CallFS headers, its type by extension and strong validators', () => {
    const headers = entryHeaders(file);
    expect(headers).toMatchObject({
      'X-CallFS-Type': 'file',
      'X-CallFS-Size': '1234',
      'X-CallFS-Mode': '0644',
      'X-CallFS-Owner': 'alice',
      'X-CallFS-MTime': '2026-01-02T03:04:05Z',
      'X-CallFS-Instance-ID': 'node1',
      'Content-Type': 'application/pdf',
      'Last-Modified': mtime.toUTCString(),
      'Accept-Ranges': 'bytes',
    });
    expect(headers['ETag']).toMatch(/^"[0-9a-z]+-3-[0-9a-z]+"$/);
  });

  it('describe a directory as JSON of size 0, with no validators or holder', () => {
    const headers = entryHeaders(dir);
    expect(headers).toMatchObject({ 'X-CallFS-Type': 'directory', 'X-CallFS-Size': '0', 'Content-Type': 'application/json' });
    expect(headers['ETag']).toBeUndefined();
    expect(headers['X-CallFS-Instance-ID']).toBeUndefined();
  });

  it('hand out a fresh object each time, so a caller adding headers changes no other answer', () => {
    const first = entryHeaders(file);
    first['X-Extra'] = '1';
    expect(entryHeaders(file)['X-Extra']).toBeUndefined();
  });

  it('list entries in the CallFS listing shape', () => {
    expect(listingItem(dir)).toEqual({ name: 'd', path: '/d', type: 'directory', size: 0, mode: '0755', owner: 'alice', mtime: '2026-01-02T03:04:05Z' });
  });
});
