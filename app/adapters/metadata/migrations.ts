/**
 * @module Versioned SQL migrations of the metadata schema. Run at start by every node under a
 * Postgres advisory lock, so several nodes can start at once; each version runs once, in its
 * own transaction. The layout keeps CallFS's tables and columns (reference §7) and adds
 * `parent_path` (indexed children lookups), `version` (content version for ETags) and `fence`
 * (the fencing token of the last writer). Version 5 adds the fencing epoch of region failovers
 * (`callfs_epoch`, `callfs_assert_epoch`), whose SQL lives with the rest of the fencing protocol
 * in app/fencing: the failover drills update the row directly, from the same definitions.
 */
import { EPOCH_PRIMARY_HOST_DDL, EPOCH_TABLE_DDL } from '../../fencing/index.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'inodes and single-use links',
    sql: `
CREATE TABLE inodes (
  id BIGSERIAL PRIMARY KEY,
  parent_id BIGINT REFERENCES inodes(id) ON DELETE CASCADE,
  name VARCHAR(255) NOT NULL,
  path TEXT NOT NULL UNIQUE,
  parent_path TEXT,
  type VARCHAR(20) NOT NULL CHECK (type IN ('file', 'directory')),
  size BIGINT NOT NULL DEFAULT 0,
  mode VARCHAR(10) NOT NULL DEFAULT '0644',
  owner TEXT NOT NULL DEFAULT '',
  atime TIMESTAMPTZ NOT NULL DEFAULT now(),
  mtime TIMESTAMPTZ NOT NULL DEFAULT now(),
  ctime TIMESTAMPTZ NOT NULL DEFAULT now(),
  backend_type VARCHAR(50) NOT NULL CHECK (backend_type IN ('localfs', 's3', 'erasure')),
  callfs_instance_id VARCHAR(100),
  symlink_target TEXT,
  erasure_coded BOOLEAN NOT NULL DEFAULT false,
  version BIGINT NOT NULL DEFAULT 1,
  fence BIGINT NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX inodes_children_idx ON inodes (parent_path, type DESC, name COLLATE "C");
CREATE INDEX inodes_instance_idx ON inodes (callfs_instance_id);

CREATE FUNCTION callfs_touch_updated_at() RETURNS trigger AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER inodes_updated_at BEFORE UPDATE ON inodes FOR EACH ROW EXECUTE FUNCTION callfs_touch_updated_at();

INSERT INTO inodes (name, path, parent_path, type, size, mode, owner, backend_type, callfs_instance_id)
VALUES ('', '/', NULL, 'directory', 0, '0755', 'root', 'localfs', NULL)
ON CONFLICT (path) DO NOTHING;

CREATE TABLE single_use_links (
  id BIGSERIAL PRIMARY KEY,
  token VARCHAR(255) NOT NULL UNIQUE,
  file_path TEXT NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'used', 'expired')),
  expires_at TIMESTAMPTZ NOT NULL,
  used_at TIMESTAMPTZ,
  used_by_ip INET,
  hmac_signature VARCHAR(512) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX single_use_links_expiry_idx ON single_use_links (status, expires_at);
CREATE TRIGGER single_use_links_updated_at BEFORE UPDATE ON single_use_links FOR EACH ROW EXECUTE FUNCTION callfs_touch_updated_at();
`,
  },
  {
    version: 2,
    name: 'origin instance of every entry',
    sql: 'ALTER TABLE inodes ADD COLUMN origin_instance_id VARCHAR(100); UPDATE inodes SET origin_instance_id = callfs_instance_id;',
  },
  {
    version: 3,
    name: 'cluster members announced by heartbeat',
    sql: `
CREATE TABLE cluster_members (
  instance_id VARCHAR(100) PRIMARY KEY,
  internal_url TEXT NOT NULL,
  region VARCHAR(64) NOT NULL,
  version VARCHAR(64) NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 4,
    name: 'replicas of local-disk files',
    sql: `
CREATE TABLE replicas (
  path TEXT NOT NULL,
  instance_id VARCHAR(100) NOT NULL,
  version BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (path, instance_id)
);
CREATE INDEX replicas_instance_idx ON replicas (instance_id);

-- A copy lives at its entry's key: when the entry is deleted or moved away, the row goes too.
CREATE FUNCTION callfs_drop_replicas() RETURNS trigger AS $$
BEGIN DELETE FROM replicas WHERE path = OLD.path; RETURN NULL; END $$ LANGUAGE plpgsql;
CREATE TRIGGER inodes_drop_replicas_on_delete AFTER DELETE ON inodes FOR EACH ROW EXECUTE FUNCTION callfs_drop_replicas();
CREATE TRIGGER inodes_drop_replicas_on_move AFTER UPDATE OF path ON inodes FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path) EXECUTE FUNCTION callfs_drop_replicas();
`,
  },
  {
    version: 5,
    name: 'fencing epoch of region failovers',
    sql: EPOCH_TABLE_DDL,
  },
  {
    version: 6,
    name: 'the primary of the epoch, by address',
    sql: EPOCH_PRIMARY_HOST_DDL,
  },
];
