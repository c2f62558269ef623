/**
 * @module The generated credentials of a local cluster (`npm run cluster`, the rehearsal): an API
 * key and the two shared secrets, created once in `<dir>/credentials.json` (mode 0600) and
 * reused on the next start.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Credentials {
  readonly api_key: string;
  readonly internal_proxy_secret: string;
  readonly single_use_link_secret: string;
}

export function credentialsOf(dir: string): Credentials {
  const file = join(dir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Credentials;
  const created: Credentials = {
    api_key: randomBytes(24).toString('base64url'),
    internal_proxy_secret: randomBytes(32).toString('base64url'),
    single_use_link_secret: randomBytes(32).toString('base64url'),
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify(created, null, 2) + '\n', { mode: 0o600 });
  return created;
}
