/**
 * @module The AWS provider's node operations on ECS: each region's service (from SSM), its tasks
 * and whether each is ready on which epoch (`/health?details`, read over HTTPS without verifying
 * the nodes' self-signed certificates: the read sends nothing secret), a node stopped by StopTask
 * (the reason naming its slot) and the wait until ECS has replaced it.
 */
import { DescribeServicesCommand, DescribeTasksCommand, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { GetParametersCommand } from '@aws-sdk/client-ssm';
import { Agent, request as undiciRequest } from 'undici';
import type { Task } from '@aws-sdk/client-ecs';
import { type Region } from '../../../regions/schema.js';
import { NODE_PORT, parameterName } from '../../../infra/config/names.js';
import type { NodeStatus } from '../provider.js';
import type { AwsContext } from './context.js';
import { describeError, isUnreachable } from './aws-calls.js';

/** The reason StopTask records for a task the drill stopped; it names the node slot. */
const STOP_REASON = /^geo-callfs drill: stopNode (\S+)$/;

/** The node half of the AWS provider. */
export class NodeTasks {
  readonly #ctx: AwsContext;
  readonly #nodeServices = new Map<string, { cluster: string; service: string }>();

  constructor(ctx: AwsContext) {
    this.#ctx = ctx;
  }

  async #nodeService(region: Region): Promise<{ cluster: string; service: string }> {
    const cached = this.#nodeServices.get(region.name);
    if (cached !== undefined) return cached;
    const names = [parameterName(region, 'node-cluster-name'), parameterName(region, 'node-service-name')];
    const out = await this.#ctx.aws.call(`SSM GetParameters ${names.join(' ')}`, () => this.#ctx.aws.ssm(region.awsRegion).send(new GetParametersCommand({ Names: names })));
    const value = (n: string): string | undefined => out.Parameters?.find((p) => p.Name === n)?.Value;
    const cluster = value(names[0] ?? '');
    const service = value(names[1] ?? '');
    if (cluster === undefined || service === undefined) throw new Error(`${region.name}: SSM parameters ${names.join(', ')} missing: redeploy the region stack (it publishes them)`);
    const found = { cluster, service };
    this.#nodeServices.set(region.name, found);
    return found;
  }

  /**
   * Nodes are the service's task slots, `<region>/<n>` for n = 1..desiredCount, matched by count
   * and readiness rather than by task id: ECS replaces a stopped task by another with a new id,
   * and ListTasks (desiredStatus RUNNING, its default) drops a task the moment it is told to stop.
   * A slot is ready while that many tasks are RUNNING, HEALTHY and answer `/health?details`; each
   * ready slot reports one such task's epoch. With k tasks missing, k slots are down: first the
   * slots the drill stopped (its StopTask reason names the slot; stopped tasks stay listed under
   * desiredStatus STOPPED for an hour), then the highest-numbered ones.
   */
  async nodeStatus(): Promise<NodeStatus[]> {
    const perRegion = await Promise.all(
      this.#ctx.regions.map(async (region): Promise<NodeStatus[]> => {
        try {
          const view = await this.#regionTasks(region);
          const ready = view.tasks.filter((t) => t.ready);
          const slots = Array.from({ length: Math.max(view.desired, view.tasks.length) }, (_, i) => `${region.name}/${i + 1}`);
          const missing = Math.max(0, slots.length - ready.length);
          const down = new Set<string>();
          for (const slot of view.stoppedSlots) if (down.size < missing && slots.includes(slot)) down.add(slot);
          for (const slot of [...slots].reverse()) if (down.size < missing) down.add(slot);
          let next = 0;
          return slots.map((id) => {
            if (down.has(id)) return { id, region: region.name, ready: false, epoch: null };
            const task = ready[next++];
            return { id, region: region.name, ready: task !== undefined, epoch: task?.epoch ?? null };
          });
        } catch (error) {
          if (!isUnreachable(error)) throw error;
          this.#ctx.log(`nodes of ${region.name}: ECS does not answer (${describeError(error)})`);
          return [];
        }
      }),
    );
    return perRegion.flat();
  }

  /** The region's service: desired count, its tasks with their readiness and epoch, the slots the drill stopped. */
  async #regionTasks(region: Region): Promise<{ desired: number; tasks: Array<{ arn: string; ready: boolean; epoch: number | null; startedAt: number }>; stoppedSlots: string[] }> {
    const { cluster, service } = await this.#nodeService(region);
    const ecs = this.#ctx.aws.ecs(region.awsRegion);
    const described = await this.#ctx.aws.call(`ECS DescribeServices ${service}`, () => ecs.send(new DescribeServicesCommand({ cluster, services: [service] })));
    const desired = described.services?.[0]?.desiredCount ?? 0;
    const list = async (desiredStatus: 'RUNNING' | 'STOPPED'): Promise<Task[]> => {
      const listed = await this.#ctx.aws.call(`ECS ListTasks ${service} ${desiredStatus}`, () => ecs.send(new ListTasksCommand({ cluster, serviceName: service, desiredStatus })));
      const arns = (listed.taskArns ?? []).slice(0, 100);
      if (arns.length === 0) return [];
      const out = await this.#ctx.aws.call(`ECS DescribeTasks ${service}`, () => ecs.send(new DescribeTasksCommand({ cluster, tasks: arns })));
      return out.tasks ?? [];
    };
    const [running, stopped] = await Promise.all([list('RUNNING'), list('STOPPED')]);
    const tasks = await Promise.all(
      running
        .sort((a, b) => (a.startedAt?.getTime() ?? Infinity) - (b.startedAt?.getTime() ?? Infinity) || (a.taskArn ?? '').localeCompare(b.taskArn ?? ''))
        .map(async (task) => {
          // The container health check probes /health (liveness); the epoch comes from the node itself.
          const healthy = task.lastStatus === 'RUNNING' && task.healthStatus === 'HEALTHY';
          const ip = task.attachments?.flatMap((a) => a.details ?? []).find((d) => d.name === 'privateIPv4Address')?.value;
          const details = healthy && ip !== undefined ? await this.#nodeDetails(ip) : null;
          return { arn: task.taskArn ?? '', ready: details !== null, epoch: details?.epoch ?? null, startedAt: task.startedAt?.getTime() ?? 0 };
        }),
    );
    const stoppedSlots = stopped
      .sort((a, b) => (b.stoppingAt?.getTime() ?? b.stoppedAt?.getTime() ?? 0) - (a.stoppingAt?.getTime() ?? a.stoppedAt?.getTime() ?? 0))
      .flatMap((t) => {
        const slot = STOP_REASON.exec(t.stoppedReason ?? '')?.[1];
        return slot === undefined ? [] : [slot];
      });
    return { desired, tasks, stoppedSlots };
  }

  /** `GET /health?details` of a node task on its private address; null when it does not answer 200. */
  async #nodeDetails(ip: string): Promise<{ epoch: number | null } | null> {
    const scheme = this.#ctx.options.nodeScheme ?? 'https';
    const url = `${scheme}://${ip}:${this.#ctx.options.nodePort ?? NODE_PORT}/health?details`;
    const timeoutMs = Math.min(5000, this.#ctx.aws.timeouts.requestMs);
    try {
      const injected = this.#ctx.options.fetch;
      const { status, body } =
        injected === undefined && scheme === 'https'
          ? await readUnverifiedTls(url, timeoutMs)
          : await (injected ?? fetch)(url, { signal: AbortSignal.timeout(timeoutMs) }).then(async (r) => ({ status: r.status, body: (await r.json().catch(() => null)) as unknown }));
      if (status !== 200 || typeof body !== 'object' || body === null) return null;
      const epoch = (body as { epoch?: unknown }).epoch;
      return { epoch: typeof epoch === 'number' ? epoch : null };
    } catch {
      return null;
    }
  }

  #slot(id: string): { region: Region; slot: number } {
    const match = /^([^/]+)\/(\d+)$/.exec(id);
    if (match === null) throw new Error(`node id "${id}": expected <region>/<n> as nodeStatus() reports it`);
    return { region: this.#ctx.region(match[1] ?? ''), slot: Number(match[2]) };
  }

  /** Stops one ready task of the slot's region, naming the slot in the stop reason (so `nodeStatus` reports that slot down). */
  async stopNode(id: string): Promise<string> {
    const { region, slot } = this.#slot(id);
    const { cluster } = await this.#nodeService(region);
    const view = await this.#regionTasks(region);
    const ready = view.tasks.filter((t) => t.ready);
    const task = ready[Math.min(slot, ready.length) - 1];
    if (task === undefined) return `${id}: no ready task in ${region.name} to stop (${view.tasks.length} task(s) listed, ${view.desired} desired)`;
    await this.#ctx.aws.call(`ECS StopTask ${task.arn}`, () => this.#ctx.aws.ecs(region.awsRegion).send(new StopTaskCommand({ cluster, task: task.arn, reason: `geo-callfs drill: stopNode ${id}` })));
    return `${id}: ECS task ${task.arn.split('/').pop() ?? '?'} stopped (the service replaces it with a new task)`;
  }

  /** Waits until the slot's region runs its desired count of ready tasks again (ECS replaces a stopped task by itself). */
  async startNode(id: string): Promise<string> {
    const { region } = this.#slot(id);
    const counts = await this.#ctx.aws.waitFor(
      `${region.name} to run its desired count of ready tasks again`,
      async () => {
        const view = await this.#regionTasks(region);
        const ready = view.tasks.filter((t) => t.ready).length;
        return { done: view.desired > 0 && ready >= view.desired, state: `${ready}/${view.desired} ready`, value: `${ready}/${view.desired}` };
      },
      this.#ctx.timings.pollIntervalMs,
      this.#ctx.timings.nodeReplaceTimeoutMs,
    );
    return `${id}: ${region.name} runs ${counts ?? '?'} ready tasks again`;
  }
}

/** GET of a node's JSON over HTTPS without verifying its self-signed certificate (health reads only). */
async function readUnverifiedTls(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false, timeout: timeoutMs } });
  try {
    const response = await undiciRequest(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.statusCode, body: await response.body.json().catch(() => null) };
  } finally {
    await dispatcher.close();
  }
}
