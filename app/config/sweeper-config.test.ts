import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

const base = {
  'server.protocol': 'http',
  'auth.api_keys': 'a-key-of-sixteen-chars',
  'auth.internal_proxy_secret': 'internal-secret-for-tests',
  'auth.single_use_link_secret': 'link-secret-for-tests',
  'metadata_store.dsn': 'postgres://u:p@localhost/db',
};

function load(env: Record<string, string>) {
  const vars = Object.fromEntries(Object.entries({ ...base, ...env }).map(([key, value]) => [`CALLFS_${key.toUpperCase().replace('.', '__')}`, value]));
  return loadConfig({ argv: [], env: vars, cwd: '/tmp', readFile: () => null });
}

describe('sweeper and storage identity settings', () => {
  it('sweeps every 5 minutes with a 10 minute grace and keeps orphans 7 days by default; adopts nothing', () => {
    const config = load({});
    expect(config.sweeper).toEqual({ enabled: true, intervalMs: 300_000, graceMs: 600_000, quarantineRetentionMs: 7 * 86_400_000 });
    expect(config.backend.adoptExistingStorage).toBe(false);
  });

  it('reads the switch, durations in days, and the adoption flag', () => {
    const config = load({ 'sweeper.enabled': 'false', 'sweeper.quarantine_retention': '30d', 'sweeper.interval': '1h', 'backend.adopt_existing_storage': 'true' });
    expect(config.sweeper).toMatchObject({ enabled: false, intervalMs: 3_600_000, quarantineRetentionMs: 30 * 86_400_000 });
    expect(config.backend.adoptExistingStorage).toBe(true);
  });

  it('refuses a grace period too short to cover a write in progress, naming the key', () => {
    expect(() => load({ 'sweeper.grace_period': '5s' })).toThrow(ConfigError);
    expect(() => load({ 'sweeper.grace_period': '5s' })).toThrow(/^config: sweeper\.grace_period \(from CALLFS_SWEEPER__GRACE_PERIOD\): must be at least 1m/);
  });
});
