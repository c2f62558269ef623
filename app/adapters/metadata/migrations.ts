/**
 * @module Versioned SQL migrations of the metadata schema. Run at start by every node under a
 * Postgres advisory lock, so several nodes can start at once; each version runs once, in its
 * own transaction. The layout keeps CallFS's tables and columns (reference §7) and adds
 * `parent_path` (indexed children lookups), `version` (content version for ETags) and `fence`
 * (the fencing token of the last writer). Version 5 adds the fencing epoch of region failovers
 * (`callfs_epoch`, `callfs_assert_epoch`), whose SQL lives with the rest of the fencing protocol
 * in app/fencing: the failover drills update the row directly, from the same definitions.
 * Version 7 keeps the nonces of signed peer calls, 8 stores link tokens as hashes, 9 adds the
 * cluster's identity (`callfs_cluster`, also written as a marker into every blob store) and
 * `inodes.blob_key` (the store key of an entry's current bytes; NULL: the legacy layout, bytes at
 * the path's key), 10 the versioned write path: the one-call commit `callfs_commit_writes` (see
 * `callfs_commit_write` below for what one write checks and records), 11 the certificates a member
 * with `server.tls_self_signed` announces (`cluster_members.tls_certificates`, a PEM bundle its
 * peers trust for it and nothing else).
 */
import { ASSERT_EPOCH_FUNCTION, EPOCH_PRIMARY_HOST_DDL, EPOCH_TABLE_DDL } from '../../fencing/index.js';

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
  {
    version: 7,
    name: 'nonces of signed peer calls',
    sql: `
CREATE TABLE IF NOT EXISTS callfs_peer_nonces (
  nonce text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS callfs_peer_nonces_expiry_idx ON callfs_peer_nonces (expires_at);
COMMENT ON TABLE callfs_peer_nonces IS 'nonces of signed node-to-node calls, kept for the signature time window: a captured call is refused by every node, also after a restart';
`,
  },
  {
    version: 8,
    name: 'single-use link tokens stored as their SHA-256',
    sql: `
-- Tokens issued before this version are stored as they were handed out (they contain a '.');
-- from now on the column holds the hex SHA-256 of the token, so a dump holds no live link.
UPDATE single_use_links SET token = encode(sha256(convert_to(token, 'UTF8')), 'hex') WHERE position('.' in token) > 0;
COMMENT ON COLUMN single_use_links.token IS 'hex SHA-256 of the token in the link URL (never the token itself)';
`,
  },
  {
    version: 9,
    name: 'cluster identity and blob keys',
    // Idempotent: another branch may add the same table, column or index.
    sql: `
CREATE TABLE IF NOT EXISTS callfs_cluster (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  cluster_id text NOT NULL,
  predates_markers boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN callfs_cluster.cluster_id IS 'written as .callfs/cluster.json into every blob store the cluster uses';
COMMENT ON COLUMN callfs_cluster.predates_markers IS 'true: created in a database that already held entries, so its stores may lack a marker';
INSERT INTO callfs_cluster (id, cluster_id, predates_markers)
SELECT 1, gen_random_uuid()::text, EXISTS (SELECT 1 FROM inodes WHERE path <> '/')
ON CONFLICT (id) DO NOTHING;
ALTER TABLE inodes ADD COLUMN IF NOT EXISTS blob_key text;
CREATE INDEX IF NOT EXISTS inodes_blob_key_idx ON inodes (blob_key) WHERE blob_key IS NOT NULL;
`,
  },
  {
    version: 10,
    name: 'versioned blob keys and the one-call write commit',
    sql: `
ALTER TABLE inodes ADD COLUMN IF NOT EXISTS blob_key text;
COMMENT ON COLUMN inodes.blob_key IS 'key of the current version''s bytes in the entry''s store (.callfs/blobs/...); NULL = legacy layout, bytes at the path';

-- One entry as the node reads it (times as whole epoch milliseconds, like the driver's Dates).
CREATE OR REPLACE FUNCTION callfs_entry_json(r inodes) RETURNS jsonb AS $$
  SELECT jsonb_build_object(
    'path', r.path, 'name', r.name, 'type', r.type, 'size', r.size, 'mode', r.mode, 'owner', r.owner,
    'mtime', floor(extract(epoch FROM r.mtime) * 1000)::bigint, 'ctime', floor(extract(epoch FROM r.ctime) * 1000)::bigint,
    'backend_type', r.backend_type, 'callfs_instance_id', r.callfs_instance_id,
    'origin_instance_id', r.origin_instance_id, 'version', r.version, 'blob_key', r.blob_key)
$$ LANGUAGE sql STABLE;

-- Commits one write whose bytes are already stored under req->>'blob_key'. Checks the fencing
-- epoch, then against the path's current row (locked FOR UPDATE, so writers of one path take
-- turns in commit order): 'create' refuses an existing entry; 'replace' creates or replaces a
-- file the writer owns; req->'expect' (when present) is the version the writer's If-* checks
-- passed against ({"version": n, "ctime": ms}, or null for "absent"). Missing parents are
-- created as directories. Every refusal is raised (so the caller's subtransaction takes back any
-- directory it inserted) with SQLSTATE CF101 exists, CF102 changed, CF103 not the owner,
-- CF104 a directory, CF105 a parent is a file; DETAIL carries the row (or path) it refers to.
CREATE OR REPLACE FUNCTION callfs_commit_write(req jsonb, writer_epoch bigint) RETURNS jsonb AS $$
DECLARE
  p text := req->>'path';
  cur inodes%ROWTYPE;
  res inodes%ROWTYPE;
  parent jsonb;
  anc text;
  anc_type text;
  made text[] := '{}';
  attempt int := 0;
  dir_attempt int;
BEGIN
  PERFORM ${ASSERT_EPOCH_FUNCTION}(writer_epoch);
  LOOP
    attempt := attempt + 1;
    SELECT * INTO cur FROM inodes WHERE path = p FOR UPDATE;
    IF FOUND THEN
      IF req->>'mode' = 'create' THEN
        RAISE EXCEPTION 'callfs: % exists', p USING ERRCODE = 'CF101', DETAIL = callfs_entry_json(cur)::text;
      END IF;
      IF cur.type = 'directory' THEN
        RAISE EXCEPTION 'callfs: % is a directory', p USING ERRCODE = 'CF104', DETAIL = callfs_entry_json(cur)::text;
      END IF;
      IF req ? 'expect' AND (jsonb_typeof(req->'expect') = 'null'
          OR (req->'expect'->>'version')::bigint <> cur.version
          OR (req->'expect'->>'ctime')::bigint <> floor(extract(epoch FROM cur.ctime) * 1000)::bigint) THEN
        RAISE EXCEPTION 'callfs: % changed', p USING ERRCODE = 'CF102', DETAIL = callfs_entry_json(cur)::text;
      END IF;
      IF NOT (req->>'super_user')::boolean AND cur.owner <> req->>'owner' THEN
        RAISE EXCEPTION 'callfs: % belongs to another user', p USING ERRCODE = 'CF103', DETAIL = callfs_entry_json(cur)::text;
      END IF;
      UPDATE inodes SET size = (req->>'size')::bigint, mtime = now(), version = version + 1,
             blob_key = req->>'blob_key', backend_type = req->>'backend_type',
             callfs_instance_id = req->>'instance_id', origin_instance_id = req->>'origin_instance_id'
       WHERE id = cur.id RETURNING * INTO res;
      PERFORM pg_notify('callfs_changes', json_build_object('p', p, 's', false)::text);
      RETURN jsonb_build_object('created', false, 'entry', callfs_entry_json(res), 'made', to_jsonb(made),
        'previous', jsonb_build_object('path', cur.path, 'version', cur.version, 'blob_key', cur.blob_key,
                                       'backend_type', cur.backend_type, 'instance_id', cur.callfs_instance_id));
    END IF;
    IF req ? 'expect' AND jsonb_typeof(req->'expect') <> 'null' THEN
      RAISE EXCEPTION 'callfs: % changed', p USING ERRCODE = 'CF102', DETAIL = 'null';
    END IF;
    -- Parents first, root-most first; each is held FOR SHARE so a move or delete waits for this commit.
    FOR parent IN SELECT value FROM jsonb_array_elements(req->'parents') LOOP
      anc := parent->>'path';
      dir_attempt := 0;
      LOOP
        SELECT type INTO anc_type FROM inodes WHERE path = anc FOR SHARE;
        EXIT WHEN FOUND;
        INSERT INTO inodes (name, path, parent_path, type, size, mode, owner, backend_type, callfs_instance_id, origin_instance_id)
        VALUES (parent->>'name', anc, parent->>'parent', 'directory', 0, '0755', req->>'owner', req->>'dir_backend_type',
                req->>'dir_instance_id', req->>'origin_instance_id')
        ON CONFLICT (path) DO NOTHING;
        IF FOUND THEN
          made := made || anc;
          PERFORM pg_notify('callfs_changes', json_build_object('p', anc, 's', false)::text);
          anc_type := 'directory';
          EXIT;
        END IF;
        dir_attempt := dir_attempt + 1;
        IF dir_attempt > 10 THEN
          RAISE EXCEPTION 'callfs: parent % keeps changing', anc USING ERRCODE = '40001';
        END IF;
      END LOOP;
      IF anc_type <> 'directory' THEN
        RAISE EXCEPTION 'callfs: % is a file, not a directory', anc USING ERRCODE = 'CF105', DETAIL = anc;
      END IF;
    END LOOP;
    INSERT INTO inodes (name, path, parent_path, type, size, mode, owner, backend_type, callfs_instance_id, origin_instance_id, blob_key)
    VALUES (req->>'name', p, req->>'parent', 'file', (req->>'size')::bigint, '0644', req->>'owner', req->>'backend_type',
            req->>'instance_id', req->>'origin_instance_id', req->>'blob_key')
    ON CONFLICT (path) DO NOTHING RETURNING * INTO res;
    IF FOUND THEN
      PERFORM pg_notify('callfs_changes', json_build_object('p', p, 's', false)::text);
      RETURN jsonb_build_object('created', true, 'entry', callfs_entry_json(res), 'made', to_jsonb(made), 'previous', NULL);
    END IF;
    -- Another writer created the path since we looked: take our turn behind it.
    IF attempt > 10 THEN
      RAISE EXCEPTION 'callfs: % keeps changing', p USING ERRCODE = '40001';
    END IF;
  END LOOP;
END $$ LANGUAGE plpgsql VOLATILE;

-- Commits the writes that arrived together (group commit): one transaction, one WAL flush. Each
-- write runs in its own subtransaction, so one refusal takes back only that write; the answer
-- lists, in order, either the commit's result or {"error": SQLSTATE, "message", "detail"}.
CREATE OR REPLACE FUNCTION callfs_commit_writes(reqs jsonb, writer_epoch bigint) RETURNS jsonb AS $$
DECLARE
  req jsonb;
  out jsonb := '[]'::jsonb;
  one jsonb;
  state text;
  msg text;
  det text;
BEGIN
  FOR req IN SELECT value FROM jsonb_array_elements(reqs) LOOP
    BEGIN
      one := callfs_commit_write(req, writer_epoch);
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
      one := jsonb_build_object('error', state, 'message', msg, 'detail', det);
    END;
    out := out || jsonb_build_array(one);
  END LOOP;
  RETURN out;
END $$ LANGUAGE plpgsql VOLATILE;
`,
  },
  {
    version: 11,
    name: 'certificates announced by members that serve self-signed https',
    sql: 'ALTER TABLE cluster_members ADD COLUMN IF NOT EXISTS tls_certificates text;',
  },
];
