import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

const yaml = (adminLine: string): string =>
  [
    'auth:',
    '  api_keys: ["first-key-0123456789"]',
    '  api_key_users: { alice: "alice-key-0123456789" }',
    adminLine,
    '  internal_proxy_secret: "internal-secret-0123456789"',
    '  single_use_link_secret: "link-secret-0123456789"',
    'metadata_store:',
    '  dsn: "postgres://u:p@localhost/db"',
    'server:',
    '  protocol: http',
  ].join('\n');

function load(content: string, env: Record<string, string> = {}) {
  return loadConfig({ argv: ['--config', 'node.yaml'], env, cwd: '/tmp', readFile: (path) => (path.endsWith('node.yaml') ? content : null) });
}

describe('auth.admin_api_keys', () => {
  it('names the users whose keys it lists, from the file or the environment', () => {
    expect(load(yaml('  admin_api_keys: ["alice-key-0123456789"]')).auth.adminUserIds).toEqual(['alice']);
    expect(load(yaml(''), { CALLFS_AUTH__ADMIN_API_KEYS: 'first-key-0123456789,alice-key-0123456789' }).auth.adminUserIds).toEqual(['api-user-0', 'alice']);
    expect(load(yaml('')).auth.adminUserIds).toEqual([]);
  });

  it('refuses a key that is not a configured API key, naming the entry', () => {
    expect(() => load(yaml('  admin_api_keys: ["not-a-configured-key"]'))).toThrow(ConfigError);
    expect(() => load(yaml('  admin_api_keys: ["not-a-configured-key"]'))).toThrow(/^config: auth\.admin_api_keys\[0\]: must be one of the keys/);
  });
});
