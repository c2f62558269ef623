/**
 * @module ECS (Fargate services) in the stand-in: one service of node tasks per region, the
 * service scheduler that replaces a stopped task, the task lifecycle, and the filters of
 * ListTasks. Each running task answers HTTP on its own loopback address (its "ENI"), serving
 * `/health` and `/health?details` from `nodeHealth` (in the tests: the epoch a node of that region
 * would report, read from the region's database), so the drill reads node epochs the way it does
 * from real tasks.
 *
 * Operations: ListTasks, DescribeTasks, DescribeServices, StopTask.
 */
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { AwsError } from './protocol.js';
import type { DurationRange, StandinClock } from './clock.js';

/**
 * Documented durations (seconds). A Fargate task goes PROVISIONING → PENDING → ACTIVATING →
 * RUNNING, and on stop DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html);
 * a stopped task gets SIGTERM and 30 s (stopTimeout) before SIGKILL
 * (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html). The service
 * scheduler notices a missing task and launches a replacement
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html); the container
 * health check reports HEALTHY after its start period and passing intervals
 * (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html).
 */
export const ECS_DURATIONS = {
  launch: { min: 30, max: 90 },
  healthy: { min: 30, max: 60 },
  stopping: { min: 2, max: 10 },
  stop: { min: 10, max: 30 },
  schedulerReaction: { min: 5, max: 30 },
} satisfies Record<string, DurationRange>;

export interface NodeHealth {
  readonly status: string;
  readonly epoch: number | null;
  readonly lock_home: string | null;
}

export interface EcsTask {
  readonly arn: string;
  readonly id: string;
  readonly region: string;
  readonly cluster: string;
  readonly service: string;
  lastStatus: string;
  desiredStatus: 'RUNNING' | 'STOPPED';
  healthStatus: 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY';
  readonly ip: string;
  readonly createdAt: number;
  startedAt: number | undefined;
  stoppedAt: number | undefined;
  stoppedReason: string | undefined;
  server: Server | undefined;
}

export interface EcsServiceState {
  readonly region: string;
  readonly cluster: string;
  readonly name: string;
  desiredCount: number;
}

export class EcsService {
  readonly tasks: EcsTask[] = [];
  readonly services: EcsServiceState[] = [];
  #nextAddress = 2;

  constructor(
    private readonly clock: StandinClock,
    private readonly account: string,
    /** Port every task's container listens on (each task has its own loopback address). */
    readonly nodePort: number,
    private readonly nodeHealth: (region: string, taskId: string) => Promise<NodeHealth>,
    private readonly onError: (error: unknown) => void,
  ) {}

  addService(region: string, cluster: string, name: string, desiredCount: number): void {
    this.services.push({ region, cluster, name, desiredCount });
  }

  /** Starts every service's tasks at once, already running and healthy (the deployment as it stands). */
  async startAll(): Promise<void> {
    for (const service of this.services) {
      for (let i = 0; i < service.desiredCount; i++) {
        const task = this.#newTask(service);
        task.lastStatus = 'RUNNING';
        task.healthStatus = 'HEALTHY';
        task.startedAt = this.clock.now();
        await this.#listen(task);
      }
    }
  }

  #newTask(service: EcsServiceState): EcsTask {
    const id = randomBytes(16).toString('hex');
    const n = this.#nextAddress++;
    const task: EcsTask = {
      arn: `arn:aws:ecs:${service.region}:${this.account}:task/${service.cluster}/${id}`,
      id,
      region: service.region,
      cluster: service.cluster,
      service: service.name,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      healthStatus: 'UNKNOWN',
      ip: `127.0.${Math.floor(n / 250) + 1}.${(n % 250) + 2}`,
      createdAt: this.clock.now(),
      startedAt: undefined,
      stoppedAt: undefined,
      stoppedReason: undefined,
      server: undefined,
    };
    this.tasks.push(task);
    return task;
  }

  async #listen(task: EcsTask): Promise<void> {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://task');
      if (task.lastStatus !== 'RUNNING' || url.pathname !== '/health') {
        response.writeHead(url.pathname === '/health' ? 503 : 404).end();
        return;
      }
      if (!url.searchParams.has('details')) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      this.nodeHealth(task.region, task.id).then(
        (health) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(health)),
        () => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', epoch: null, lock_home: null })),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.nodePort, task.ip, () => resolve());
    });
    task.server = server;
  }

  #closeServer(task: EcsTask): void {
    task.server?.closeAllConnections();
    task.server?.close();
    task.server = undefined;
  }

  /** The service scheduler: launches a task for each one missing from the desired count. */
  #schedule(service: EcsServiceState): void {
    this.clock.after(this.clock.pick(ECS_DURATIONS.schedulerReaction), async () => {
      const wanted = this.tasks.filter((t) => t.service === service.name && t.region === service.region && t.desiredStatus === 'RUNNING').length;
      for (let i = wanted; i < service.desiredCount; i++) {
        const task = this.#newTask(service);
        task.lastStatus = 'PENDING';
        this.clock.after(this.clock.pick(ECS_DURATIONS.launch), async () => {
          if (task.desiredStatus !== 'RUNNING') return;
          await this.#listen(task);
          task.lastStatus = 'RUNNING';
          task.startedAt = this.clock.now();
          this.clock.after(this.clock.pick(ECS_DURATIONS.healthy), () => {
            if (task.lastStatus === 'RUNNING') task.healthStatus = 'HEALTHY';
          }, this.onError);
        }, this.onError);
      }
    }, this.onError);
  }

  #cluster(region: string, cluster: string | undefined): string {
    const name = cluster ?? 'default';
    const short = name.includes('/') ? (name.split('/').pop() ?? name) : name;
    if (!this.services.some((s) => s.region === region && s.cluster === short)) throw new AwsError('ClusterNotFoundException', 'Cluster not found.');
    return short;
  }

  #task(region: string, cluster: string, ref: string): EcsTask | undefined {
    const id = ref.includes('/') ? ref.split('/').pop() : ref;
    return this.tasks.find((t) => t.region === region && t.cluster === cluster && t.id === id);
  }

  #view(task: EcsTask): Record<string, unknown> {
    return {
      taskArn: task.arn,
      clusterArn: `arn:aws:ecs:${task.region}:${this.account}:cluster/${task.cluster}`,
      group: `service:${task.service}`,
      startedBy: `ecs-svc/${task.service}`,
      launchType: 'FARGATE',
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      healthStatus: task.healthStatus,
      createdAt: task.createdAt / 1000,
      startedAt: task.startedAt === undefined ? undefined : task.startedAt / 1000,
      stoppedAt: task.stoppedAt === undefined ? undefined : task.stoppedAt / 1000,
      stoppedReason: task.stoppedReason,
      stopCode: task.stoppedReason === undefined ? undefined : 'UserInitiated',
      attachments: [{ type: 'ElasticNetworkInterface', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: task.ip }] }],
      containers: [{ name: 'node', lastStatus: task.lastStatus, healthStatus: task.healthStatus, networkInterfaces: [{ privateIpv4Address: task.ip }] }],
    };
  }

  handle(region: string, operation: string, input: Record<string, unknown>): unknown {
    const str = (name: string): string | undefined => (typeof input[name] === 'string' ? (input[name] as string) : undefined);
    switch (operation) {
      case 'ListTasks': {
        const cluster = this.#cluster(region, str('cluster'));
        const serviceName = str('serviceName');
        if (serviceName !== undefined && !this.services.some((s) => s.region === region && s.cluster === cluster && s.name === serviceName)) throw new AwsError('ServiceNotFoundException', 'Service not found.');
        // "The default status filter is RUNNING, which shows tasks that Amazon ECS has set the
        // desired status to RUNNING." A stopped task leaves this list the moment StopTask sets its
        // desired status, long before it stops; "Specifying a desiredStatus of STOPPED limits the
        // results to tasks that Amazon ECS has set the desired status to STOPPED", which stay
        // listed for at least an hour.
        // (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html)
        const desired = str('desiredStatus') ?? 'RUNNING';
        const arns = this.tasks.filter((t) => t.region === region && t.cluster === cluster && (serviceName === undefined || t.service === serviceName) && t.desiredStatus === desired).map((t) => t.arn);
        return { taskArns: arns };
      }
      case 'DescribeTasks': {
        const cluster = this.#cluster(region, str('cluster'));
        const refs = Array.isArray(input['tasks']) ? (input['tasks'] as unknown[]).filter((t): t is string => typeof t === 'string') : [];
        // "You can describe up to 100 tasks" (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html)
        if (refs.length === 0 || refs.length > 100) throw new AwsError('InvalidParameterException', 'tasks must name 1 to 100 tasks');
        const found = refs.map((ref) => ({ ref, task: this.#task(region, cluster, ref) }));
        return {
          tasks: found.flatMap(({ task }) => (task === undefined ? [] : [this.#view(task)])),
          failures: found.flatMap(({ ref, task }) => (task === undefined ? [{ arn: ref, reason: 'MISSING' }] : [])),
        };
      }
      case 'DescribeServices': {
        const cluster = this.#cluster(region, str('cluster'));
        const names = Array.isArray(input['services']) ? (input['services'] as unknown[]).filter((t): t is string => typeof t === 'string') : [];
        const services = names.flatMap((name) => this.services.filter((s) => s.region === region && s.cluster === cluster && s.name === (name.split('/').pop() ?? name)));
        return {
          services: services.map((s) => {
            const mine = this.tasks.filter((t) => t.region === region && t.service === s.name);
            // runningCount: "The number of tasks in the cluster that are in the RUNNING state" —
            // a task told to stop counts until it has stopped.
            // (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html)
            return {
              serviceName: s.name,
              serviceArn: `arn:aws:ecs:${region}:${this.account}:service/${cluster}/${s.name}`,
              status: 'ACTIVE',
              desiredCount: s.desiredCount,
              runningCount: mine.filter((t) => t.lastStatus === 'RUNNING').length,
              pendingCount: mine.filter((t) => t.lastStatus === 'PENDING' || t.lastStatus === 'PROVISIONING').length,
              launchType: 'FARGATE',
            };
          }),
          failures: [],
        };
      }
      case 'StopTask': {
        const cluster = this.#cluster(region, str('cluster'));
        const ref = str('task') ?? '';
        const task = this.#task(region, cluster, ref);
        if (task === undefined) throw new AwsError('InvalidParameterException', `The referenced task was not found.`);
        if (task.desiredStatus === 'RUNNING') {
          task.desiredStatus = 'STOPPED';
          task.stoppedReason = str('reason') ?? 'Task stopped by user';
          // The process gets SIGTERM at once and stops answering, while ECS still reports the task
          // RUNNING (and counts it in runningCount) until it winds down through STOPPING.
          this.#closeServer(task);
          this.clock.after(this.clock.pick(ECS_DURATIONS.stopping), () => {
            task.lastStatus = 'STOPPING';
            this.clock.after(this.clock.pick(ECS_DURATIONS.stop), () => {
              task.lastStatus = 'STOPPED';
              task.stoppedAt = this.clock.now();
              task.healthStatus = 'UNKNOWN';
            }, this.onError);
          }, this.onError);
          const service = this.services.find((s) => s.region === region && s.name === task.service);
          if (service !== undefined) this.#schedule(service);
        }
        return { task: this.#view(task) };
      }
      default:
        throw new AwsError('InvalidAction', `ECS ${operation} is not implemented by the stand-in`);
    }
  }

  close(): void {
    for (const task of this.tasks) this.#closeServer(task);
  }
}
