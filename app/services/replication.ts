/**
 * @module Replication of local-disk files to other nodes (CallFS leaves this open: local disks
 * need "a separate data replication strategy").
 *
 * - After a local-disk write is acknowledged, the holder copies the file to the peers chosen by
 *   the placement rule (asynchronously, or before answering when the client asks with
 *   `X-CallFS-Replication: sync`). A copy is streamed to the peer's internal endpoint, which
 *   writes it to its own disk under the path's cluster lock and records a replica row with the
 *   version it copied (refused if the entry has moved on meanwhile).
 * - A background round on each node re-copies missing or stale replicas of the files it holds,
 *   and promotes its own current replicas when their holder has been down for `promoteAfterMs`.
 * - Reads may be served from any current replica (services/file-context.ts picks one).
 * - A copy is stored under the same key as on the holder: the version's blob key (no lock
 *   needed: nobody else writes that key), or for legacy-layout files the path (under the
 *   path's lock). Copies of replaced versions are left to each node's sweeper.
 */
import type { Readable } from 'node:stream';
import type { Entry } from '../domain/entry.js';
import { contentKeyOf } from '../domain/blob-key.js';
import { AppError } from '../errors/app-error.js';
import type { SignedPeerClient } from './signed-peer-client.js';
import type { ReplicaStore } from '../ports/replica-store.js';
import type { Logger } from '../observability/logger.js';
import { linkedSignal, type FileContext } from './file-context.js';

export type Placement = 'other-region' | 'same-region' | 'any';

export interface ReplicationOptions {
  /** Copies wanted in all, the holder's included (1 = no replication). */
  readonly factor: number;
  readonly placement: Placement;
  readonly repairIntervalMs: number;
  /** A holder down this long loses its files to nodes with current copies (0 = only by command). */
  readonly promoteAfterMs: number;
}

/** What replication needs to know about the other nodes. */
export interface PeerView {
  peerIds(): string[];
  regionOf(instanceId: string): string;
  /** Reachable as far as this node knows (breaker closed, endpoint known). */
  isUp(instanceId: string): boolean;
  /** Epoch ms since which the peer has been unreachable, or null. */
  downSince(instanceId: string): number | null;
}

export interface ReplicationDeps {
  readonly context: FileContext;
  readonly replicas: ReplicaStore;
  readonly peers: SignedPeerClient;
  readonly view: PeerView;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Caller named on replication requests (they carry no user's permissions). */
export const REPLICATOR_IDENTITY = 'callfs-replicator';
/** Internal endpoint prefix of replica copies. */
export const REPLICA_TARGET_PREFIX = '/v1/internal/replicas';

export class ReplicationService {
  readonly #inFlight = new Map<string, Promise<string[]>>();
  #timer: NodeJS.Timeout | null = null;
  #round: Promise<void> | null = null;
  readonly #now: () => number;

  constructor(
    private readonly deps: ReplicationDeps,
    readonly options: ReplicationOptions,
  ) {
    this.#now = deps.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.options.factor > 1 && this.deps.context.deps.blobs.localfs !== null;
  }

  get #self(): string {
    return this.deps.context.deps.instanceId;
  }

  /** Called after a write was acknowledged: copies in the background (errors only logged). */
  afterWrite(entry: Entry): void {
    if (!this.#shouldReplicate(entry)) return;
    this.replicate(entry).catch((error: unknown) => this.deps.logger.warn('replication failed', { path: entry.path, error: describe(error) }));
  }

  /**
   * Brings `entry` up to the replication factor now; returns the instances holding a current
   * copy afterwards. Concurrent calls for the same path and version share one run.
   */
  replicate(entry: Entry): Promise<string[]> {
    if (!this.#shouldReplicate(entry)) return Promise.resolve([]);
    const key = `${entry.path}\u0000${entry.version}`;
    let run = this.#inFlight.get(key);
    if (run === undefined) {
      run = this.#replicate(entry).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, run);
    }
    return run;
  }

  /** `replicate` for the current version of `path` (the client asked for synchronous copies). */
  async replicatePath(path: string): Promise<string[]> {
    const entry = await this.deps.context.deps.metadata.getEntry(path);
    return entry === null ? [] : this.replicate(entry);
  }

  /**
   * Receiving side: stores a copy of `path` at `version` sent by its holder `from`. Under the
   * path's lock, the entry must still be that version held by `from`; the row is recorded last.
   */
  async receive(from: string, path: string, version: number, body: Readable, length: number | undefined, signal?: AbortSignal): Promise<void> {
    const ctx = this.deps.context;
    const store = ctx.storeFor('localfs');
    const currentOrRefuse = async (): Promise<Entry> => {
      const current = await ctx.deps.metadata.getEntry(path);
      if (current === null || current.type !== 'file' || current.backendType !== 'localfs' || current.instanceId !== from || current.instanceId === this.#self || current.version !== version) {
        body.resume();
        throw new AppError('PRECONDITION_FAILED', `replica of ${path} v${version} from ${from} is not current here`);
      }
      return current;
    };
    const storeCopy = async (current: Entry, lost: AbortSignal | undefined): Promise<void> => {
      // Not `fresh`: an earlier, interrupted copy may have left bytes at the key; replace them whole.
      await store.write(contentKeyOf(current), body, { exclusive: false, expectedSize: length, signal: linkedSignal(signal, lost) });
      const recorded = await this.deps.replicas.recordReplica(path, this.#self, version);
      if (!recorded) throw new AppError('PRECONDITION_FAILED', `${path} changed while its replica was written`);
    };
    const first = await currentOrRefuse();
    if (first.blobKey !== null) {
      await storeCopy(first, undefined);
      return;
    }
    await ctx.withLock('replica', [path], signal, async (lock) => storeCopy(await currentOrRefuse(), lock.lost));
  }

  /** Starts the background repair / promotion rounds. */
  start(): void {
    if (this.#timer !== null || this.options.repairIntervalMs <= 0) return;
    this.#timer = setInterval(() => void this.runRound(), this.options.repairIntervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#round;
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  /** One round: promote copies of long-dead holders, then repair this node's files. Never overlaps. */
  runRound(): Promise<void> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = null;
    });
    return this.#round;
  }

  async #runRound(): Promise<void> {
    try {
      await this.#promoteFromDeadHolders();
      if (!this.enabled) return;
      const pending = await this.deps.replicas.underReplicated(this.#self, this.options.factor - 1, 100);
      for (const file of pending) {
        const entry = await this.deps.context.deps.metadata.getEntry(file.path);
        if (entry !== null && entry.version === file.version) await this.replicate(entry).catch((error: unknown) => this.deps.logger.warn('replica repair failed', { path: file.path, error: describe(error) }));
      }
    } catch (error) {
      this.deps.logger.warn('replication round failed', { error: describe(error) });
    }
  }

  async #promoteFromDeadHolders(): Promise<void> {
    if (this.options.promoteAfterMs <= 0 || this.deps.context.deps.blobs.localfs === null) return;
    for (const peer of this.deps.view.peerIds()) {
      const since = this.deps.view.downSince(peer);
      if (since === null || this.#now() - since < this.options.promoteAfterMs) continue;
      const paths = await this.deps.replicas.promoteReplicas(peer, this.#self);
      for (const path of paths) this.deps.context.changed(path);
      if (paths.length > 0) this.deps.logger.warn('promoted replicas of a down holder', { holder: peer, files: paths.length });
    }
  }

  #shouldReplicate(entry: Entry): boolean {
    return this.enabled && entry.type === 'file' && entry.backendType === 'localfs' && entry.instanceId === this.#self;
  }

  async #replicate(entry: Entry): Promise<string[]> {
    const have = new Set((await this.deps.replicas.currentReplicas(entry.path, entry.version)).filter((id) => id !== this.#self));
    const wanted = this.options.factor - 1 - have.size;
    if (wanted <= 0) return [...have];
    const targets = this.#choose(entry.path, have);
    for (const target of targets) {
      if (have.size >= this.options.factor - 1) break;
      try {
        await this.#copyTo(target, entry);
        have.add(target);
      } catch (error) {
        this.deps.logger.warn('copy to replica failed', { path: entry.path, peer: target, error: describe(error) });
      }
    }
    return [...have];
  }

  /** Peers in placement order: by the rule's region preference, then a per-path spread. */
  #choose(path: string, exclude: ReadonlySet<string>): string[] {
    const ownRegion = this.deps.view.regionOf(this.#self);
    const rank = (id: string): number => {
      const sameRegion = this.deps.view.regionOf(id) === ownRegion;
      if (this.options.placement === 'other-region') return sameRegion ? 1 : 0;
      if (this.options.placement === 'same-region') return sameRegion ? 0 : 1;
      return 0;
    };
    return this.deps.view
      .peerIds()
      .filter((id) => id !== this.#self && !exclude.has(id) && this.deps.view.isUp(id))
      .sort((a, b) => rank(a) - rank(b) || spread(path, a) - spread(path, b) || (a < b ? -1 : 1));
  }

  async #copyTo(target: string, entry: Entry): Promise<void> {
    const store = this.deps.context.storeFor('localfs');
    const { stream, size } = await store.read(contentKeyOf(entry));
    const requestTarget = `${REPLICA_TARGET_PREFIX}${entry.path.split('/').map(encodeURIComponent).join('/')}?version=${entry.version}`;
    try {
      const response = await this.deps.peers.call(target, {
        method: 'PUT',
        target: requestTarget,
        caller: REPLICATOR_IDENTITY,
        hop: 1,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: stream,
      });
      const text = await readSmall(response.body);
      if (response.status !== 204) throw new Error(`peer answered ${response.status}: ${text.slice(0, 200)}`);
    } finally {
      stream.destroy();
    }
  }
}

export interface PromotionReport {
  /** New holder → number of files it took over. */
  readonly promoted: Record<string, number>;
  /** Files of the old holder with no current copy anywhere (they come back only with their holder). */
  readonly unreplicated: number;
}

/**
 * Operator promotion (`npm run promote`): hands every file of `from` that has a current copy to
 * `to`, or, without `to`, to the nodes with copies, the one with the most copies first.
 */
export async function promoteHolder(replicas: ReplicaStore, from: string, to?: string): Promise<PromotionReport> {
  const candidates = to !== undefined ? [to] : await replicas.replicaHoldersOf(from);
  const promoted: Record<string, number> = {};
  for (const candidate of candidates) {
    const paths = await replicas.promoteReplicas(from, candidate);
    if (paths.length > 0) promoted[candidate] = paths.length;
  }
  return { promoted, unreplicated: await replicas.countUnreplicated(from) };
}

/** A stable pseudo-random order of peers per path, so copies spread over the cluster. */
function spread(path: string, id: string): number {
  let hash = 2166136261;
  for (const ch of `${path}\u0000${id}`) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619);
  return hash >>> 0;
}

async function readSmall(body: Readable): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    if (text.length < 4096) text += String(chunk);
  }
  return text;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
