/**
 * @module The machine's PostgreSQL, as every local setup runs it: the newest Debian server
 * binaries (/usr/lib/postgresql/N/bin), the `postgres` OS user they run as when we are root
 * (Postgres refuses root), and the one way a new cluster is initialised. The tests' and the
 * bench's loopback servers (postgres.ts) and the rehearsal's regional servers share these, so
 * they find and initialise the same Postgres.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Newest /usr/lib/postgresql/N/bin with initdb and pg_basebackup, or null. */
export function postgresBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')) && existsSync(join(base, v, 'bin', 'pg_basebackup')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? null : join(base, versions[0], 'bin');
}

/** `postgresBinDir`, or an error naming the package to install. */
export function requirePostgresBinDir(): string {
  const dir = postgresBinDir();
  if (dir === null) throw new Error('PostgreSQL server binaries not found: apt-get install postgresql-15');
  return dir;
}

export const RUNNING_AS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** uid and gid of the postgres OS user (created by the Debian package). */
export function postgresOsUser(): { uid: number; gid: number } {
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (entry === undefined) throw new Error('the OS user postgres does not exist (apt-get install postgresql-15 creates it)');
  const fields = entry.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** `initdb` arguments for a new cluster in `dataDir`: superuser `postgres`, trust, UTF-8, no fsync of the new files. */
export function initdbArgs(dataDir: string): string[] {
  return ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'];
}
