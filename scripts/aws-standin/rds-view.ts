/**
 * @module How the stand-in's RDS shows an instance: the DBInstance element of the Query API's
 * XML, with the fields the SDK and the drills read (endpoint, status, replication source and
 * replicas, parameter group apply status, tags).
 */
import { list, type XmlElement } from './protocol.js';
import { instanceArn, parseArn, type DbInstance } from './rds-model.js';

/** An instance as DescribeDBInstances (and every call returning one) shows it; `instances` gives its replicas. */
export function instanceView(instances: readonly DbInstance[], db: DbInstance): XmlElement {
  const replicas = instances.filter((i) => i.sourceArn === instanceArn(db.region, db.account, db.identifier)).map((i) => (i.region === db.region ? i.identifier : instanceArn(i.region, i.account, i.identifier)));
  return {
    DBInstanceIdentifier: db.identifier,
    DBInstanceClass: db.instanceClass,
    Engine: 'postgres',
    EngineVersion: db.engineVersion,
    DBInstanceStatus: db.status,
    Endpoint: db.status === 'creating' ? undefined : { Address: db.address, Port: db.port },
    DBInstanceArn: instanceArn(db.region, db.account, db.identifier),
    BackupRetentionPeriod: db.backupRetentionPeriod,
    MultiAZ: db.multiAz,
    StorageType: db.storageType,
    StorageEncrypted: db.encrypted,
    KmsKeyId: db.kmsKeyId,
    CACertificateIdentifier: db.caCertificate,
    DBSubnetGroup: { DBSubnetGroupName: db.subnetGroup },
    VpcSecurityGroups: list('VpcSecurityGroupMembership', db.securityGroups.map((id) => ({ VpcSecurityGroupId: id, Status: 'active' }))),
    DBParameterGroups: list('DBParameterGroup', [{ DBParameterGroupName: db.parameterGroup.name, ParameterApplyStatus: db.parameterGroup.applyStatus }]),
    ReadReplicaSourceDBInstanceIdentifier: db.sourceArn === undefined ? undefined : sourceName(db),
    ReadReplicaDBInstanceIdentifiers: list('ReadReplicaDBInstanceIdentifier', replicas),
    StatusInfos: db.sourceArn === undefined ? undefined : list('DBInstanceStatusInfo', [{ StatusType: 'read replication', Normal: true, Status: db.status === 'available' ? 'replicating' : 'creating' }]),
    TagList: list('Tag', db.tags),
    AutoMinorVersionUpgrade: true,
    DeletionProtection: false,
    CopyTagsToSnapshot: true,
    PubliclyAccessible: false,
  };
}

/** A same-region source is named by identifier, a cross-region one by ARN (as RDS reports them). */
function sourceName(db: DbInstance): string | undefined {
  if (db.sourceArn === undefined) return undefined;
  const parsed = parseArn(db.sourceArn);
  return parsed !== null && parsed.region === db.region ? parsed.identifier : db.sourceArn;
}
