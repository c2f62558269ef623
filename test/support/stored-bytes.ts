/**
 * Where a file's bytes are on a local-disk root: its blob key (`inodes.blob_key`, the versioned
 * layout) or, for legacy entries and missing rows, its path. Tests that check bytes on disk go
 * through it, so they follow the storage layout instead of assuming one.
 */
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';

/** `db`: an open client, or a DSN to open one for this lookup. */
export async function storedFile(db: Pick<pg.ClientBase, 'query'> | string, root: string, path: string): Promise<string> {
  const canonical = path.startsWith('/') ? path : `/${path}`;
  const client = typeof db === 'string' ? new pg.Client({ connectionString: db }) : null;
  if (client !== null) await client.connect();
  try {
    const result = await (client ?? (db as Pick<pg.ClientBase, 'query'>)).query<{ blob_key: string | null }>('SELECT blob_key FROM inodes WHERE path = $1', [canonical]);
    return join(root, result.rows[0]?.blob_key ?? canonical.slice(1));
  } finally {
    await client?.end();
  }
}

/** Every versioned blob key stored under a local-disk root. */
export function storedBlobKeys(root: string): string[] {
  const base = join(root, '.callfs', 'blobs');
  if (!existsSync(base)) return [];
  const keys: string[] = [];
  for (const fan of readdirSync(base)) for (const name of readdirSync(join(base, fan))) keys.push(`.callfs/blobs/${fan}/${name}`);
  return keys.sort();
}

/** Blob keys on disk that no entry names (what a failed or replaced write must not leave behind). */
export async function unreferencedBlobKeys(db: Pick<pg.ClientBase, 'query'>, root: string): Promise<string[]> {
  const keys = storedBlobKeys(root);
  if (keys.length === 0) return [];
  const named = await db.query<{ blob_key: string }>('SELECT blob_key FROM inodes WHERE blob_key = ANY($1::text[])', [keys]);
  const referenced = new Set(named.rows.map((r) => r.blob_key));
  return keys.filter((k) => !referenced.has(k));
}

/**
 * Turns a local-disk file written by this node into the layout an earlier release left: its
 * bytes moved from the blob key to the path's key, and `blob_key` cleared. For tests of what
 * still holds for legacy entries (reads, byte moves, symbolic-link checks on their path).
 */
export async function toLegacyLayout(db: Pick<pg.ClientBase, 'query'>, root: string, path: string): Promise<void> {
  const canonical = path.startsWith('/') ? path : `/${path}`;
  const result = await db.query<{ blob_key: string | null }>('SELECT blob_key FROM inodes WHERE path = $1', [canonical]);
  const key = result.rows[0]?.blob_key;
  if (key === null || key === undefined) throw new Error(`${canonical} has no blob key to move`);
  const target = join(root, canonical.slice(1));
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  renameSync(join(root, key), target);
  await db.query('UPDATE inodes SET blob_key = NULL WHERE path = $1', [canonical]);
}
