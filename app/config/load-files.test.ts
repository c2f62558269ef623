import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseListenAddr } from './load.js';
import { parseDurationMs, parseSizeBytes } from './units.js';

const KEY = 'a-key-of-twenty-chars';
/** A valid YAML config for a postgres node on local disk, with `extra` lines appended. */
function yaml(extra = ''): string {
  return `server:
  listen_addr: ":8443"
  protocol: http
  external_url: files.example.com
auth:
  api_keys: ["${KEY}"]
  internal_proxy_secret: internal-secret-0123456789
  single_use_link_secret: link-secret-0123456789
backend:
  default_backend: localfs
  localfs_root_path: ./files
metadata_store:
  type: postgres
  dsn: postgres://u:p@db:5432/callfs
dlm:
  type: redis
  redis_addr: redis:6379
instance_discovery:
  instance_id: node-a
${extra}`;
}

function load(files: Record<string, string>, env: Record<string, string> = {}, argv: string[] = []) {
  return loadConfig({ argv, env, cwd: '/srv', readFile: (path) => files[path] ?? null });
}

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('no ConfigError');
}

describe('loadConfig', () => {
  it('without a file or CALLFS_ variables is the embedded default under ./data', () => {
    const config = load({});
    expect(config.isEmbeddedDefault).toBe(true);
    expect(config.metadataStore).toMatchObject({ type: 'embedded', dataDir: '/srv/data/postgres' });
    expect(config.dlm).toEqual({ type: 'local' });
    expect(config.backend.localfsRootPath).toBe('/srv/data/files');
    expect(config.server).toMatchObject({ listenHost: '127.0.0.1', listenPort: 8443, protocol: 'http' });
  });

  it('reads config.yaml from the working directory, resolves paths against it, and freezes the result', () => {
    const config = load({ '/srv/config.yaml': yaml() });
    expect(config.isEmbeddedDefault).toBe(false);
    expect(config.server).toMatchObject({ listenHost: '0.0.0.0', listenPort: 8443 });
    expect(config.backend.localfsRootPath).toBe('/srv/files');
    expect(config.metadataStore).toMatchObject({ type: 'postgres', dsn: 'postgres://u:p@db:5432/callfs' });
    expect(config.instanceDiscovery.instanceId).toBe('node-a');
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('takes --config FILE, and says so when the file is missing', () => {
    expect(load({ '/etc/callfs.yml': yaml() }, {}, ['--config', '/etc/callfs.yml']).instanceDiscovery.instanceId).toBe('node-a');
    expect(problem(() => load({}, {}, ['--config=/nope.yaml']))).toBe('config: /nope.yaml: file not found');
    expect(problem(() => load({ '/srv/c.toml': 'x' }, {}, ['-c', 'c.toml']))).toMatch(/unsupported extension/);
  });

  it('lets CALLFS_ variables override the file, and names the variable of a bad value', () => {
    const config = load({ '/srv/config.yaml': yaml() }, { CALLFS_SERVER__LISTEN_ADDR: '127.0.0.1:9000', CALLFS_INSTANCE_DISCOVERY__INSTANCE_ID: 'node-b' });
    expect(config.server).toMatchObject({ listenHost: '127.0.0.1', listenPort: 9000 });
    expect(config.instanceDiscovery.instanceId).toBe('node-b');
    expect(problem(() => load({ '/srv/config.yaml': yaml() }, { CALLFS_SERVER__LISTEN_ADDR: 'nowhere' }))).toBe(
      'config: server.listen_addr (from CALLFS_SERVER__LISTEN_ADDR): "nowhere" is not host:port (e.g. :8443 or 127.0.0.1:8443)',
    );
  });

  it('refuses weak or missing credentials, each problem naming its key', () => {
    const message = problem(() =>
      load({ '/srv/config.yaml': yaml().replace(`["${KEY}"]`, '["short"]').replace('internal-secret-0123456789', 'change-me-internal-secret') }),
    );
    expect(message.split('\n')).toEqual(
      expect.arrayContaining(['config: auth.api_keys[0]: must be at least 16 characters', 'config: auth.internal_proxy_secret: must be set to a secret shared by every node']),
    );
  });

  it('refuses a DSN that is not a postgres URL, and a node listing itself as a peer', () => {
    expect(problem(() => load({ '/srv/config.yaml': yaml().replace('postgres://u:p@db:5432/callfs', 'mysql://db') }))).toContain('config: metadata_store.dsn: must be a postgres:// URL');
    expect(problem(() => load({ '/srv/config.yaml': yaml('  peer_endpoints:\n    node-a: http://10.0.0.1:8443\n') }))).toContain(
      'config: instance_discovery.peer_endpoints.node-a: a node must not list itself as a peer',
    );
  });
});

describe('config values', () => {
  it('parses listen addresses', () => {
    expect(parseListenAddr(':8443')).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(parseListenAddr('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseListenAddr('host:70000')).toBeNull();
    expect(parseListenAddr('host')).toBeNull();
  });

  it('parses Go-style durations and byte sizes', () => {
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs(2)).toBe(2000);
    expect(parseDurationMs('5 minutes')).toBeNull();
    expect(parseSizeBytes('10GiB')).toBe(10 * 1024 ** 3);
    expect(parseSizeBytes('100MB')).toBe(100e6);
    expect(parseSizeBytes('12XB')).toBeNull();
    expect(parseSizeBytes(-1)).toBeNull();
  });
});
