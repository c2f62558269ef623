/**
 * @module The rehearsal's data audit, run after a drill: every metadata entry has its bytes and
 * every blob has its entry, in every region.
 *
 * - Metadata: the file rows of `inodes` (and the `replicas` rows of local-disk copies) on the
 *   current primary, read with psql from inside its namespace (`sql()` of the rehearsal).
 * - S3 bytes: each region's bucket as s3rver keeps it on disk,
 *   `<dir>/run/s3/<region>/<bucket>/<key>._S3rver_object` (+ `._S3rver_metadata.json` holding
 *   `x-amz-meta-callfs-version`). A file's key is its blob key (`inodes.blob_key`, one key per
 *   version) or, for entries of the legacy layout, its path without the leading slash.
 *   An S3 entry must be in every region's bucket, at its version or newer, once replication has
 *   caught up: a missing or older copy of an entry changed within `replicationGraceMs` that some
 *   bucket already holds is reported as "not yet replicated", anything else as dangling.
 * - Local-disk bytes: `<dir>/run/nodes/<id>/files/<key>` on the holder (`callfs_instance_id`) and
 *   on every node with a `replicas` row at the entry's version, with the entry's size.
 * - Orphans: objects and node files no entry points at (skipping S3 directory markers, the
 *   nodes' `.callfs-*` files, and anything newer than the metadata read, which may belong to a
 *   write still in progress). A versioned orphan's first line names the load write it was for,
 *   when it is one (`drill <run> <region> seq=<n>`, for path `/drill/<run>/<region>/<n>`).
 *
 * Rows are read before blobs are listed: bytes are stored before their row commits, so a row
 * seen always had its bytes stored already.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { type PgTarget, primaryTarget, replicaTarget, sql } from '../../rehearsal/postgres.js';
import { DATABASE, type RehearsalPlan } from '../../rehearsal/topology.js';
import type { AuditReport, DanglingEntry, OrphanBlob, RegionAudit } from '../scorecard.js';

export interface RehearsalAuditOptions {
  /** Region whose database is the writable primary now; default: found by asking every database. */
  readonly primaryRegion?: string;
  /** A missing S3 copy of an entry changed this recently counts as replication under way (default 30 s). */
  readonly replicationGraceMs?: number;
  /** Orphans newer than the metadata read minus this are skipped (default 5 s). */
  readonly orphanSlackMs?: number;
}

/** A file row of `inodes`. */
export interface EntryRow {
  readonly path: string;
  readonly backend: string;
  readonly instance: string | null;
  readonly size: number;
  readonly version: number;
  readonly updatedMs: number;
  /** Key of the version's bytes (`.callfs/blobs/…`); null or absent: the legacy layout, at the path. */
  readonly blobKey?: string | null;
}

export interface ReplicaRow {
  readonly path: string;
  readonly instance: string;
  readonly version: number;
}

/** A stored blob: an S3 object or a node's file. */
export interface StoredBlob {
  readonly size: number;
  readonly mtimeMs: number;
  /** `x-amz-meta-callfs-version` of an object; null for node files or objects without it. */
  readonly version: number | null;
  /** For a versioned blob: the load write's path its first line names, if any. */
  readonly writtenFor?: string;
  /** For a versioned blob: its first bytes (to name an orphan nobody explains). */
  readonly head?: string;
}

/** What the audit compares: everything read, nothing judged yet (the pure part below judges). */
export interface AuditSnapshot {
  readonly readAt: number;
  readonly entries: readonly EntryRow[];
  readonly replicas: readonly ReplicaRow[];
  /** region → bucket name and its objects by key. */
  readonly buckets: Readonly<Record<string, { readonly bucket: string; readonly objects: ReadonlyMap<string, StoredBlob> }>>;
  /** node id → its region and files by key. */
  readonly nodes: Readonly<Record<string, { readonly region: string; readonly files: ReadonlyMap<string, StoredBlob> }>>;
}

const OBJECT_SUFFIX = '._S3rver_object';
const METADATA_SUFFIX = '._S3rver_metadata.json';

const hexToText = (hex: string): string => Buffer.from(hex, 'hex').toString('utf8');

function walkFiles(root: string, visit: (file: string, relPath: string) => void, skipName: (name: string) => boolean = () => false): void {
  if (!existsSync(root)) return;
  const stack = [root];
  for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
    let names;
    try {
      names = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of names) {
      if (skipName(entry.name)) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) stack.push(full);
      else if (entry.isFile()) visit(full, relative(root, full).split(sep).join('/'));
    }
  }
}

/** The objects of one s3rver bucket directory, by key (directory markers left out). */
export function readBucketDir(bucketDir: string): Map<string, StoredBlob> {
  const objects = new Map<string, StoredBlob>();
  walkFiles(bucketDir, (file, relPath) => {
    if (!relPath.endsWith(OBJECT_SUFFIX)) return;
    const key = relPath.slice(0, -OBJECT_SUFFIX.length);
    if (key === '' || key.endsWith('/')) return; // `<dir>/` markers of directories
    if (isNodeOwnData(key)) return;
    let version: number | null = null;
    try {
      const metadata = JSON.parse(readFileSync(file.slice(0, -OBJECT_SUFFIX.length) + METADATA_SUFFIX, 'utf8')) as Record<string, unknown>;
      const raw = Number(metadata['x-amz-meta-callfs-version']);
      version = Number.isSafeInteger(raw) ? raw : null;
    } catch {
      // no metadata file: an object without a version
    }
    try {
      const info = statSync(file);
      objects.set(key, { size: info.size, mtimeMs: info.mtimeMs, version, ...contentOf(key, file) });
    } catch {
      // deleted while listing
    }
  });
  return objects;
}

const BLOB_PREFIX = '.callfs/blobs/';
const LOAD_WRITE_LINE = /^drill (\S+) (\S+) seq=(\d+)\n/;

/** The first bytes of a stored file (undefined when it cannot be read). */
function readHead(file: string): string | undefined {
  try {
    const fd = openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(256);
      return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * The path of the load write whose body starts with `head`, read from its first line
 * (`/drill-probes/` for a probe of the drill itself); undefined when it is neither.
 */
function writtenForOf(head: string | undefined): string | undefined {
  if (head === undefined) return undefined;
  // The drill's own probes (local provider) write `probe from <region> at <time>`.
  if (head.startsWith('probe from ')) return '/drill-probes/';
  const match = LOAD_WRITE_LINE.exec(head);
  return match === null ? undefined : `/drill/${match[1] ?? ''}/${match[2] ?? ''}/${match[3] ?? ''}`;
}

/** What the audit keeps of a versioned blob's content: the write it names, or its first bytes. */
function contentOf(key: string, file: string): { writtenFor?: string; head?: string } {
  if (!key.startsWith(BLOB_PREFIX)) return {};
  const head = readHead(file);
  const writtenFor = writtenForOf(head);
  if (writtenFor !== undefined) return { writtenFor };
  return head === undefined ? {} : { head: head.slice(0, 48) };
}

/** The cluster marker and the sweeper's quarantine: the store's own data, never an entry's bytes. */
function isNodeOwnData(key: string): boolean {
  return key === '.callfs/cluster.json' || key.startsWith('.callfs/quarantine/');
}

/** A node's local-disk files by key (its own `.callfs-*` files, cluster marker, quarantine and temporaries left out). */
export function readNodeFiles(root: string): Map<string, StoredBlob> {
  const files = new Map<string, StoredBlob>();
  walkFiles(
    root,
    (file, relPath) => {
      if (isNodeOwnData(relPath)) return;
      try {
        const info = statSync(file);
        files.set(relPath, { size: info.size, mtimeMs: info.mtimeMs, version: null, ...contentOf(relPath, file) });
      } catch {
        // deleted while listing
      }
    },
    (name) => name.startsWith('.callfs-'),
  );
  return files;
}

/** Judges a snapshot: per region, the entries checked, dangling ones, pending replication, orphans. */
export function judgeAudit(snapshot: AuditSnapshot, options: Pick<RehearsalAuditOptions, 'replicationGraceMs' | 'orphanSlackMs'> = {}): Record<string, RegionAudit> {
  const grace = options.replicationGraceMs ?? 30_000;
  const slack = options.orphanSlackMs ?? 5000;
  const regions = new Set([...Object.keys(snapshot.buckets), ...Object.values(snapshot.nodes).map((n) => n.region)]);
  const out = new Map<string, { checked: number; dangling: DanglingEntry[]; notYetReplicated: DanglingEntry[]; orphans: OrphanBlob[] }>();
  for (const region of regions) out.set(region, { checked: 0, dangling: [], notYetReplicated: [], orphans: [] });
  const regionOut = (region: string): { checked: number; dangling: DanglingEntry[]; notYetReplicated: DanglingEntry[]; orphans: OrphanBlob[] } => {
    let r = out.get(region);
    if (r === undefined) out.set(region, (r = { checked: 0, dangling: [], notYetReplicated: [], orphans: [] }));
    return r;
  };
  const contentKey = (entry: EntryRow): string => entry.blobKey ?? entry.path.slice(1);
  // A versioned key holds exactly one version: the object's version header is not compared then.
  const versionOf = (entry: EntryRow, object: StoredBlob | undefined): number | null => (entry.blobKey === null || entry.blobKey === undefined ? (object?.version ?? null) : entry.version);
  const entriesByKey = new Map(snapshot.entries.map((e) => [contentKey(e), e]));
  const replicasAt = new Set<string>();
  for (const entry of snapshot.entries) {
    const key = contentKey(entry);
    if (entry.backend === 's3') {
      const holders = Object.values(snapshot.buckets).filter((b) => (versionOf(entry, b.objects.get(key)) ?? entry.version) >= entry.version && b.objects.has(key));
      const recent = entry.updatedMs > snapshot.readAt - grace;
      for (const [region, bucket] of Object.entries(snapshot.buckets)) {
        const r = regionOut(region);
        r.checked++;
        const object = bucket.objects.get(key);
        const objectVersion = versionOf(entry, object);
        const reason = object === undefined ? 'missing' : objectVersion !== null && objectVersion < entry.version ? `older version ${objectVersion} < ${entry.version}` : null;
        if (reason === null) continue;
        const finding: DanglingEntry = { path: entry.path, backend: 's3', where: `bucket ${bucket.bucket}`, reason };
        if (recent && holders.length > 0) r.notYetReplicated.push(finding);
        else r.dangling.push({ ...finding, reason: holders.length === 0 ? `${reason} (in no bucket)` : reason });
      }
    } else if (entry.backend === 'localfs') {
      const copies = [entry.instance ?? '', ...snapshot.replicas.filter((c) => c.path === entry.path && c.version === entry.version && c.instance !== entry.instance).map((c) => c.instance)];
      for (const [i, instance] of copies.entries()) {
        const node = snapshot.nodes[instance];
        const what = i === 0 ? 'holder' : 'replica';
        if (node === undefined) {
          regionOut('(unknown)').dangling.push({ path: entry.path, backend: 'localfs', where: `node ${instance || '(none)'}`, reason: `${what} is not a node of the rehearsal` });
          continue;
        }
        const r = regionOut(node.region);
        r.checked++;
        const file = node.files.get(key);
        const reason = file === undefined ? `missing on the ${what}` : file.size !== entry.size ? `size ${file.size} != ${entry.size} on the ${what}` : null;
        if (reason !== null) r.dangling.push({ path: entry.path, backend: 'localfs', where: `node ${instance}`, reason });
      }
    }
  }
  for (const copy of snapshot.replicas) replicasAt.add(`${copy.instance}\n${copy.path}`);
  const settled = (blob: StoredBlob): boolean => blob.mtimeMs < snapshot.readAt - slack;
  for (const [region, bucket] of Object.entries(snapshot.buckets)) {
    for (const [key, blob] of bucket.objects) {
      if (entriesByKey.get(key)?.backend !== 's3' && settled(blob)) regionOut(region).orphans.push(orphanOf(key, `bucket ${bucket.bucket}`, blob));
    }
  }
  for (const [id, node] of Object.entries(snapshot.nodes)) {
    for (const [key, blob] of node.files) {
      const entry = entriesByKey.get(key);
      const owned = entry?.backend === 'localfs' && (entry.instance === id || replicasAt.has(`${id}\n${entry.path}`));
      if (owned || !settled(blob)) continue;
      // The current version's bytes on a node no replica row names: a copy whose row was never
      // recorded (e.g. a replication cut by a failover), not bytes without an entry.
      if (entry?.backend === 'localfs' && entry.blobKey !== null && entry.blobKey !== undefined) regionOut(node.region).orphans.push({ key, where: `node ${id}`, copyOf: entry.path });
      else regionOut(node.region).orphans.push(orphanOf(key, `node ${id}`, blob));
    }
  }
  return Object.fromEntries(out);
}

function orphanOf(key: string, where: string, blob: StoredBlob): OrphanBlob {
  if (blob.writtenFor !== undefined) return { key, where, writtenFor: blob.writtenFor };
  return { key, where, ...(blob.head === undefined ? {} : { content: `${blob.size} bytes, starting ${JSON.stringify(blob.head)}` }) };
}

async function isWritablePrimary(target: PgTarget): Promise<boolean> {
  try {
    const rows = await sql(target, "select pg_is_in_recovery(), current_setting('default_transaction_read_only')");
    return rows[0]?.[0] === 'f' && rows[0]?.[1] === 'off';
  } catch {
    return false;
  }
}

/** The database that is the writable primary now (not in recovery, not read-only). */
export async function findPrimary(plan: RehearsalPlan, region?: string): Promise<{ region: string; target: PgTarget }> {
  const candidates = [{ region: plan.home.name, target: primaryTarget(plan) }, ...plan.regions.map((r) => ({ region: r.name, target: replicaTarget(r) }))].filter(
    (c) => region === undefined || c.region === region,
  );
  const writable = (await Promise.all(candidates.map(async (c) => ((await isWritablePrimary(c.target)) ? c : null)))).filter((c) => c !== null);
  const [first, ...others] = writable;
  if (first === undefined) throw new Error(`no writable primary found${region === undefined ? '' : ` in ${region}`}`);
  if (others.length > 0 && region === undefined) throw new Error(`more than one writable database: ${writable.map((c) => `${c.region} ${c.target.ip}:${c.target.port}`).join(', ')}`);
  return first;
}

/** Reads the rows, then the buckets and node files, of a running rehearsal. */
export async function snapshotRehearsal(plan: RehearsalPlan, primary: PgTarget): Promise<AuditSnapshot> {
  const readAt = Date.now();
  const rows = await sql(
    primary,
    "select encode(convert_to(path, 'UTF8'), 'hex'), backend_type, coalesce(callfs_instance_id, ''), size, version, (extract(epoch from updated_at) * 1000)::bigint, coalesce(blob_key, '') from inodes where type = 'file'",
    DATABASE,
  );
  const entries: EntryRow[] = rows.map(([hex = '', backend = '', instance = '', size = '0', version = '1', updated = '0', blobKey = '']) => ({
    path: hexToText(hex),
    backend,
    instance: instance === '' ? null : instance,
    size: Number(size),
    version: Number(version),
    updatedMs: Number(updated),
    blobKey: blobKey === '' ? null : blobKey,
  }));
  const replicaRows = await sql(primary, "select encode(convert_to(path, 'UTF8'), 'hex'), instance_id, version from replicas", DATABASE);
  const replicas: ReplicaRow[] = replicaRows.map(([hex = '', instance = '', version = '0']) => ({ path: hexToText(hex), instance, version: Number(version) }));
  const run = join(plan.options.dir, 'run');
  const buckets = Object.fromEntries(plan.regions.map((r) => [r.name, { bucket: r.bucket, objects: readBucketDir(join(run, 's3', r.name, r.bucket)) }]));
  const nodes = Object.fromEntries(plan.regions.flatMap((r) => r.nodes.map((n) => [n.id, { region: r.name, files: readNodeFiles(join(run, 'nodes', n.id, 'files')) }])));
  return { readAt, entries, replicas, buckets, nodes };
}

/** The audit of a running rehearsal, as an `AuditReport` for the scorecard. */
export async function auditRehearsal(plan: RehearsalPlan, options: RehearsalAuditOptions = {}): Promise<AuditReport> {
  const primary = await findPrimary(plan, options.primaryRegion);
  const snapshot = await snapshotRehearsal(plan, primary.target);
  return { source: `rehearsal ${plan.options.dir} (metadata from the primary in ${primary.region}, ${snapshot.entries.length} file entries)`, at: snapshot.readAt, regions: judgeAudit(snapshot, options) };
}

/**
 * Removes an orphan the scorecard explained (the bytes of a write whose row never committed): the
 * node's file, or the s3rver object and its metadata. False when `where` names nothing of the
 * rehearsal or the key would leave its directory.
 */
export function removeRehearsalOrphan(plan: RehearsalPlan, orphan: { readonly key: string; readonly where: string }): boolean {
  if (orphan.key === '' || orphan.key.split('/').some((part) => part === '' || part === '.' || part === '..')) return false;
  const run = join(plan.options.dir, 'run');
  const [kind, name] = orphan.where.split(' ');
  if (kind === 'node' && plan.regions.some((r) => r.nodes.some((n) => n.id === name))) {
    rmSync(join(run, 'nodes', name ?? '', 'files', orphan.key), { force: true });
    return true;
  }
  const region = plan.regions.find((r) => r.bucket === name);
  if (kind === 'bucket' && region !== undefined) {
    const base = join(run, 's3', region.name, region.bucket, orphan.key);
    rmSync(base + OBJECT_SUFFIX, { force: true });
    rmSync(base + METADATA_SUFFIX, { force: true });
    return true;
  }
  return false;
}
