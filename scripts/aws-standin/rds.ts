/**
 * @module RDS for PostgreSQL in the stand-in: DB instances with their documented states and
 * transitions, each state change after a compressed documented duration, and the rules the drills
 * run into. What backs an instance (a real local Postgres in the tests) is behind `RdsBacking`: a
 * replica creation makes a real streaming replica, a promotion promotes it.
 *
 * Operations: DescribeDBInstances, CreateDBInstanceReadReplica, PromoteReadReplica,
 * ModifyDBInstance (rename, parameter group), RebootDBInstance, ModifyDBParameterGroup,
 * ResetDBParameterGroup, AddTagsToResource. The model is in rds-model.ts, how an instance is
 * shown in rds-view.ts; this is the service's behaviour.
 */
import type { QueryParams} from './protocol.js';
import { AwsError, list, type XmlElement } from './protocol.js';
import type { StandinClock } from './clock.js';
import { instanceArn, parseArn, RDS_DURATIONS, type BackedInstance, type DbInstance, type ParameterGroup, type RdsBacking, type RdsEvent } from './rds-model.js';
import { instanceView } from './rds-view.js';


export class RdsService {
  readonly instances: DbInstance[] = [];
  readonly parameterGroups: ParameterGroup[] = [];
  readonly events: RdsEvent[] = [];
  /** Failures to inject: the next call of `action` fails with this error (tests). */
  readonly injected = new Map<string, AwsError>();

  constructor(
    private readonly clock: StandinClock,
    private readonly backing: RdsBacking | null,
    private readonly account: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  find(region: string, identifier: string): DbInstance | undefined {
    return this.instances.find((i) => i.region === region && (i.identifier === identifier || i.renamingTo === identifier));
  }

  #get(region: string, identifier: string): DbInstance {
    const found = this.instances.find((i) => i.region === region && i.identifier === identifier);
    if (found === undefined) throw new AwsError('DBInstanceNotFound', `DBInstance ${identifier} not found.`, 404);
    return found;
  }

  #record(region: string, action: string, identifier: string, detail: Record<string, string | undefined> = {}): void {
    this.events.push({ at: this.clock.now(), region, action, identifier, detail });
  }

  handle(region: string, action: string, params: QueryParams): XmlElement {
    const injected = this.injected.get(action);
    if (injected !== undefined) {
      this.injected.delete(action);
      throw injected;
    }
    switch (action) {
      case 'DescribeDBInstances':
        return this.#describe(region, params);
      case 'CreateDBInstanceReadReplica':
        return { DBInstance: instanceView(this.instances, this.#createReplica(region, params)) };
      case 'PromoteReadReplica':
        return { DBInstance: instanceView(this.instances, this.#promote(region, params)) };
      case 'ModifyDBInstance':
        return { DBInstance: instanceView(this.instances, this.#modify(region, params)) };
      case 'RebootDBInstance':
        return { DBInstance: instanceView(this.instances, this.#reboot(region, params)) };
      case 'ModifyDBParameterGroup':
      case 'ResetDBParameterGroup':
        return { DBParameterGroupName: this.#changeParameters(region, action, params) };
      case 'AddTagsToResource':
        this.#addTags(params);
        return {};
      default:
        throw new AwsError('InvalidAction', `The action ${action} is not valid for this web service (the stand-in implements what the drills call).`);
    }
  }

  #describe(region: string, params: QueryParams): XmlElement {
    const identifier = params.get('DBInstanceIdentifier');
    if (identifier !== undefined) {
      // An identifier is taken by the instance that holds it until a rename away completes.
      const found = this.instances.find((i) => i.region === region && i.identifier === identifier);
      if (found === undefined) throw new AwsError('DBInstanceNotFound', `DBInstance ${identifier} not found.`, 404);
      return { DBInstances: list('DBInstance', [instanceView(this.instances, found)]) };
    }
    return { DBInstances: list('DBInstance', this.instances.filter((i) => i.region === region).map((i) => instanceView(this.instances, i))) };
  }

  #sourceOf(region: string, source: string): DbInstance {
    const arn = parseArn(source);
    if (arn === null) {
      // "If the source DB instance is in a different AWS Region from the read replica, specify a
      // valid DB instance ARN" (CreateDBInstanceReadReplica, SourceDBInstanceIdentifier).
      const local = this.instances.find((i) => i.region === region && i.identifier === source);
      if (local === undefined) throw new AwsError('DBInstanceNotFound', `DBInstance ${source} not found.`, 404);
      return local;
    }
    const found = this.instances.find((i) => i.region === arn.region && i.identifier === arn.identifier);
    if (found === undefined) throw new AwsError('DBInstanceNotFound', `DBInstance ${source} not found.`, 404);
    return found;
  }

  #createReplica(region: string, params: QueryParams): DbInstance {
    const identifier = params.required('DBInstanceIdentifier').toLowerCase();
    const sourceName = params.required('SourceDBInstanceIdentifier');
    this.#record(region, 'CreateDBInstanceReadReplica', identifier, { source: sourceName, DBParameterGroupName: params.get('DBParameterGroupName'), PreSignedUrl: params.get('PreSignedUrl') === undefined ? undefined : 'present' });
    // An identifier is free only once no instance holds it, a rename under way included
    // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html: "You cannot
    // use an existing DB instance name").
    if (this.find(region, identifier) !== undefined) throw new AwsError('DBInstanceAlreadyExists', `DB instance already exists`);
    const source = this.#sourceOf(region, sourceName);
    const crossRegion = source.region !== region;
    // "Your source DB instance must have backup retention enabled."
    // (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html)
    if (source.backupRetentionPeriod < 1) throw new AwsError('InvalidDBInstanceState', `Automated backups are not enabled for this database instance. To enable automated backups, use ModifyDBInstance to set the backup retention period to a non-zero value.`);
    if (source.status !== 'available' && source.status !== 'backing-up' && source.status !== 'modifying') throw new AwsError('InvalidDBInstanceState', `DB instance ${source.identifier} is not in available state.`);
    const groupName = params.get('DBParameterGroupName');
    // "Specifying a parameter group for this operation is only supported for MySQL DB instances
    // for cross-Region read replicas, for Multi-AZ DB cluster read replica instances, for Db2 DB
    // instances, and for Oracle DB instances." and "if you don't specify a value for
    // DBParameterGroupName, then Amazon RDS uses ... the default DBParameterGroup for the specified
    // DB engine for a cross-Region read replica."
    // (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html)
    if (groupName !== undefined && crossRegion) {
      throw new AwsError('InvalidParameterCombination', 'A DB parameter group cannot be specified for a cross-Region read replica of a PostgreSQL DB instance.');
    }
    if (crossRegion) {
      // The SDK pre-signs a CreateDBInstanceReadReplica for the source region
      // (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html, PreSignedUrl).
      this.#checkPresignedUrl(params.get('PreSignedUrl'), source, region, sourceName);
      // "If you create an encrypted read replica in a different AWS Region, then you must specify a
      // KMS key identifier for the destination AWS Region." (same page, KmsKeyId)
      if (source.encrypted && (params.get('KmsKeyId') ?? '') === '') throw new AwsError('InvalidParameterCombination', 'KmsKeyId is required for an encrypted cross-Region read replica.');
    }
    const group = groupName ?? (crossRegion ? `default.postgres${source.engineVersion.split('.')[0] ?? ''}` : source.parameterGroup.name);
    const replica: DbInstance = {
      identifier,
      region,
      account: this.account,
      status: 'creating',
      sourceArn: instanceArn(source.region, source.account, source.identifier),
      parameterGroup: { name: group, applyStatus: 'in-sync' },
      // "RDS creates read replicas with backups disabled." (same page)
      backupRetentionPeriod: 0,
      tags: params.structures('Tags').map((t) => ({ Key: t['Key'] ?? '', Value: t['Value'] ?? '' })),
      address: '',
      port: params.int('Port') ?? source.port,
      handle: undefined,
      engineVersion: source.engineVersion,
      instanceClass: params.get('DBInstanceClass') ?? source.instanceClass,
      multiAz: params.bool('MultiAZ') ?? false,
      storageType: params.get('StorageType') ?? source.storageType,
      encrypted: source.encrypted,
      kmsKeyId: params.get('KmsKeyId') ?? (crossRegion ? undefined : source.kmsKeyId),
      subnetGroup: params.get('DBSubnetGroupName') ?? source.subnetGroup,
      securityGroups: params.list('VpcSecurityGroupIds'),
      caCertificate: params.get('CACertificateIdentifier') ?? source.caCertificate,
      renamingTo: undefined,
      createdAt: this.clock.now(),
    };
    this.instances.push(replica);
    const duration = crossRegion ? RDS_DURATIONS.createCrossRegionReplica : RDS_DURATIONS.modify;
    this.clock.after(this.clock.pick(duration), async () => {
      if (this.backing !== null) {
        const made = await this.backing.createReplica(this.#backed(source), { region, identifier: replica.identifier });
        replica.address = made.address;
        replica.port = made.port;
        replica.handle = made.handle;
      } else {
        replica.address = `${replica.identifier}.standin.${region}.rds.amazonaws.com`;
      }
      replica.status = 'available';
    }, (error) => {
      replica.status = 'failed';
      this.onError(error);
    });
    return replica;
  }

  #checkPresignedUrl(url: string | undefined, source: DbInstance, region: string, sourceName: string): void {
    if (url === undefined || url === '') throw new AwsError('InvalidParameterValue', 'PreSignedUrl is required for a cross-Region read replica (the SDK adds it when the source is an ARN).');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AwsError('InvalidParameterValue', 'PreSignedUrl is not a URL');
    }
    const q = parsed.searchParams;
    const scope = /^[^/]+\/\d{8}\/([^/]+)\/rds\/aws4_request$/.exec(q.get('X-Amz-Credential') ?? '');
    const problems = [
      parsed.hostname !== `rds.${source.region}.amazonaws.com` ? `host ${parsed.hostname} is not the source region's endpoint` : '',
      q.get('Action') !== 'CreateDBInstanceReadReplica' ? 'Action is not CreateDBInstanceReadReplica' : '',
      q.get('DestinationRegion') !== region ? `DestinationRegion ${q.get('DestinationRegion') ?? 'missing'} is not ${region}` : '',
      q.get('SourceDBInstanceIdentifier') !== sourceName ? 'SourceDBInstanceIdentifier differs from the request' : '',
      scope?.[1] !== source.region ? 'not signed for the source region' : '',
      (q.get('X-Amz-Signature') ?? '') === '' ? 'no signature' : '',
    ].filter((p) => p !== '');
    if (problems.length > 0) throw new AwsError('InvalidParameterValue', `PreSignedUrl: ${problems.join('; ')}`);
  }

  #backed(db: DbInstance): BackedInstance {
    return { region: db.region, identifier: db.identifier, address: db.address, port: db.port, handle: db.handle };
  }

  #promote(region: string, params: QueryParams): DbInstance {
    const identifier = params.required('DBInstanceIdentifier');
    this.#record(region, 'PromoteReadReplica', identifier);
    const db = this.#get(region, identifier);
    if (db.sourceArn === undefined) throw new AwsError('InvalidDBInstanceState', `DB Instance is not a read replica.`);
    // A replica that is still being created, backed up or modified cannot be promoted
    // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.Promote.html).
    if (db.status !== 'available') throw new AwsError('InvalidDBInstanceState', `DB Instance ${identifier} is not in available state.`);
    const retention = params.int('BackupRetentionPeriod');
    db.status = 'modifying';
    this.clock.after(this.clock.pick(RDS_DURATIONS.promote), async () => {
      if (this.backing !== null) await this.backing.promote(this.#backed(db));
      db.sourceArn = undefined;
      if (retention !== undefined) db.backupRetentionPeriod = retention;
      if (db.backupRetentionPeriod > 0) {
        // Enabling backups on the promoted instance takes a backup first ("backing-up").
        db.status = 'backing-up';
        this.clock.after(this.clock.pick(RDS_DURATIONS.backupAfterPromote), () => {
          db.status = 'available';
        }, this.onError);
      } else {
        db.status = 'available';
      }
    }, (error) => {
      db.status = 'incompatible-restore';
      this.onError(error);
    });
    return db;
  }

  #modify(region: string, params: QueryParams): DbInstance {
    const identifier = params.required('DBInstanceIdentifier');
    const newIdentifier = params.get('NewDBInstanceIdentifier')?.toLowerCase();
    const group = params.get('DBParameterGroupName');
    this.#record(region, 'ModifyDBInstance', identifier, { NewDBInstanceIdentifier: newIdentifier, DBParameterGroupName: group });
    const db = this.#get(region, identifier);
    if (db.status !== 'available') throw new AwsError('InvalidDBInstanceState', `Database instance is not in available state.`);
    if (params.bool('ApplyImmediately') !== true) {
      throw new AwsError('InvalidParameterCombination', 'the stand-in applies modifications immediately only: pass ApplyImmediately (a rename without it waits for the maintenance window)');
    }
    if (newIdentifier !== undefined) {
      // "You cannot use an existing DB instance name when renaming an instance."
      // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html)
      if (this.find(region, newIdentifier) !== undefined) throw new AwsError('DBInstanceAlreadyExists', `DB instance already exists`);
      db.status = 'renaming';
      db.renamingTo = newIdentifier;
      // The new name takes effect (and the old one is released) only when the rename completes;
      // the instance then reboots (same page).
      this.clock.after(this.clock.pick(RDS_DURATIONS.rename), () => {
        db.identifier = newIdentifier;
        db.renamingTo = undefined;
        db.status = 'rebooting';
        this.clock.after(this.clock.pick(RDS_DURATIONS.reboot), () => {
          db.status = 'available';
        }, this.onError);
      }, this.onError);
      return db;
    }
    if (group !== undefined) {
      if (!group.startsWith('default.') && this.parameterGroups.find((g) => g.region === region && g.name === group) === undefined) {
        throw new AwsError('DBParameterGroupNotFound', `DBParameterGroup not found: ${group}`, 404);
      }
      db.status = 'modifying';
      db.parameterGroup = { name: group, applyStatus: 'applying' };
      // "When you associate a new DB parameter group with a DB instance, the modified static and
      // dynamic parameters are applied only after the DB instance is rebooted."
      // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithParamGroups.Associating.html;
      // ParameterApplyStatus values: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBParameterGroupStatus.html)
      this.clock.after(this.clock.pick(RDS_DURATIONS.modify), () => {
        db.status = 'available';
        db.parameterGroup = { name: group, applyStatus: 'pending-reboot' };
      }, this.onError);
    }
    return db;
  }

  #reboot(region: string, params: QueryParams): DbInstance {
    const identifier = params.required('DBInstanceIdentifier');
    this.#record(region, 'RebootDBInstance', identifier);
    const db = this.#get(region, identifier);
    if (db.status !== 'available') throw new AwsError('InvalidDBInstanceState', `DB instance ${identifier} is not in available state.`);
    db.status = 'rebooting';
    this.clock.after(this.clock.pick(RDS_DURATIONS.reboot), () => {
      db.status = 'available';
      if (db.parameterGroup.applyStatus === 'pending-reboot') db.parameterGroup = { ...db.parameterGroup, applyStatus: 'in-sync' };
    }, this.onError);
    return db;
  }

  #changeParameters(region: string, action: string, params: QueryParams): string {
    const name = params.required('DBParameterGroupName');
    this.#record(region, action, name);
    // "Default parameter groups can't be modified"
    // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithParamGroups.html).
    if (name.startsWith('default.')) throw new AwsError('InvalidParameterValue', `Default parameter groups cannot be modified: ${name}`);
    const group = this.parameterGroups.find((g) => g.region === region && g.name === name);
    if (group === undefined) throw new AwsError('DBParameterGroupNotFound', `DBParameterGroup not found: ${name}`, 404);
    const changes = params.structures('Parameters');
    // "A maximum of 20 parameters can be modified in a single request."
    // (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBParameterGroup.html)
    if (changes.length > 20) throw new AwsError('InvalidParameterValue', 'At most 20 parameters per request');
    for (const change of changes) {
      const parameter = change['ParameterName'] ?? '';
      if (action === 'ResetDBParameterGroup') group.parameters.delete(parameter);
      else group.parameters.set(parameter, change['ParameterValue'] ?? '');
    }
    return name;
  }

  #addTags(params: QueryParams): void {
    const arn = params.required('ResourceName');
    const parsed = parseArn(arn);
    const db = parsed === null ? undefined : this.instances.find((i) => i.region === parsed.region && i.identifier === parsed.identifier);
    if (db === undefined) throw new AwsError('DBInstanceNotFound', `DBInstance ${arn} not found.`, 404);
    for (const tag of params.structures('Tags')) {
      const key = tag['Key'] ?? '';
      db.tags = [...db.tags.filter((t) => t.Key !== key), { Key: key, Value: tag['Value'] ?? '' }];
    }
  }
}
