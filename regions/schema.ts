/**
 * @module The typed description of a deployment region, shared by the node (its region and its
 * peers' regions), the local rehearsal and the CDK app. One file per region; `index.ts`
 * validates them together (exactly one home region, unique names, non-overlapping CIDRs).
 */
import { z } from 'zod';

export const RegionSchema = z.object({
  /** Short name used in instance ids, headers and DNS records, e.g. `eu`. */
  name: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and dashes, starting with a letter'),
  /** AWS region the CDK app deploys this region into. */
  awsRegion: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region code such as eu-west-1'),
  /** `home` holds the Postgres primary and the lock home; every other region is `secondary`. */
  role: z.enum(['home', 'secondary']),
  nodeCount: z.number().int().min(1).max(50),
  bucketName: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a valid S3 bucket name'),
  cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-8])$/, 'an IPv4 CIDR between /16 and /28'),
  /** Relative weight of this region's DNS answers when several are equally near. */
  dnsWeight: z.number().int().min(0).max(255),
  healthCheckPath: z.string().startsWith('/'),
});

export type Region = z.infer<typeof RegionSchema>;

function cidrRange(cidr: string): [number, number] {
  const [ip = '', bits = '32'] = cidr.split('/');
  const base = ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return [base, base + size - 1];
}

export const RegionSetSchema = z.array(RegionSchema).superRefine((regions, ctx) => {
  const homes = regions.filter((r) => r.role === 'home');
  if (homes.length !== 1) ctx.addIssue({ code: 'custom', message: `exactly one region must have role "home" (found ${homes.length})` });
  const seen = new Set<string>();
  for (const r of regions) {
    if (seen.has(r.name)) ctx.addIssue({ code: 'custom', message: `region name "${r.name}" is used twice` });
    seen.add(r.name);
  }
  regions.forEach((a, i) =>
    regions.slice(i + 1).forEach((b) => {
      const [a0, a1] = cidrRange(a.cidr);
      const [b0, b1] = cidrRange(b.cidr);
      if (a0 <= b1 && b0 <= a1) ctx.addIssue({ code: 'custom', message: `regions "${a.name}" and "${b.name}" have overlapping CIDRs` });
    }),
  );
});

/** Validates one region file's data; the error names the file and every bad field. */
export function parseRegion(file: string, data: unknown): Region {
  const result = RegionSchema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new Error(`regions/${file}: ${problems}`);
}
