/**
 * The drill SQL runner of a region stack: a one-shot task definition of the node image with the
 * runner's command, in the nodes' private subnets, with a security group the database admits and
 * that lets out only Postgres (to that database) and HTTPS, the credentials injected by ECS from
 * the database secret (read by the execution role, on that secret only), its logs in a log group
 * with a retention, and the four SSM parameters the AWS drill provider finds it by.
 */
import { existsSync } from 'node:fs';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DRILL_SQL_ENV } from '../../app/drill-sql/batch.js';
import { DRILL_SQL_CONTAINER_NAME, DRILL_SQL_ENTRY_POINT, DRILL_SQL_LOG_STREAM_PREFIX, DRILL_SQL_TASK_ENV } from '../../infra/config/drill-sql-runner.js';
import { DATABASE_PORT, RDS_CA_BUNDLE_PATH, parameterName } from '../../infra/config/names.js';
import { REGION_FILES } from '../../regions/index.js';
import { loadRegions } from '../../regions/schema.js';
import { resourcesOf, synthesizeApp, template } from './support.js';

let t: Template;

interface Container {
  Name: string;
  Image: unknown;
  EntryPoint?: string[];
  ReadonlyRootFilesystem?: boolean;
  Environment?: Array<{ Name: string; Value: unknown }>;
  Secrets?: Array<{ Name: string; ValueFrom: unknown }>;
  LogConfiguration?: { LogDriver: string; Options: Record<string, unknown> };
}

function containers(): Array<{ id: string; container: Container; task: Record<string, unknown> }> {
  return resourcesOf(t, 'AWS::ECS::TaskDefinition').flatMap(([id, task]) => (task.Properties['ContainerDefinitions'] as Container[]).map((container) => ({ id, container, task: task.Properties })));
}

function runner(): { id: string; container: Container; task: Record<string, unknown> } {
  const found = containers().find((c) => c.container.Name === DRILL_SQL_CONTAINER_NAME);
  if (found === undefined) throw new Error('no drill SQL runner container');
  return found;
}

function logicalIdOf(type: string, match: (properties: Record<string, unknown>) => boolean): string {
  const found = resourcesOf(t, type).find(([, r]) => match(r.Properties));
  if (found === undefined) throw new Error(`no ${type}`);
  return found[0];
}

beforeAll(() => {
  const regions = loadRegions({ 'eu.ts': REGION_FILES['eu.ts'], 'us.ts': REGION_FILES['us.ts'] });
  t = template(synthesizeApp(regions, undefined, false, ['GeoCallfs-eu']), 'GeoCallfs-eu');
}, 300_000);

describe('DrillSqlRunner in a region stack', () => {
  it('runs the node image with the runner\'s command, read-only, with the CA bundle path and the credentials from the database secret', () => {
    const { container, task } = runner();
    const node = containers().find((c) => c.container.Name === 'node');
    expect(container.Image).toEqual(node?.container.Image);
    expect(container.EntryPoint).toEqual([...DRILL_SQL_ENTRY_POINT]);
    expect(container.ReadonlyRootFilesystem).toBe(true);
    expect(container.Environment).toEqual([{ Name: DRILL_SQL_TASK_ENV.caBundle, Value: RDS_CA_BUNDLE_PATH }]);
    const secrets = Object.fromEntries((container.Secrets ?? []).map((s) => [s.Name, JSON.stringify(s.ValueFrom)]));
    expect(Object.keys(secrets).sort()).toEqual([DRILL_SQL_TASK_ENV.password, DRILL_SQL_TASK_ENV.user].sort());
    expect(secrets[DRILL_SQL_TASK_ENV.user]).toMatch(/geo-callfs\/metadata-db.*:username::/);
    expect(secrets[DRILL_SQL_TASK_ENV.password]).toMatch(/geo-callfs\/metadata-db.*:password::/);
    expect(task).toMatchObject({ RequiresCompatibilities: ['FARGATE'], NetworkMode: 'awsvpc', Cpu: '256', Memory: '512' });
  });

  it('logs to a log group of its own with a retention, under the stream prefix the drill reads', () => {
    const { container } = runner();
    expect(container.LogConfiguration?.LogDriver).toBe('awslogs');
    expect(container.LogConfiguration?.Options['awslogs-stream-prefix']).toBe(DRILL_SQL_LOG_STREAM_PREFIX);
    const group = container.LogConfiguration?.Options['awslogs-group'] as { Ref: string };
    expect(resourcesOf(t, 'AWS::Logs::LogGroup').find(([id]) => id === group.Ref)?.[1].Properties['RetentionInDays']).toBeGreaterThan(0);
  });

  it('has a security group that admits nothing, lets out Postgres to the database and HTTPS only, and that the database admits', () => {
    const runnerGroup = logicalIdOf('AWS::EC2::SecurityGroup', (p) => String(p['GroupDescription']).includes('drill SQL runner'));
    const databaseGroup = logicalIdOf('AWS::EC2::SecurityGroup', (p) => String(p['GroupDescription']).startsWith('Postgres'));
    const props = resourcesOf(t, 'AWS::EC2::SecurityGroup').find(([id]) => id === runnerGroup)?.[1].Properties ?? {};
    expect(props['SecurityGroupIngress']).toBeUndefined();
    expect(props['SecurityGroupEgress']).toEqual([expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 })]);
    t.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { GroupId: { 'Fn::GetAtt': [runnerGroup, 'GroupId'] }, DestinationSecurityGroupId: { 'Fn::GetAtt': [databaseGroup, 'GroupId'] }, FromPort: DATABASE_PORT, ToPort: DATABASE_PORT });
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: { 'Fn::GetAtt': [databaseGroup, 'GroupId'] }, SourceSecurityGroupId: { 'Fn::GetAtt': [runnerGroup, 'GroupId'] }, FromPort: DATABASE_PORT });
  });

  it('lets the execution role read the database secret and nothing else of Secrets Manager; the task role has no permission', () => {
    const { task } = runner();
    const executionRole = (task['ExecutionRoleArn'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const taskRole = (task['TaskRoleArn'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policies = resourcesOf(t, 'AWS::IAM::Policy');
    const attachedTo = (role: string) => policies.filter(([, p]) => JSON.stringify(p.Properties['Roles']).includes(role));
    expect(attachedTo(taskRole)).toHaveLength(0);
    const statements = attachedTo(executionRole).flatMap(([, p]) => (p.Properties['PolicyDocument'] as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement);
    const secretStatements = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('secretsmanager:')));
    expect(secretStatements.length).toBeGreaterThan(0);
    for (const s of secretStatements) {
      expect([s.Action].flat().sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
      expect(JSON.stringify(s.Resource)).toMatch(/geo-callfs\/metadata-db/);
    }
  });

  it('publishes the task definition, the nodes\' private subnets, the security group and the log group in SSM', () => {
    const eu = { name: 'eu' };
    const value = (name: Parameters<typeof parameterName>[1]): string => {
      const found = resourcesOf(t, 'AWS::SSM::Parameter').find(([, p]) => p.Properties['Name'] === parameterName(eu, name));
      if (found === undefined) throw new Error(`no parameter ${name}`);
      return JSON.stringify(found[1].Properties['Value']);
    };
    expect(value('drill-sql-task-definition')).toContain(runner().id);
    const nodeSubnets = resourcesOf(t, 'AWS::EC2::Subnet').filter(([id]) => id.includes('Nodes')).map(([id]) => id);
    expect(nodeSubnets.length).toBeGreaterThan(0);
    for (const id of nodeSubnets) expect(value('drill-sql-subnets')).toContain(id);
    expect(value('drill-sql-security-group')).toContain(logicalIdOf('AWS::EC2::SecurityGroup', (p) => String(p['GroupDescription']).includes('drill SQL runner')));
    expect(value('drill-sql-log-group')).toMatch(/DrillSqlRunnerLogs/);
  });

  it('agrees with the runner in the image on its variables and its entry point', () => {
    expect(DRILL_SQL_TASK_ENV).toEqual({ user: DRILL_SQL_ENV.user, password: DRILL_SQL_ENV.password, caBundle: DRILL_SQL_ENV.caBundle });
    // tsconfig.build.json compiles app/ into dist/app/: the entry point's source is there.
    expect(DRILL_SQL_ENTRY_POINT[1]).toBe('dist/app/drill-sql/main.js');
    expect(existsSync(new URL('../../app/drill-sql/main.ts', import.meta.url))).toBe(true);
  });
});
