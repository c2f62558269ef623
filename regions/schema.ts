/**
 * @module The typed description of a deployment region, shared by the node (its region and its
 * peers' regions), the local rehearsal and the CDK app. One file per region; `index.ts` finds
 * the files and validates them together (exactly one home region, unique names, AWS regions,
 * buckets and non-overlapping CIDRs). Every error names the region file and the field.
 */
import { z } from 'zod';
import { AWS_COMMERCIAL_REGIONS } from './aws-regions.js';

/** zod's own message for a missing key is "expected string, received undefined"; say "required" instead. */
function required(what: string) {
  return { error: (issue: { input: unknown }) => (issue.input === undefined ? `required: ${what}` : `must be ${what}`) };
}

export const RegionSchema = z
  .object({
    /** Short name used in instance ids, headers, stack names and DNS records, e.g. `eu`. */
    name: z.string(required('a short region name')).regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and dashes, starting with a letter'),
    /** AWS region the CDK app deploys this region into. */
    awsRegion: z
      .string(required('an AWS region code such as eu-west-1'))
      .refine((code) => AWS_COMMERCIAL_REGIONS.has(code), { error: (issue) => `an AWS region code such as eu-west-1 ("${String(issue.input)}" is not one)` }),
    /** `home` holds the Postgres primary and the lock home; every other region is `secondary`. */
    role: z.enum(['home', 'secondary']),
    /** Nodes (ECS tasks) the region runs normally; the autoscaling floor. */
    nodeCount: z.number().int().min(1).max(50),
    /** Autoscaling ceiling of the region's nodes. */
    maxNodeCount: z.number().int().min(1).max(200),
    /**
     * An existing S3 bucket name for this region. Leave it out (the default) and the name is derived
     * from the AWS account and region (`regionBucketName`), so two deployments can never collide.
     */
    bucketName: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a valid S3 bucket name').optional(),
    /** The region's VPC range; ranges must not overlap, since the VPCs are peered. */
    cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-8])$/, 'an IPv4 CIDR between /16 and /28'),
    /**
     * Availability zones the region's subnets, database and cache use (2 or 3). Named explicitly
     * so that synthesis needs no account lookup.
     */
    availabilityZones: z.array(z.string()).min(2).max(3),
    /**
     * 0 takes the region out of the global hostname's answers (a drain: its own hostname keeps
     * working); any other value keeps it in. Route 53 latency records carry no weight, so values
     * above 0 are equivalent today.
     */
    dnsWeight: z.number().int().min(0).max(255),
    /**
     * Path Route 53 and the load balancer probe on the region's nodes; a region failing it drops out
     * of DNS answers. `/ready/read` (can serve reads) keeps a region in DNS through a home outage.
     */
    healthCheckPath: z.string().startsWith('/'),
    /**
     * How this region's Postgres was created, which never changes for the life of the instance: a
     * promotion moves `role`, not this. `'primary'` (created with its own data), or
     * `{ replicaOf: '<region name>' }` (created as a read replica of that region's database).
     * Default: `'primary'` for the home region, a replica of the home region otherwise. Write it
     * down before moving the home region (infra/README.md), or the change would replace databases.
     */
    databaseOrigin: z.union([z.literal('primary'), z.strictObject({ replicaOf: z.string() })]).optional(),
    /**
     * Who hears about the region's alarms: e-mail addresses subscribed to the region's alarm topic,
     * and existing SNS topics (in this region's AWS region) every alarm also notifies.
     */
    alarmNotifications: z
      .array(
        z.union([
          z.strictObject({ email: z.string().regex(/^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i, 'an e-mail address') }),
          z.strictObject({ topicArn: z.string().regex(/^arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN') }),
        ]),
      )
      .default([]),
    /**
     * ACM certificate (in `awsRegion`) for the region's load balancer, covering the region's
     * hostname and the global hostname. Without it the stack requests one, validated in the zone.
     */
    certificateArn: z
      .string()
      .regex(/^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, 'an ACM certificate ARN')
      .optional(),
    /** Fargate CPU units of one node (256, 512, 1024, 2048 or 4096). */
    nodeCpu: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]).default(1024),
    /** Memory of one node in MiB; must be valid for `nodeCpu` on Fargate. */
    nodeMemoryMiB: z.number().int().min(512).max(30720).default(2048),
    /** RDS instance class of the region's Postgres (primary or replica), without the `db.` prefix. */
    dbInstanceClass: z.string().regex(/^[a-z0-9]+\.[a-z0-9]+$/, 'an instance class such as r6g.large').default('r6g.large'),
    /** ElastiCache node type of the region's Redis. */
    cacheNodeType: z.string().regex(/^cache\.[a-z0-9]+\.[a-z0-9]+$/, 'a node type such as cache.r6g.large').default('cache.r6g.large'),
  })
  .superRefine((region, ctx) => {
    if (region.maxNodeCount < region.nodeCount) {
      ctx.addIssue({ code: 'custom', path: ['maxNodeCount'], message: `must be at least nodeCount (${region.nodeCount})` });
    }
    region.availabilityZones.forEach((zone, i) => {
      if (!new RegExp(`^${region.awsRegion}[a-z]$`).test(zone)) {
        ctx.addIssue({ code: 'custom', path: ['availabilityZones', i], message: `"${zone}" is not a zone of ${region.awsRegion} (e.g. ${region.awsRegion}a)` });
      }
    });
    if (new Set(region.availabilityZones).size !== region.availabilityZones.length) {
      ctx.addIssue({ code: 'custom', path: ['availabilityZones'], message: 'lists a zone twice' });
    }
    region.alarmNotifications.forEach((target, i) => {
      const topicRegion = 'topicArn' in target ? target.topicArn.split(':')[3] : undefined;
      if (topicRegion !== undefined && topicRegion !== region.awsRegion) {
        ctx.addIssue({ code: 'custom', path: ['alarmNotifications', i, 'topicArn'], message: `is in ${topicRegion}; CloudWatch alarms notify topics of their own region (${region.awsRegion})` });
      }
    });
    const certRegion = region.certificateArn?.split(':')[3];
    if (certRegion !== undefined && certRegion !== region.awsRegion) {
      ctx.addIssue({ code: 'custom', path: ['certificateArn'], message: `is in ${certRegion}; a load balancer certificate must be in ${region.awsRegion}` });
    }
  });

export type Region = z.infer<typeof RegionSchema>;

/** How a region's database was created (see `databaseOrigin`), with the default filled in. */
export type DatabaseOrigin = { readonly kind: 'primary' } | { readonly kind: 'replica'; readonly of: string };

/**
 * The S3 bucket of `region` in `account`: the file's `bucketName` when it names one, otherwise
 * `geo-callfs-<account>-<awsRegion>`, unique to the account and region. The account is required:
 * a name derived without one could be anybody's.
 */
export function regionBucketName(region: Pick<Region, 'bucketName' | 'awsRegion' | 'name'>, account: string | undefined): string {
  if (region.bucketName !== undefined) return region.bucketName;
  if (account === undefined || !/^\d{12}$/.test(account)) {
    throw new Error(`region ${region.name}: the bucket name is derived from the AWS account id, and none was given (got ${JSON.stringify(account)}); pass the 12-digit account or set bucketName in regions/${region.name}.ts`);
  }
  return `geo-callfs-${account}-${region.awsRegion}`;
}

/** `region`'s database origin: the file's `databaseOrigin`, or the default for its role. */
export function databaseOriginOf(region: Region, regions: readonly Region[]): DatabaseOrigin {
  const origin = region.databaseOrigin;
  if (origin === 'primary') return { kind: 'primary' };
  if (origin !== undefined) return { kind: 'replica', of: origin.replicaOf };
  if (region.role === 'home') return { kind: 'primary' };
  const home = regions.find((r) => r.role === 'home');
  if (home === undefined) throw new Error('regions/: no home region');
  return { kind: 'replica', of: home.name };
}

/**
 * The order stacks are rolled out in, which never depends on which region is home: the region
 * whose database was created as the primary first, then the others by name. Regions dial (peer
 * with) the regions before them in this order, so a home move changes no VPC peering.
 */
export function rolloutOrder(regions: readonly Region[]): readonly Region[] {
  const founding = regions.filter((r) => databaseOriginOf(r, regions).kind === 'primary');
  const rest = regions.filter((r) => !founding.includes(r)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return [...founding, ...rest];
}

/** One region as read from its file: the file name is kept for error messages. */
export interface RegionEntry {
  readonly file: string;
  readonly region: Region;
}

function cidrRange(cidr: string): [number, number] {
  const [ip = '', bits = '32'] = cidr.split('/');
  const base = ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return [base, base + size - 1];
}

/** Validates one region file's data; the error names the file and every bad field. */
export function parseRegion(file: string, data: unknown): Region {
  const result = RegionSchema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new Error(`regions/${file}: ${problems}`);
}

/**
 * The rules that span files: exactly one home, and no name, AWS region, bucket or CIDR used
 * twice. Returns one message per problem, each naming the file and field; empty when valid.
 */
export function regionSetProblems(entries: readonly RegionEntry[]): string[] {
  const problems: string[] = [];
  const homes = entries.filter((e) => e.region.role === 'home');
  if (homes.length === 0) problems.push('regions/: role: exactly one region must have role "home" (found none)');
  for (const extra of homes.slice(1)) {
    problems.push(`regions/${extra.file}: role: "home" is already taken by regions/${homes[0]?.file ?? ''}; exactly one region must have role "home"`);
  }
  const unique = (field: 'name' | 'awsRegion' | 'bucketName'): void => {
    const seen = new Map<string, string>();
    for (const { file, region } of entries) {
      const value = region[field];
      if (value === undefined) continue;
      const first = seen.get(value);
      if (first !== undefined) problems.push(`regions/${file}: ${field}: "${value}" is already used by regions/${first}`);
      else seen.set(value, file);
    }
  };
  unique('name');
  unique('awsRegion');
  unique('bucketName');
  const regions = entries.map((e) => e.region);
  if (homes.length === 1) {
    const origins = entries.map((e) => ({ file: e.file, name: e.region.name, origin: databaseOriginOf(e.region, regions) }));
    const primaries = origins.filter((o) => o.origin.kind === 'primary');
    if (primaries.length !== 1) {
      problems.push(`regions/: databaseOrigin: exactly one region's database is created as the primary (found ${primaries.map((p) => p.file).join(', ') || 'none'}); after a home move, write databaseOrigin into each file (infra/README.md)`);
    }
    for (const { file, name, origin } of origins) {
      if (origin.kind === 'replica' && (origin.of === name || !regions.some((r) => r.name === origin.of))) {
        problems.push(`regions/${file}: databaseOrigin: replicaOf "${origin.of}" must name another region of regions/`);
      }
    }
  }
  entries.forEach((a, i) =>
    entries.slice(i + 1).forEach((b) => {
      const [a0, a1] = cidrRange(a.region.cidr);
      const [b0, b1] = cidrRange(b.region.cidr);
      if (a0 <= b1 && b0 <= a1) problems.push(`regions/${b.file}: cidr: ${b.region.cidr} overlaps ${a.region.cidr} of regions/${a.file}`);
    }),
  );
  return problems;
}

/**
 * Parses every region file and checks them together. The home region comes first, the others
 * follow in file-name order: infra deploys in this order.
 */
export function loadRegions(files: Readonly<Record<string, unknown>>): readonly Region[] {
  const entries: RegionEntry[] = Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([file, data]) => ({ file, region: parseRegion(file, data) }));
  const problems = regionSetProblems(entries);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const ordered = [...entries.filter((e) => e.region.role === 'home'), ...entries.filter((e) => e.region.role !== 'home')];
  return Object.freeze(ordered.map((e) => Object.freeze(e.region)));
}
