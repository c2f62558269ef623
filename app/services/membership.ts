/**
 * @module Membership: who is in the cluster and how to reach them. Two sources: the static
 * `instance_discovery.peer_endpoints` map (wins when both name a node) and the registry, where
 * every node announces itself with a heartbeat and removes itself on a graceful stop, so a node
 * can join or leave without editing every other node's configuration. Also builds the report
 * of `GET /v1/cluster`.
 */
import type { BreakerSnapshot } from '../domain/circuit-breaker.js';
import type { ClusterRegistry, MemberAnnouncement, MemberRecord } from '../ports/cluster-registry.js';
import type { Logger } from '../observability/logger.js';

export interface MembershipOptions {
  readonly instanceId: string;
  readonly region: string;
  readonly staticPeers: Readonly<Record<string, string>>;
  readonly peerRegions: Readonly<Record<string, string>>;
  readonly heartbeatMs: number;
  /** A registered member silent this long is dropped from the registry. */
  readonly forgetAfterMs: number;
  /**
   * Why the heartbeat's write cannot commit now (the fencing epoch's view: a fenced or read-only
   * primary, or none reachable); null when it can. While set, the heartbeat is not written (a
   * fenced former primary would only refuse it) but the members are still read.
   */
  readonly writeBlocker?: () => string | null;
}

export type MemberHealth = 'up' | 'down' | 'recovering' | 'suspect' | 'unknown';

export interface MemberReport {
  readonly instance_id: string;
  readonly self: boolean;
  readonly region: string;
  readonly internal_url: string | null;
  readonly version: string | null;
  readonly started_at: string | null;
  readonly last_seen: string | null;
  readonly heartbeat_age_ms: number | null;
  /** Listed in this node's static peer map / announced in the registry. */
  readonly static: boolean;
  readonly registered: boolean;
  readonly health: MemberHealth;
  readonly circuit: BreakerSnapshot['state'] | null;
  readonly consecutive_failures: number;
  readonly last_error: string | null;
}

export interface ClusterReport {
  readonly instance_id: string;
  readonly region: string;
  /** `ok`, or `unavailable` when the registry could not be read (members from the last good read). */
  readonly registry: 'ok' | 'unavailable';
  readonly members: readonly MemberReport[];
}

export class Membership {
  #registered = new Map<string, MemberRecord>();
  #timer: NodeJS.Timeout | null = null;
  #beating: Promise<void> | null = null;
  #registryOk = false;
  /** This node's announcement, known once it listens (start). */
  #self: MemberAnnouncement | null = null;
  /** Why heartbeats are paused now (null: they are written). */
  #skipping: string | null = null;

  constructor(
    private readonly registry: ClusterRegistry,
    private readonly options: MembershipOptions,
    private readonly logger: Logger,
  ) {}

  get instanceId(): string {
    return this.options.instanceId;
  }

  /** Announces this node and starts the heartbeat. A registry that is down is logged, not fatal. */
  async start(self: Omit<MemberAnnouncement, 'instanceId' | 'region'>): Promise<void> {
    this.#self = { ...self, instanceId: this.options.instanceId, region: this.options.region };
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.#timer.unref();
  }

  /** One heartbeat: refresh our row, then re-read the members. Never overlaps itself. */
  beat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => {
      this.#beating = null;
    });
    return this.#beating;
  }

  /** Stops the heartbeat and removes this node from the registry. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#beating;
    if (this.#self !== null) await this.registry.deregister(this.instanceId);
    this.#self = null;
  }

  endpointOf(instanceId: string): string | undefined {
    if (instanceId === this.instanceId) return undefined;
    return this.options.staticPeers[instanceId] ?? this.#registered.get(instanceId)?.internalUrl;
  }

  /**
   * The certificates a registered member announced for its self-signed https listener: the only
   * ones its peers trust for it. Undefined for a static peer (`peer_endpoints` win, verified with
   * `peer_ca_file`) and for a member that announced none.
   */
  certificatesOf(instanceId: string): string | undefined {
    if (instanceId === this.instanceId || instanceId in this.options.staticPeers) return undefined;
    return this.#registered.get(instanceId)?.tlsCertificates ?? undefined;
  }

  /** Announces a new certificate bundle (a renewal) with the next heartbeat, written at once. */
  async announceCertificates(tlsCertificates: string): Promise<void> {
    if (this.#self === null) return;
    this.#self = { ...this.#self, tlsCertificates };
    await this.#beating; // a heartbeat already under way carries the old bundle
    await this.beat();
  }

  regionOf(instanceId: string): string {
    if (instanceId === this.instanceId) return this.options.region;
    return this.options.peerRegions[instanceId] ?? this.#registered.get(instanceId)?.region ?? this.options.region;
  }

  /** Every other node this node knows of. */
  peerIds(): string[] {
    const ids = new Set([...Object.keys(this.options.staticPeers), ...this.#registered.keys()]);
    ids.delete(this.instanceId);
    return [...ids].sort();
  }

  /** The `GET /v1/cluster` view; `healthOf` tells what this node believes about a peer. */
  async report(healthOf: (instanceId: string) => BreakerSnapshot | null): Promise<ClusterReport> {
    await this.#refresh();
    const self = this.#self;
    const ids = new Set([this.instanceId, ...this.peerIds()]);
    const members = [...ids].sort().map((id): MemberReport => {
      const record = this.#registered.get(id);
      const isSelf = id === this.instanceId;
      const snapshot = isSelf ? null : healthOf(id);
      return {
        instance_id: id,
        self: isSelf,
        region: this.regionOf(id),
        internal_url: isSelf ? (self?.internalUrl ?? null) : (this.endpointOf(id) ?? null),
        version: record?.version ?? (isSelf ? (self?.version ?? null) : null),
        started_at: (record?.startedAt ?? (isSelf ? self?.startedAt : null))?.toISOString() ?? null,
        last_seen: record?.lastSeen.toISOString() ?? null,
        heartbeat_age_ms: record === undefined ? null : Math.round(record.ageMs),
        static: id in this.options.staticPeers,
        registered: record !== undefined,
        health: isSelf ? 'up' : healthFrom(snapshot),
        circuit: snapshot?.state ?? null,
        consecutive_failures: snapshot?.consecutiveFailures ?? 0,
        last_error: snapshot?.lastError ?? null,
      };
    });
    return { instance_id: this.instanceId, region: this.options.region, registry: this.#registryOk ? 'ok' : 'unavailable', members };
  }

  async #beat(): Promise<void> {
    if (this.#self === null) return;
    const blocker = this.options.writeBlocker?.() ?? null;
    if (blocker !== this.#skipping) {
      if (blocker !== null) this.logger.warn('cluster heartbeat paused: the metadata primary cannot take writes', { reason: blocker });
      else if (this.#skipping !== null) this.logger.info('cluster heartbeat resumed');
      this.#skipping = blocker;
    }
    if (blocker !== null) {
      await this.#refresh();
      return;
    }
    try {
      await this.registry.heartbeat(this.#self, this.options.forgetAfterMs);
    } catch (error) {
      this.logger.warn('cluster heartbeat failed', { error: error instanceof Error ? error.message : String(error) });
    }
    await this.#refresh();
  }

  async #refresh(): Promise<void> {
    try {
      const members = await this.registry.listMembers();
      this.#registered = new Map(members.map((m) => [m.instanceId, m]));
      this.#registryOk = true;
    } catch (error) {
      this.#registryOk = false;
      this.logger.warn('reading cluster members failed', { error: error instanceof Error ? error.message : String(error) });
    }
  }
}

function healthFrom(snapshot: BreakerSnapshot | null): MemberHealth {
  if (snapshot === null) return 'unknown';
  if (snapshot.state === 'open') return 'down';
  if (snapshot.state === 'half-open') return 'recovering';
  if (snapshot.consecutiveFailures > 0) return 'suspect';
  return snapshot.lastSuccessAt === null ? 'unknown' : 'up';
}
