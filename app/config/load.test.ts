/**
 * loadConfig as an operator meets it: unknown keys with a suggestion (file and environment),
 * CallFS keys we ignore named in one warning, every problem reported at once, and environment
 * overrides layered on the embedded default.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigWithWarnings, type LoadInput } from './load.js';

const KEY = 'a-long-random-key-for-tests-0001';
const VALID = [
  'server:',
  '  listen_addr: "127.0.0.1:9000"',
  '  protocol: http',
  'auth:',
  `  api_keys: ["${KEY}"]`,
  '  internal_proxy_secret: internal-secret-for-tests',
  '  single_use_link_secret: link-secret-for-tests',
  'metadata_store:',
  '  dsn: postgres://callfs:pw@db.internal:5432/callfs',
  'dlm:',
  '  redis_addr: redis.internal:6379',
].join('\n');

function input(files: Record<string, string>, env: Record<string, string> = {}, argv: string[] = []): LoadInput {
  return { argv, env, cwd: '/srv', readFile: (path) => files[path] ?? null };
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n');
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('unknown keys', () => {
  it('refuses a typo in the file and suggests the key', () => {
    const yaml = VALID.replace('listen_addr:', 'listen_adr:');
    expect(problemsOf(() => loadConfigWithWarnings(input({ '/srv/config.yaml': yaml })))).toEqual(['config: server.listen_adr: unknown key; did you mean server.listen_addr?']);
  });

  it('refuses a misspelt section (dml for dlm)', () => {
    const yaml = VALID.replace('dlm:', 'dml:');
    expect(problemsOf(() => loadConfigWithWarnings(input({ '/srv/config.yaml': yaml })))).toEqual(['config: dml: unknown key; did you mean dlm?']);
  });

  it('refuses a typo in a CALLFS_ variable and suggests the variable', () => {
    const problems = problemsOf(() => loadConfigWithWarnings(input({ '/srv/config.yaml': VALID }, { CALLFS_SERVER__LISTEN_ADR: ':9999' })));
    expect(problems).toEqual(['config: CALLFS_SERVER__LISTEN_ADR: unknown setting server.listen_adr; did you mean CALLFS_SERVER__LISTEN_ADDR?']);
  });

  it('accepts any name inside maps of names (users, peers, region buckets)', () => {
    const env = {
      CALLFS_AUTH__API_KEY_USERS__ALICE: 'another-long-random-key-0002',
      CALLFS_INSTANCE_DISCOVERY__PEER_ENDPOINTS__NODE2: 'http://10.0.0.2:8443',
      CALLFS_BACKEND__S3_REGION_BUCKETS__US__BUCKET: 'files-us',
    };
    const { config } = loadConfigWithWarnings(input({ '/srv/config.yaml': VALID }, env));
    expect(config.auth.users.map((u) => u.id)).toEqual(['api-user-0', 'alice']);
    expect(config.instanceDiscovery.peerEndpoints).toEqual({ node2: 'http://10.0.0.2:8443' });
  });

  it('refuses an unknown key inside a map entry that has a fixed shape', () => {
    const problems = problemsOf(() => loadConfigWithWarnings(input({ '/srv/config.yaml': VALID }, { CALLFS_BACKEND__S3_REGION_BUCKETS__US__BUCKIT: 'x' })));
    expect(problems[0]).toBe('config: CALLFS_BACKEND__S3_REGION_BUCKETS__US__BUCKIT: unknown setting backend.s3_region_buckets.us.buckit; did you mean CALLFS_BACKEND__S3_REGION_BUCKETS__US__BUCKET?');
  });

  it('accepts the CallFS keys it does not use and names them in one warning', () => {
    const yaml = `${VALID.replace('  protocol: http', '  protocol: http\n  enable_quic: false')}\nraft:\n  enabled: false\nerasure:\n  enabled: false\n`;
    const { warnings } = loadConfigWithWarnings(input({ '/srv/config.yaml': yaml }));
    expect(warnings).toEqual(['config: ignoring CallFS settings this node does not use: server.enable_quic, raft.*, erasure.*']);
  });
});

describe('every problem at once', () => {
  it('reports three problems as three lines', () => {
    const yaml = VALID.replace('listen_addr: "127.0.0.1:9000"', 'listen_addr: "nowhere"').replace(`["${KEY}"]`, '["short"]').replace('  dsn: postgres://callfs:pw@db.internal:5432/callfs', '  dsn: mysql://db');
    const problems = problemsOf(() => loadConfigWithWarnings(input({ '/srv/config.yaml': yaml })));
    expect(problems).toEqual([
      'config: server.listen_addr: "nowhere" is not host:port (e.g. :8443 or 127.0.0.1:8443)',
      'config: auth.api_keys[0]: must be at least 16 characters',
      'config: metadata_store.dsn: must be a postgres:// URL',
    ]);
  });

  it('reports malformed values and unknown keys together', () => {
    const yaml = VALID.replace('  protocol: http', '  protocol: http\n  lock_wait_timeout: soon').replace('dlm:', 'dlm_:');
    const problems = problemsOf(() => loadConfigWithWarnings(input({ '/srv/config.yaml': yaml })));
    expect(problems).toHaveLength(2);
    expect(problems).toContain('config: dlm_: unknown key; did you mean dlm?');
    expect(problems.some((p) => p.startsWith('config: server.lock_wait_timeout: "soon" is not a duration'))).toBe(true);
  });
});

describe('environment over the embedded default', () => {
  it('keeps the embedded default and changes only what the variable sets', () => {
    const { config } = loadConfigWithWarnings(input({}, { CALLFS_AUTH__API_KEYS: KEY }));
    expect(config.isEmbeddedDefault).toBe(true);
    expect(config.metadataStore).toEqual({ type: 'embedded', dataDir: '/srv/data/postgres', port: 54329 });
    expect(config.dlm).toEqual({ type: 'local' });
    expect(config.server).toMatchObject({ protocol: 'http', listenHost: '127.0.0.1', listenPort: 8443, externalUrl: 'http://127.0.0.1:8443' });
    expect(config.backend.localfsRootPath).toBe('/srv/data/files');
    expect(config.auth.users).toEqual([{ id: 'api-user-0', key: KEY }]);
  });

  it('fills the secrets from the generated credentials, keeping the key from the environment', () => {
    const creds = JSON.stringify({ api_key: 'generated-key-0123456789', internal_proxy_secret: 'gen-internal', single_use_link_secret: 'gen-link' });
    const { config } = loadConfigWithWarnings(input({ '/srv/data/credentials.json': creds }, { CALLFS_AUTH__API_KEYS: KEY, CALLFS_SERVER__LISTEN_ADDR: '127.0.0.1:9000' }));
    expect(config.auth.users).toEqual([{ id: 'api-user-0', key: KEY }]);
    expect(config.auth.internalProxySecret).toBe('gen-internal');
    expect(config.server.externalUrl).toBe('http://127.0.0.1:9000');
  });

  it('still checks what the environment sets', () => {
    expect(problemsOf(() => loadConfigWithWarnings(input({}, { CALLFS_AUTH__API_KEYS: 'short' })))).toEqual(['config: auth.api_keys[0] (from CALLFS_AUTH__API_KEYS): must be at least 16 characters']);
  });

  it('leaves the embedded default when the environment names a metadata store', () => {
    const problems = problemsOf(() => loadConfigWithWarnings(input({}, { CALLFS_METADATA_STORE__DSN: 'postgres://db/callfs', CALLFS_SERVER__PROTOCOL: 'http' })));
    expect(problems).toContain('config: auth.api_keys: at least one API key is required (auth.api_keys or auth.api_key_users)');
  });
});

describe('server.tls_self_signed', () => {
  const files = (yaml: string): LoadInput => input({ '/srv/config.yaml': yaml });
  const noProtocol = VALID.replace('  protocol: http\n', '');

  it('serves https without certificate files (protocol unset, https or auto)', () => {
    for (const yaml of [`${noProtocol.replace('server:', 'server:\n  tls_self_signed: true')}`, VALID.replace('protocol: http', 'protocol: https\n  tls_self_signed: true'), VALID.replace('protocol: http', 'protocol: auto\n  tls_self_signed: true')]) {
      expect(loadConfigWithWarnings(files(yaml)).config.server).toMatchObject({ protocol: 'https', tlsSelfSigned: true, certFile: null, keyFile: null });
    }
  });

  it('is set from CALLFS_SERVER__TLS_SELF_SIGNED, and off by default', () => {
    expect(loadConfigWithWarnings(input({ '/srv/config.yaml': noProtocol }, { CALLFS_SERVER__TLS_SELF_SIGNED: 'true' })).config.server.tlsSelfSigned).toBe(true);
    expect(loadConfigWithWarnings(files(VALID)).config.server.tlsSelfSigned).toBe(false);
  });

  it('refuses protocol http, certificate files beside it, and an http internal_url', () => {
    expect(problemsOf(() => loadConfigWithWarnings(files(VALID.replace('protocol: http', 'protocol: http\n  tls_self_signed: true'))))).toEqual([
      'config: server.tls_self_signed: needs server.protocol https (or auto); with protocol http there is nothing to encrypt',
    ]);
    expect(problemsOf(() => loadConfigWithWarnings(files(VALID.replace('protocol: http', 'protocol: https\n  tls_self_signed: true\n  cert_file: c.pem\n  key_file: k.pem'))))).toEqual([
      'config: server.tls_self_signed: use either server.cert_file/key_file or tls_self_signed, not both',
    ]);
    const env = { CALLFS_SERVER__TLS_SELF_SIGNED: 'true', CALLFS_INSTANCE_DISCOVERY__INTERNAL_URL: 'http://10.0.0.5:8443' };
    expect(problemsOf(() => loadConfigWithWarnings(input({ '/srv/config.yaml': noProtocol }, env)))).toEqual([
      'config: instance_discovery.internal_url (from CALLFS_INSTANCE_DISCOVERY__INTERNAL_URL): must be an https:// URL with server.tls_self_signed (peers reach this node over TLS)',
    ]);
  });

  it('still asks for certificate files when https is chosen without it', () => {
    expect(problemsOf(() => loadConfigWithWarnings(files(noProtocol)))).toEqual([
      'config: server.protocol: https needs server.cert_file and server.key_file, or server.tls_self_signed: true (or set protocol: http)',
    ]);
  });
});
