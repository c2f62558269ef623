/**
 * @module The row mapping of the `inodes` table, shared by every repository that reads entries:
 * the selected columns, the row as `pg` returns it, the same row as `callfs_entry_json` renders
 * it inside the commit function's answer, and the path arithmetic the statements need (name and
 * parent of a canonical path).
 */
import type { Entry } from '../../../domain/entry.js';

export const COLUMNS = 'path, name, type, size, mode, owner, mtime, ctime, backend_type, callfs_instance_id, origin_instance_id, version, blob_key';

export interface EntryRow {
  path: string;
  name: string;
  type: 'file' | 'directory';
  size: string;
  mode: string;
  owner: string;
  mtime: Date;
  ctime: Date;
  backend_type: 'localfs' | 's3';
  callfs_instance_id: string | null;
  origin_instance_id: string | null;
  version: string;
  blob_key: string | null;
}

/** An entry as `callfs_entry_json` renders it (numbers as JSON numbers, times in epoch ms). */
export type EntryJson = Omit<EntryRow, 'size' | 'version' | 'mtime' | 'ctime'> & { size: number; version: number; mtime: number; ctime: number };

export function toEntry(row: EntryRow): Entry {
  return {
    path: row.path,
    name: row.name,
    type: row.type,
    size: Number(row.size),
    mode: row.mode,
    owner: row.owner,
    mtime: row.mtime,
    ctime: row.ctime,
    backendType: row.backend_type,
    instanceId: row.callfs_instance_id,
    originInstanceId: row.origin_instance_id,
    version: Number(row.version),
    blobKey: row.blob_key,
  };
}

export function entryFromJson(row: EntryJson): Entry {
  return toEntry({ ...row, size: String(row.size), version: String(row.version), mtime: new Date(Number(row.mtime)), ctime: new Date(Number(row.ctime)) });
}

export function parentOf(path: string): string | null {
  if (path === '/') return null;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
