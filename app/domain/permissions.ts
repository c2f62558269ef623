/**
 * @module Ownership-based authorization, exactly as CallFS decides it (reference §5.4):
 * `mode` is informational; everyone may read everything and create inside any directory;
 * only the owner may overwrite, delete or rename.
 */
import type { Entry } from './entry.js';
import { ROOT_OWNER } from './entry.js';

export type Access = 'read' | 'write' | 'delete';

/** Identity with every right (the root owner and the internal peer identity). */
export const INTERNAL_PROXY_USER = 'internal-proxy';

export function isSuperUser(userId: string): boolean {
  return userId === ROOT_OWNER || userId === INTERNAL_PROXY_USER;
}

export type Decision = 'allow' | 'deny' | 'not-found';

/**
 * Decides `access` for `userId` on `target` (null = missing). For a missing target, `write`
 * falls back to the immediate parent (`parent`, null = missing too).
 */
export function authorize(userId: string, access: Access, target: Entry | null, parent: Entry | null): Decision {
  if (target === null) {
    if (access !== 'write') return 'not-found';
    if (isSuperUser(userId) || parent === null) return 'allow';
    return allows(userId, 'write', parent) ? 'allow' : 'deny';
  }
  if (isSuperUser(userId)) return 'allow';
  return allows(userId, access, target) ? 'allow' : 'deny';
}

function allows(userId: string, access: Access, entry: Entry): boolean {
  if (entry.owner === userId || access === 'read') return true;
  // Someone else's directory: children may be created, the directory itself not removed.
  return entry.type === 'directory' && access === 'write';
}
