import { describe, expect, it } from 'vitest';
import type { Entry } from './entry.js';
import { authorize } from './permissions.js';

function entry(type: 'file' | 'directory', owner: string): Entry {
  const now = new Date();
  return { path: '/x', name: 'x', type, size: 0, mode: '0644', owner, mtime: now, ctime: now, backendType: 'localfs', instanceId: null, originInstanceId: null, version: 1, blobKey: null };
}

describe('authorize (CallFS reference §5.4)', () => {
  it.each([
    ['alice', 'read', entry('file', 'bob'), null, 'allow'],
    ['alice', 'write', entry('file', 'bob'), null, 'deny'],
    ['alice', 'delete', entry('file', 'bob'), null, 'deny'],
    ['bob', 'write', entry('file', 'bob'), null, 'allow'],
    ['bob', 'delete', entry('file', 'bob'), null, 'allow'],
    ['alice', 'write', entry('directory', 'bob'), null, 'allow'],
    ['alice', 'delete', entry('directory', 'bob'), null, 'deny'],
    ['alice', 'read', null, null, 'not-found'],
    ['alice', 'delete', null, null, 'not-found'],
    ['alice', 'write', null, null, 'allow'],
    ['alice', 'write', null, entry('directory', 'root'), 'allow'],
    ['alice', 'write', null, entry('file', 'bob'), 'deny'],
    ['internal-proxy', 'delete', entry('file', 'bob'), null, 'allow'],
    ['root', 'write', entry('file', 'bob'), null, 'allow'],
  ] as const)('%s %s on %j (parent %j) → %s', (user, access, target, parent, expected) => {
    expect(authorize(user, access, target, parent)).toBe(expected);
  });
});
