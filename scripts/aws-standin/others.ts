/**
 * @module The smaller services of the stand-in: ElastiCache (replication groups and TestFailover),
 * SSM Parameter Store, Secrets Manager, STS and the S3 bucket replication configuration.
 */
import type { QueryParams} from './protocol.js';
import { AwsError, list, xmlBlocks, xmlText, type XmlElement } from './protocol.js';
import type { DurationRange, StandinClock } from './clock.js';

export const ELASTICACHE_NAMESPACE = 'http://elasticache.amazonaws.com/doc/2015-02-02/';
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * A test failover replaces the primary by a replica (which keeps its data: replication is
 * asynchronous, so writes of the last moments may be lost) and re-points the primary endpoint; the
 * group is `modifying` meanwhile. Documented rules: the group must be available; "A customer can
 * use this operation to test automatic failover on up to 15 shards ... in any rolling 24-hour
 * period"; automatic failover must be enabled
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_TestFailover.html).
 * A failover typically completes within a few minutes
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/AutoFailover.html).
 */
export const ELASTICACHE_DURATIONS = { failover: { min: 60, max: 240 } } satisfies Record<string, DurationRange>;

export interface CacheGroup {
  readonly id: string;
  readonly region: string;
  status: string;
  readonly address: string;
  readonly port: number;
  /** Member clusters, the first one the primary. */
  members: string[];
  readonly failovers: number[];
}

export class ElastiCacheService {
  readonly groups: CacheGroup[] = [];
  constructor(
    private readonly clock: StandinClock,
    /** Called when a failover completes: the primary node is now another (data kept as replicated). */
    private readonly onFailover: (group: CacheGroup) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  add(region: string, id: string, address: string, port: number): void {
    this.groups.push({ id, region, status: 'available', address, port, members: [`${id}-001`, `${id}-002`], failovers: [] });
  }

  #group(region: string, id: string | undefined): CacheGroup {
    const group = this.groups.find((g) => g.region === region && g.id === id);
    if (group === undefined) throw new AwsError('ReplicationGroupNotFoundFault', `Replication group ${id ?? ''} not found.`, 404);
    return group;
  }

  #view(group: CacheGroup): XmlElement {
    return {
      ReplicationGroupId: group.id,
      Status: group.status,
      AutomaticFailover: 'enabled',
      MultiAZ: 'enabled',
      ClusterEnabled: false,
      TransitEncryptionEnabled: true,
      AuthTokenEnabled: true,
      MemberClusters: list('ClusterId', group.members),
      NodeGroups: list('NodeGroup', [
        {
          NodeGroupId: '0001',
          Status: group.status,
          PrimaryEndpoint: { Address: group.address, Port: group.port },
          NodeGroupMembers: list('NodeGroupMember', group.members.map((m, i) => ({ CacheClusterId: m, CacheNodeId: '0001', CurrentRole: i === 0 ? 'primary' : 'replica' }))),
        },
      ]),
    };
  }

  handle(region: string, action: string, params: QueryParams): XmlElement {
    switch (action) {
      case 'DescribeReplicationGroups': {
        const id = params.get('ReplicationGroupId');
        const groups = id === undefined ? this.groups.filter((g) => g.region === region) : [this.#group(region, id)];
        return { ReplicationGroups: list('ReplicationGroup', groups.map((g) => this.#view(g))) };
      }
      case 'TestFailover': {
        const group = this.#group(region, params.required('ReplicationGroupId'));
        const nodeGroup = params.required('NodeGroupId');
        if (nodeGroup !== '0001') throw new AwsError('NodeGroupNotFoundFault', `Node group ${nodeGroup} not found.`, 404);
        if (group.status !== 'available') throw new AwsError('InvalidReplicationGroupState', `Replication group must be in available state (it is ${group.status}).`);
        const now = this.clock.now();
        const dayMs = this.clock.of(24 * 3600);
        const recent = this.groups.flatMap((g) => g.failovers).filter((at) => now - at < dayMs);
        if (recent.length >= 15) throw new AwsError('TestFailoverNotAvailableFault', 'TestFailover: at most 15 node groups in any rolling 24-hour period.');
        group.failovers.push(now);
        group.status = 'modifying';
        this.clock.after(this.clock.pick(ELASTICACHE_DURATIONS.failover), async () => {
          group.members = [...group.members.slice(1), ...group.members.slice(0, 1)];
          await this.onFailover(group);
          group.status = 'available';
        }, this.onError);
        return { ReplicationGroup: this.#view(group) };
      }
      default:
        throw new AwsError('InvalidAction', `ElastiCache ${action} is not implemented by the stand-in`);
    }
  }
}

/** SSM parameters, secrets and STS: read-only lookups. */
export class LookupServices {
  /** `<region>:<name>` → value. */
  readonly parameters = new Map<string, string>();
  /** `<region>:<name>` → secret string (replicated secrets exist in every region under one name). */
  readonly secrets = new Map<string, string>();
  constructor(private readonly account: string) {}

  ssm(region: string, operation: string, input: Record<string, unknown>): unknown {
    const view = (name: string): Record<string, unknown> | undefined => {
      const value = this.parameters.get(`${region}:${name}`);
      return value === undefined ? undefined : { Name: name, Type: 'String', Value: value, Version: 1, ARN: `arn:aws:ssm:${region}:${this.account}:parameter${name}`, DataType: 'text' };
    };
    if (operation === 'GetParameter') {
      const name = typeof input['Name'] === 'string' ? input['Name'] : '';
      const found = view(name);
      if (found === undefined) throw new AwsError('ParameterNotFound', `Parameter ${name} not found.`);
      return { Parameter: found };
    }
    if (operation === 'GetParameters') {
      const names = Array.isArray(input['Names']) ? (input['Names'] as unknown[]).filter((n): n is string => typeof n === 'string') : [];
      // "Names: ... Maximum number of 10 items." (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html)
      if (names.length < 1 || names.length > 10) throw new AwsError('ValidationException', 'Names must list 1 to 10 parameters');
      return { Parameters: names.flatMap((n) => view(n) ?? []), InvalidParameters: names.filter((n) => view(n) === undefined) };
    }
    throw new AwsError('InvalidAction', `SSM ${operation} is not implemented by the stand-in`);
  }

  secretsManager(region: string, operation: string, input: Record<string, unknown>): unknown {
    if (operation !== 'GetSecretValue') throw new AwsError('InvalidAction', `Secrets Manager ${operation} is not implemented by the stand-in`);
    const id = typeof input['SecretId'] === 'string' ? input['SecretId'] : '';
    const value = this.secrets.get(`${region}:${id}`);
    if (value === undefined) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return { ARN: `arn:aws:secretsmanager:${region}:${this.account}:secret:${id}-AbCdEf`, Name: id, SecretString: value, VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: 1.7e9 };
  }

  sts(action: string, accessKeyId: string): XmlElement {
    if (action !== 'GetCallerIdentity') throw new AwsError('InvalidAction', `STS ${action} is not implemented by the stand-in`);
    return { Arn: `arn:aws:iam::${this.account}:user/drill`, UserId: accessKeyId, Account: this.account };
  }
}

/** S3 replication configurations of the regions' buckets (the raw XML the client sent, or the seeded one). */
export class S3ReplicationService {
  /** bucket → `<ReplicationConfiguration>` body. */
  readonly configurations = new Map<string, string>();
  readonly buckets = new Set<string>();

  handle(method: string, bucket: string, query: URLSearchParams, body: string): { status: number; xml: string } {
    if (!query.has('replication')) throw new AwsError('NotImplemented', 'the stand-in serves only ?replication on buckets', 501);
    if (!this.buckets.has(bucket)) throw new AwsError('NoSuchBucket', 'The specified bucket does not exist', 404);
    if (method === 'GET') {
      const found = this.configurations.get(bucket);
      if (found === undefined) throw new AwsError('ReplicationConfigurationNotFoundError', 'The replication configuration was not found', 404);
      return { status: 200, xml: found };
    }
    if (method === 'PUT') {
      // "Versioning must be enabled on the bucket" and every rule needs a destination
      // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketReplication.html).
      const rules = xmlBlocks(body, 'Rule');
      if (rules.length === 0 || rules.some((r) => xmlText(r, 'Bucket') === undefined)) throw new AwsError('MalformedXML', 'every replication rule needs a Destination Bucket');
      const start = body.indexOf('<ReplicationConfiguration');
      this.configurations.set(bucket, start >= 0 ? body.slice(start) : body);
      return { status: 200, xml: '' };
    }
    throw new AwsError('MethodNotAllowed', `${method} ?replication is not allowed`, 405);
  }
}

/** A replication configuration in S3's XML for the seed. */
export function replicationXml(role: string, destinations: ReadonlyArray<{ id: string; bucketArn: string; enabled: boolean }>): string {
  const rules = destinations
    .map((d, i) => `<Rule><ID>${d.id}</ID><Priority>${i + 1}</Priority><Status>${d.enabled ? 'Enabled' : 'Disabled'}</Status><Filter/><DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication><Destination><Bucket>${d.bucketArn}</Bucket></Destination></Rule>`)
    .join('');
  return `<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Role>${role}</Role>${rules}</ReplicationConfiguration>`;
}
