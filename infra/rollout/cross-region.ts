/**
 * @module The offline proof of a rollout order, read from synthesized templates. Each stack's
 * cross-region inputs (secrets read by name, SSM parameters read in another region, destination
 * buckets of replication rules, the source database of a read replica, the KMS key that receives
 * replicated backups) and its outputs (secrets and their replica regions, SSM parameters,
 * buckets, database identifiers, KMS aliases) are collected; `proveRollout` then plays the steps
 * and reports every step whose inputs do not exist when it runs, every deployed stack left
 * without an input it keeps using, and every stateful resource a step would replace.
 *
 * Inputs come in two kinds. Continuous ones are used as long as the stack runs (secrets injected
 * into tasks, replication destinations, the backup key). Creation-time ones are read only when
 * the resource holding them is created or changed (an SSM read by a custom resource, a replica's
 * source): an unchanged resource does not need them again.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface CfnTemplate {
  readonly Resources?: Record<string, { Type: string; Properties?: Record<string, Json>; DeletionPolicy?: string }>;
}

/** A named thing in one AWS region ('*' for global names such as buckets). */
export interface Thing {
  readonly kind: 'secret' | 'ssm-parameter' | 'bucket' | 'database' | 'kms-alias';
  readonly awsRegion: string;
  readonly name: string;
}

export interface Input extends Thing {
  readonly continuous: boolean;
  /** Logical id of the resource that uses it. */
  readonly resource: string;
}

export interface StackFacts {
  readonly inputs: readonly Input[];
  readonly outputs: readonly Thing[];
}

export const thingKey = (t: Thing): string => `${t.kind} ${t.name} in ${t.awsRegion}`;

/**
 * The template value as text, with pseudo parameters filled in and joins joined; any other
 * intrinsic (an attribute of a resource of the same stack) becomes `<token>`.
 */
function render(value: Json, awsRegion: string, account: string): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => render(v, awsRegion, account)).join(',')}]`;
  const ref = value.Ref;
  if (typeof ref === 'string') {
    if (ref === 'AWS::Partition') return 'aws';
    if (ref === 'AWS::Region') return awsRegion;
    if (ref === 'AWS::AccountId') return account;
    if (ref === 'AWS::URLSuffix') return 'amazonaws.com';
    return '<token>';
  }
  const join = value['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) return join[1].map((part) => render(part, awsRegion, account)).join(join[0]);
  if (Object.keys(value).some((k) => k.startsWith('Fn::'))) return '<token>';
  return `{${Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}:${render(v, awsRegion, account)}`)
    .join(',')}}`;
}

/** The cross-region facts of one template deployed to `awsRegion` of `account`. */
export function stackFacts(template: CfnTemplate, awsRegion: string, account: string): StackFacts {
  const inputs: Input[] = [];
  const outputs: Thing[] = [];
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    const props = resource.Properties ?? {};
    const text = render(props as Json, awsRegion, account);
    const use = (thing: Thing, continuous: boolean): void => {
      inputs.push({ ...thing, continuous, resource: id });
    };
    // Secrets read by ARN (task execution role, ECS secrets) or by dynamic reference.
    for (const match of text.matchAll(/arn:aws:secretsmanager:([a-z0-9-]+):\d{12}:secret:([A-Za-z0-9/_+=.@-]+?)(?:-\?{6}|\*)?(?=[:"\],}]|$)/g)) {
      use({ kind: 'secret', awsRegion: match[1] ?? '', name: match[2] ?? '' }, true);
    }
    for (const match of text.matchAll(/\{\{resolve:secretsmanager:([A-Za-z0-9/_+=.@-]+):SecretString/g)) {
      use({ kind: 'secret', awsRegion, name: match[1] ?? '' }, true);
    }
    switch (resource.Type) {
      case 'AWS::SecretsManager::Secret': {
        const name = String(props.Name);
        outputs.push({ kind: 'secret', awsRegion, name });
        for (const replica of (props.ReplicaRegions as Array<{ Region: string }> | undefined) ?? []) outputs.push({ kind: 'secret', awsRegion: replica.Region, name });
        break;
      }
      case 'AWS::SSM::Parameter':
        outputs.push({ kind: 'ssm-parameter', awsRegion, name: String(props.Name) });
        break;
      case 'AWS::S3::Bucket': {
        if (typeof props.BucketName === 'string') outputs.push({ kind: 'bucket', awsRegion: '*', name: props.BucketName });
        const rules = ((props.ReplicationConfiguration as { Rules?: Array<{ Destination: { Bucket: Json } }> } | undefined)?.Rules ?? []).map((r) => render(r.Destination.Bucket, awsRegion, account));
        for (const arn of rules) use({ kind: 'bucket', awsRegion: '*', name: arn.replace(/^arn:aws:s3:::/, '') }, true);
        break;
      }
      case 'AWS::RDS::DBInstance': {
        if (typeof props.DBInstanceIdentifier === 'string') outputs.push({ kind: 'database', awsRegion, name: props.DBInstanceIdentifier });
        if (props.SourceDBInstanceIdentifier !== undefined) {
          const arn = render(props.SourceDBInstanceIdentifier, awsRegion, account);
          const match = /^arn:aws:rds:([a-z0-9-]+):\d{12}:db:(.+)$/.exec(arn);
          use(match === null ? { kind: 'database', awsRegion, name: arn } : { kind: 'database', awsRegion: match[1] ?? '', name: match[2] ?? '' }, false);
        }
        if (props.AutomaticBackupReplicationKmsKeyId !== undefined) {
          const arn = render(props.AutomaticBackupReplicationKmsKeyId, awsRegion, account);
          const match = /^arn:aws:kms:([a-z0-9-]+):\d{12}:(alias\/.+)$/.exec(arn);
          if (match !== null) use({ kind: 'kms-alias', awsRegion: match[1] ?? '', name: match[2] ?? '' }, true);
        }
        break;
      }
      case 'AWS::KMS::Alias':
        outputs.push({ kind: 'kms-alias', awsRegion, name: String(props.AliasName) });
        break;
      case 'Custom::AWS': {
        // AwsCustomResource: the SDK call is a JSON string; an SSM read in some region.
        for (const phase of ['Create', 'Update']) {
          const call = props[phase];
          if (call === undefined) continue;
          const rendered = render(call, awsRegion, account);
          const parsed = /"service":"SSM","action":"GetParameter","parameters":\{"Name":"([^"]+)"\},"region":"([a-z0-9-]+)"/.exec(rendered);
          if (parsed !== null) use({ kind: 'ssm-parameter', awsRegion: parsed[2] ?? '', name: parsed[1] ?? '' }, false);
        }
        break;
      }
      default:
        break;
    }
  }
  const seen = new Set<string>();
  const unique = inputs.filter((i) => {
    const key = `${thingKey(i)} ${String(i.continuous)} ${i.resource}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { inputs: unique, outputs };
}

/**
 * Properties whose change makes CloudFormation replace the resource (from the CloudFormation
 * resource reference, "Update requires: Replacement"), for the stateful types.
 */
export const REPLACING_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  'AWS::RDS::DBInstance': ['DBInstanceIdentifier', 'DBName', 'MasterUsername', 'SourceDBInstanceIdentifier', 'SourceRegion', 'KmsKeyId', 'StorageEncrypted', 'CharacterSetName', 'Timezone', 'Engine'],
  'AWS::S3::Bucket': ['BucketName', 'ObjectLockEnabled'],
  'AWS::ElastiCache::ReplicationGroup': ['ReplicationGroupId', 'CacheSubnetGroupName', 'AtRestEncryptionEnabled', 'KmsKeyId', 'Port', 'Engine'],
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::KMS::Key': ['KeySpec'],
};

/** Stateful resources of `before` that `after` drops or would replace, as one line each. */
export function replacements(before: CfnTemplate, after: CfnTemplate): string[] {
  const problems: string[] = [];
  for (const [id, resource] of Object.entries(before.Resources ?? {})) {
    const replacing = REPLACING_PROPERTIES[resource.Type];
    if (replacing === undefined) continue;
    const next = after.Resources?.[id];
    if (next === undefined || next.Type !== resource.Type) {
      problems.push(`${resource.Type} ${id} would be deleted (its logical id is gone)`);
      continue;
    }
    for (const property of replacing) {
      const was = JSON.stringify(resource.Properties?.[property] ?? null);
      const now = JSON.stringify(next.Properties?.[property] ?? null);
      if (was !== now) problems.push(`${resource.Type} ${id} would be replaced: ${property} ${was} → ${now}`);
    }
  }
  return problems;
}

/** Resources of `after` that are new or whose properties differ from `before`. */
function changedResources(before: CfnTemplate | undefined, after: CfnTemplate): Set<string> {
  const changed = new Set<string>();
  for (const [id, resource] of Object.entries(after.Resources ?? {})) {
    const old = before?.Resources?.[id];
    if (old === undefined || JSON.stringify(old) !== JSON.stringify(resource)) changed.add(id);
  }
  return changed;
}

export type ProofStep =
  | { readonly kind: 'deploy'; readonly stack: string; readonly awsRegion: string; readonly template: CfnTemplate }
  | { readonly kind: 'destroy'; readonly stack: string };

export interface DeployedStack {
  readonly awsRegion: string;
  readonly template: CfnTemplate;
}

/**
 * Plays `steps` from `deployed` (stack name → what is deployed now) and returns every problem
 * found, each naming the step; empty when the order is sound.
 */
export function proveRollout(deployed: ReadonlyMap<string, DeployedStack>, steps: readonly ProofStep[], account: string): string[] {
  const world = new Map(deployed);
  const problems: string[] = [];
  const providedBy = (except: string): Set<string> => {
    const provided = new Set<string>();
    for (const [name, stack] of world) {
      if (name === except) continue;
      for (const thing of stackFacts(stack.template, stack.awsRegion, account).outputs) provided.add(thingKey(thing));
    }
    return provided;
  };
  steps.forEach((step, i) => {
    const label = `step ${i + 1} (${step.kind} ${step.stack})`;
    if (step.kind === 'deploy') {
      const previous = world.get(step.stack);
      const facts = stackFacts(step.template, step.awsRegion, account);
      const changed = changedResources(previous?.template, step.template);
      const available = providedBy(step.stack);
      for (const input of facts.inputs) {
        if (!input.continuous && !changed.has(input.resource)) continue;
        if (!available.has(thingKey(input))) problems.push(`${label}: ${input.resource} needs ${thingKey(input)}, which no deployed stack provides yet`);
      }
      if (previous !== undefined) for (const line of replacements(previous.template, step.template)) problems.push(`${label}: ${line}`);
      world.set(step.stack, { awsRegion: step.awsRegion, template: step.template });
    } else {
      world.delete(step.stack);
    }
    // Whatever is deployed keeps using its continuous inputs: none may have gone away.
    for (const [name, stack] of world) {
      const available = providedBy(name);
      for (const input of stackFacts(stack.template, stack.awsRegion, account).inputs) {
        if (input.continuous && !available.has(thingKey(input))) problems.push(`after ${label}: ${name} (${input.resource}) still uses ${thingKey(input)}, which no deployed stack provides`);
      }
    }
  });
  return [...new Set(problems)];
}
