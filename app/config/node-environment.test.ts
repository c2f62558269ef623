import { describe, expect, it } from 'vitest';
import { envOverrides } from './env.js';
import { loadConfig } from './load.js';
import { nodeEnvironment, nodeVariables } from './node-environment.js';

describe('nodeEnvironment', () => {
  it('names each key the way the loader reads it back, in the order written, skipping undefined keys', () => {
    const environment = nodeEnvironment({
      server: { listen_addr: ':8080', external_url: undefined },
      dlm: { type: 'redis', redis_tls: 'true' },
      backend: { s3_region_buckets: { us: { bucket: 'files-us', region: 'us-east-1' } } },
    });
    expect(Object.keys(environment)).toEqual([
      'CALLFS_SERVER__LISTEN_ADDR',
      'CALLFS_DLM__TYPE',
      'CALLFS_DLM__REDIS_TLS',
      'CALLFS_BACKEND__S3_REGION_BUCKETS__US__BUCKET',
      'CALLFS_BACKEND__S3_REGION_BUCKETS__US__REGION',
    ]);
    expect(envOverrides(environment).tree).toEqual({
      server: { listen_addr: ':8080' },
      dlm: { type: 'redis', redis_tls: 'true' },
      backend: { s3_region_buckets: { us: { bucket: 'files-us', region: 'us-east-1' } } },
    });
  });

  it('produces an environment the node loads', () => {
    const env = nodeEnvironment({
      server: { listen_addr: ':8080', protocol: 'http' },
      auth: { api_keys: 'a-key-of-sixteen-chars', internal_proxy_secret: 'internal-secret-1', single_use_link_secret: 'link-secret-1' },
      metadata_store: { type: 'postgres', dsn: 'postgres://callfs@db:5432/callfs' },
      backend: { default_backend: 's3', s3_bucket_name: 'files-eu', s3_region: 'eu-west-1' },
    });
    const config = loadConfig({ argv: [], env, cwd: '/', readFile: () => null });
    expect(config.server.listenPort).toBe(8080);
    expect(config.backend.s3?.bucket).toBe('files-eu');
  });

  it('keeps object leaves whole when told what a leaf is', () => {
    const secret = { arn: 'arn:aws:secretsmanager:eu-west-1:1:secret:api-keys' };
    const variables = nodeVariables({ auth: { api_keys: secret } }, (value): value is typeof secret => typeof value === 'object' && value !== null && 'arn' in value);
    expect(variables).toEqual({ CALLFS_AUTH__API_KEYS: secret });
  });
});
