/**
 * @module One-shot ECS tasks in the stand-in: RunTask of a region's drill SQL runner task
 * definition (infra/constructs/drill-sql-runner.ts), its lifecycle to STOPPED with the container's
 * exit code, and DescribeTasks of such tasks. To be faithful to what the task does, the stand-in
 * really runs the runner's entry point as a local process with the environment the task would
 * get (the task definition's variables, its secrets resolved from the stand-in's Secrets Manager,
 * the override's variables), and writes each line of its stdout and stderr to the task's log
 * stream as the awslogs driver does (./logs.ts).
 *
 * Rules encoded (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html):
 * - a Fargate task uses awsvpc networking: "Network Configuration must be provided when
 *   networkMode 'awsvpc' is specified", with subnets and security groups that exist;
 * - `count` is 1 to 10; `startedBy` at most 36 characters;
 * - overrides: "A total of 8192 characters are allowed for overrides. This limit includes the JSON
 *   formatting characters of the override structure"
 *   (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskOverride.html), and a
 *   container override must name a container of the task definition;
 * - the task goes PROVISIONING → PENDING → RUNNING → DEPROVISIONING → STOPPED; when the essential
 *   container exits the task stops with stopCode EssentialContainerExited, "Essential container in
 *   task exited", and the container's exitCode; secrets ECS cannot retrieve stop it before the
 *   container runs (TaskFailedToStart, ResourceInitializationError, no exit code)
 *   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html,
 *   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html);
 * - secrets: "valueFrom" a secret ARN or name, optionally `:json-key::` of a JSON secret
 *   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { AwsError } from './protocol.js';
import type { DurationRange, StandinClock } from './clock.js';
import type { LogsService } from './logs.js';

/** Documented seconds: a Fargate task's launch (image pull included) and its wind-down after the container exits. */
export const RUN_TASK_DURATIONS = {
  provisioning: { min: 5, max: 20 },
  pending: { min: 15, max: 60 },
  deprovisioning: { min: 5, max: 30 },
} satisfies Record<string, DurationRange>;

/** A region's runner task definition as the stand-in knows it. */
export interface RunnerDefinition {
  readonly region: string;
  readonly cluster: string;
  readonly taskDefinitionArn: string;
  readonly containerName: string;
  readonly logGroup: string;
  readonly streamPrefix: string;
  /** The subnets and security groups that exist in the region's VPC. */
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  /** Variable → secret name and optional JSON key (ECS `valueFrom`). */
  readonly secrets: Readonly<Record<string, { readonly secretId: string; readonly jsonKey?: string }>>;
}

/** How the container's command runs here: the entry point as a local process (e.g. node with tsx). */
export interface RunnerProcess {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** What the image itself provides (PATH, HOME, NODE_ENV, ...). */
  readonly imageEnvironment: Readonly<Record<string, string>>;
  /** Real milliseconds after which a process still running is killed (exit code 137). @default 120000 */
  readonly killAfterMs?: number;
}

interface OneShotTask {
  readonly arn: string;
  readonly id: string;
  readonly definition: RunnerDefinition;
  readonly startedBy: string | undefined;
  readonly overrides: unknown;
  lastStatus: string;
  desiredStatus: 'RUNNING' | 'STOPPED';
  readonly createdAt: number;
  startedAt?: number;
  stoppedAt?: number;
  stopCode?: string;
  stoppedReason?: string;
  exitCode?: number;
  containerReason?: string;
}

export class RunTaskService {
  readonly definitions: RunnerDefinition[] = [];
  readonly tasks: OneShotTask[] = [];
  /** Every accepted RunTask input, in order (the tests' view of what the drill asked for). */
  readonly runs: Array<{ readonly region: string; readonly taskId: string; readonly input: Readonly<Record<string, unknown>> }> = [];

  constructor(
    private readonly clock: StandinClock,
    private readonly account: string,
    private readonly logs: LogsService,
    private readonly process: RunnerProcess,
    private readonly secretValue: (region: string, secretId: string) => string | undefined,
    private readonly onError: (error: unknown) => void,
  ) {}

  addDefinition(definition: RunnerDefinition): void {
    this.definitions.push(definition);
    this.logs.addGroup(definition.region, definition.logGroup);
  }

  /** True when this service answers the call (RunTask, or DescribeTasks of its own tasks). */
  owns(region: string, operation: string, input: Record<string, unknown>): boolean {
    if (operation === 'RunTask') return true;
    if (operation !== 'DescribeTasks' || !Array.isArray(input['tasks'])) return false;
    return (input['tasks'] as unknown[]).some((ref) => typeof ref === 'string' && this.#task(region, ref) !== undefined);
  }

  #task(region: string, ref: string): OneShotTask | undefined {
    const id = ref.split('/').pop();
    return this.tasks.find((t) => t.definition.region === region && t.id === id);
  }

  handle(region: string, operation: string, input: Record<string, unknown>): unknown {
    if (operation === 'DescribeTasks') {
      const refs = (input['tasks'] as unknown[]).filter((t): t is string => typeof t === 'string');
      if (refs.length > 100) throw new AwsError('InvalidParameterException', 'tasks must name 1 to 100 tasks');
      const found = refs.map((ref) => ({ ref, task: this.#task(region, ref) }));
      return {
        tasks: found.flatMap(({ task }) => (task === undefined ? [] : [this.#view(task)])),
        failures: found.flatMap(({ ref, task }) => (task === undefined ? [{ arn: ref, reason: 'MISSING' }] : [])),
      };
    }
    return this.#runTask(region, input);
  }

  #runTask(region: string, input: Record<string, unknown>): unknown {
    const cluster = String(input['cluster'] ?? 'default').split('/').pop() ?? '';
    const ref = typeof input['taskDefinition'] === 'string' ? input['taskDefinition'] : '';
    const definition = this.definitions.find((d) => d.region === region && (d.taskDefinitionArn === ref || d.taskDefinitionArn.endsWith(`/${ref}`) || d.taskDefinitionArn.split('/').pop()?.split(':')[0] === ref));
    if (definition === undefined) throw new AwsError('ClientException', 'TaskDefinition not found.');
    if (definition.cluster !== cluster) throw new AwsError('ClusterNotFoundException', 'Cluster not found.');
    const count = typeof input['count'] === 'number' ? input['count'] : 1;
    if (count < 1 || count > 10) throw new AwsError('InvalidParameterException', 'count must be between 1 and 10');
    const startedBy = typeof input['startedBy'] === 'string' ? input['startedBy'] : undefined;
    if (startedBy !== undefined && startedBy.length > 36) throw new AwsError('InvalidParameterException', 'startedBy must be at most 36 characters');
    const vpc = (input['networkConfiguration'] as { awsvpcConfiguration?: { subnets?: unknown; securityGroups?: unknown } } | undefined)?.awsvpcConfiguration;
    const subnets = Array.isArray(vpc?.subnets) ? (vpc.subnets as string[]) : [];
    if (subnets.length === 0) throw new AwsError('InvalidParameterException', "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
    const unknownSubnet = subnets.find((s) => !definition.subnets.includes(s));
    if (unknownSubnet !== undefined) throw new AwsError('InvalidParameterException', `Error retrieving subnet information for [${unknownSubnet}]: The subnet ID '${unknownSubnet}' does not exist`);
    const groups = Array.isArray(vpc?.securityGroups) ? (vpc.securityGroups as string[]) : [];
    const unknownGroup = groups.find((g) => !definition.securityGroups.includes(g));
    if (unknownGroup !== undefined) throw new AwsError('InvalidParameterException', `Error retrieving security group information for [${unknownGroup}]: The security group '${unknownGroup}' does not exist`);
    const overrides = (input['overrides'] ?? {}) as { containerOverrides?: Array<{ name?: string; environment?: Array<{ name?: string; value?: string }> }> };
    if (JSON.stringify(overrides).length > 8192) throw new AwsError('InvalidParameterException', 'Container Overrides length must be at most 8192');
    for (const o of overrides.containerOverrides ?? []) {
      if (o.name !== definition.containerName) throw new AwsError('InvalidParameterException', `Override for container named ${o.name ?? '?'} is not a container in the TaskDefinition.`);
    }
    const tasks = Array.from({ length: count }, () => this.#launch(definition, startedBy, overrides));
    for (const task of tasks) this.runs.push({ region, taskId: task.id, input });
    return { tasks: tasks.map((t) => this.#view(t)), failures: [] };
  }

  #launch(definition: RunnerDefinition, startedBy: string | undefined, overrides: { containerOverrides?: Array<{ environment?: Array<{ name?: string; value?: string }> }> }): OneShotTask {
    const id = randomBytes(16).toString('hex');
    const task: OneShotTask = {
      arn: `arn:aws:ecs:${definition.region}:${this.account}:task/${definition.cluster}/${id}`,
      id,
      definition,
      startedBy,
      overrides,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      createdAt: this.clock.now(),
    };
    this.tasks.push(task);
    const stop = (code: string, reason: string): void => {
      task.desiredStatus = 'STOPPED';
      task.stopCode = code;
      task.stoppedReason = reason;
      task.lastStatus = 'DEPROVISIONING';
      this.clock.after(this.clock.pick(RUN_TASK_DURATIONS.deprovisioning), () => {
        task.lastStatus = 'STOPPED';
        task.stoppedAt = this.clock.now();
      }, this.onError);
    };
    this.clock.after(this.clock.pick(RUN_TASK_DURATIONS.provisioning), () => {
      task.lastStatus = 'PENDING';
      // ECS fetches the secrets while the task is pending; one it cannot read stops the task before the container runs.
      const secrets: Record<string, string> = {};
      for (const [name, from] of Object.entries(definition.secrets)) {
        const raw = this.secretValue(definition.region, from.secretId);
        let value: unknown = raw;
        if (raw !== undefined && from.jsonKey !== undefined) value = (JSON.parse(raw) as Record<string, unknown>)[from.jsonKey];
        if (typeof value !== 'string') {
          stop('TaskFailedToStart', `ResourceInitializationError: unable to pull secrets or registry auth: retrieve secret from ${from.secretId}${from.jsonKey === undefined ? '' : ` (key ${from.jsonKey})`} failed`);
          return;
        }
        secrets[name] = value;
      }
      this.clock.after(this.clock.pick(RUN_TASK_DURATIONS.pending), () => {
        const environment: Record<string, string> = { ...this.process.imageEnvironment, ...definition.environment, ...secrets };
        for (const o of overrides.containerOverrides ?? []) for (const v of o.environment ?? []) if (v.name !== undefined) environment[v.name] = v.value ?? '';
        this.#run(task, environment, (exitCode, reason) => {
          task.exitCode = exitCode;
          if (reason !== undefined) task.containerReason = reason;
          stop('EssentialContainerExited', 'Essential container in task exited');
        });
      }, this.onError);
    }, this.onError);
    return task;
  }

  /** The container: the entry point as a process whose output lines become log events. */
  #run(task: OneShotTask, environment: Record<string, string>, exited: (code: number, reason?: string) => void): void {
    const { region, logGroup, streamPrefix, containerName } = task.definition;
    const stream = `${streamPrefix}/${containerName}/${task.id}`;
    this.logs.createStream(region, logGroup, stream);
    task.lastStatus = 'RUNNING';
    task.startedAt = this.clock.now();
    const child = spawn(this.process.command, [...this.process.args], { cwd: this.process.cwd, env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [child.stdout, child.stderr].map(
      (out) =>
        new Promise<void>((resolve) => {
          const reader = createInterface({ input: out });
          reader.on('line', (line) => this.logs.put(region, logGroup, stream, line));
          reader.on('close', () => resolve());
        }),
    );
    const killer = setTimeout(() => child.kill('SIGKILL'), this.process.killAfterMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(killer);
      this.onError(error);
      exited(255, `CannotStartContainerError: ${error.message}`);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      // The log driver has sent every line before the task reports the container stopped.
      void Promise.all(lines).then(() => exited(code ?? (signal === 'SIGKILL' ? 137 : 128), signal === null ? undefined : `killed by ${signal}`));
    });
  }

  #view(task: OneShotTask): Record<string, unknown> {
    const { region, cluster, taskDefinitionArn, containerName } = task.definition;
    const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);
    return {
      taskArn: task.arn,
      clusterArn: `arn:aws:ecs:${region}:${this.account}:cluster/${cluster}`,
      taskDefinitionArn,
      startedBy: task.startedBy,
      launchType: 'FARGATE',
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      createdAt: seconds(task.createdAt),
      startedAt: seconds(task.startedAt),
      stoppedAt: seconds(task.stoppedAt),
      stopCode: task.stopCode,
      stoppedReason: task.stoppedReason,
      overrides: task.overrides,
      containers: [{ name: containerName, lastStatus: task.exitCode !== undefined || task.lastStatus === 'STOPPED' ? 'STOPPED' : task.lastStatus === 'RUNNING' ? 'RUNNING' : 'PENDING', exitCode: task.exitCode, reason: task.containerReason }],
    };
  }
}
