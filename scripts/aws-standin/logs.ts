/**
 * @module CloudWatch Logs in the stand-in: log groups and streams that the one-shot tasks
 * (./ecs-run-task.ts) write to as the awslogs driver does, read back with GetLogEvents.
 *
 * - JSON 1.1 protocol, `X-Amz-Target: Logs_20140328.<Operation>`, signing name `logs`
 *   (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonParameters.html).
 * - GetLogEvents: "By default, this operation returns as many log events as can fit in a
 *   response size of 1 MB (up to 10,000 log events)"; with `startFromHead` the oldest first;
 *   "If you have reached the end of the stream, it returns the same token you passed in."; a
 *   stream that does not exist is `ResourceNotFoundException` "The specified log stream does not
 *   exist." (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html)
 * - The awslogs driver creates the stream `prefix/container/task-id` when the container starts
 *   and sends each line of stdout and stderr as one event
 *   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html).
 *
 * Operations: GetLogEvents.
 */
import { AwsError } from './protocol.js';

export interface LogEvent {
  readonly timestamp: number;
  readonly ingestionTime: number;
  readonly message: string;
}

/** Documented limit of one GetLogEvents page. */
const MAX_EVENTS_PER_PAGE = 10_000;

export class LogsService {
  /** `<aws region>:<group>` → stream name → events. */
  readonly #groups = new Map<string, Map<string, LogEvent[]>>();

  addGroup(region: string, group: string): void {
    if (!this.#groups.has(`${region}:${group}`)) this.#groups.set(`${region}:${group}`, new Map());
  }

  /** A stream appears when its container starts (awslogs). */
  createStream(region: string, group: string, stream: string): void {
    const streams = this.#groups.get(`${region}:${group}`);
    if (streams === undefined) throw new Error(`aws stand-in: no log group ${group} in ${region}`);
    if (!streams.has(stream)) streams.set(stream, []);
  }

  put(region: string, group: string, stream: string, message: string): void {
    const events = this.#groups.get(`${region}:${group}`)?.get(stream);
    if (events === undefined) throw new Error(`aws stand-in: no log stream ${group}/${stream} in ${region}`);
    const now = Date.now();
    events.push({ timestamp: now, ingestionTime: now, message });
  }

  /** Every message of a stream (the tests' view). */
  messages(region: string, group: string, stream: string): string[] {
    return (this.#groups.get(`${region}:${group}`)?.get(stream) ?? []).map((e) => e.message);
  }

  handle(region: string, operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'GetLogEvents': {
        const group = typeof input['logGroupName'] === 'string' ? input['logGroupName'] : '';
        const name = typeof input['logStreamName'] === 'string' ? input['logStreamName'] : '';
        if (group === '' || name === '') throw new AwsError('InvalidParameterException', 'logGroupName and logStreamName are required');
        const streams = this.#groups.get(`${region}:${group}`);
        if (streams === undefined) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
        const events = streams.get(name);
        if (events === undefined) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
        const limit = typeof input['limit'] === 'number' ? Math.min(MAX_EVENTS_PER_PAGE, input['limit']) : MAX_EVENTS_PER_PAGE;
        const token = typeof input['nextToken'] === 'string' ? input['nextToken'] : undefined;
        // Tokens are `f/<index>` (forward) and `b/<index>` (backward), opaque to callers.
        const parsed = token === undefined ? null : /^([fb])\/(\d+)$/.exec(token);
        if (token !== undefined && parsed === null) throw new AwsError('InvalidParameterException', 'The specified nextToken is invalid.');
        const fromHead = input['startFromHead'] === true;
        const start = parsed !== null ? Number(parsed[2]) : fromHead ? 0 : Math.max(0, events.length - limit);
        const page = events.slice(start, start + limit);
        const end = start + page.length;
        return {
          events: page.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })),
          // At the end of the stream the forward token is the one passed in.
          nextForwardToken: page.length === 0 && token !== undefined ? token : `f/${end}`,
          nextBackwardToken: `b/${start}`,
        };
      }
      default:
        throw new AwsError('InvalidAction', `CloudWatch Logs ${operation} is not implemented by the stand-in`);
    }
  }
}
