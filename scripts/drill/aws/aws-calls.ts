/**
 * @module How the AWS drill provider talks to AWS: one SDK client per service and AWS region,
 * each with a connection and a request timeout and *no* SDK-level retries (`maxAttempts: 1`),
 * and one retry policy of our own on top of them (`AwsCalls.send`):
 *
 * - throttling (`ThrottlingException`, `Throttling`, Route 53's `PriorRequestNotComplete`, and
 *   the other names in `THROTTLING_ERRORS`, or an error the SDK marks `$retryable.throttling`) is
 *   retried with exponential backoff and full jitter, at most `retry.maxAttempts` attempts in all,
 *   then fails with an error naming the call and the attempts;
 * - every other error surfaces at once: the drill decides (a fence on an unreachable region
 *   answers `unreachable`, a promotion retries a replica that is not promotable yet, ...).
 *
 * The retries live here rather than in the SDK so they are the same for every client, visible in
 * one place, and exercised by the tests (a mocked client's `send` bypasses the SDK's middleware).
 * `waitFor` is the one polling loop (bounded, with the injected clock so tests do not sleep).
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ControlClient } from '@aws-sdk/client-s3-control';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Error names that mean "slow down", across the services the provider calls. */
export const THROTTLING_ERRORS: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'PriorRequestNotComplete',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

/** Names and codes of errors that mean the service (or the network to it) did not answer. */
const UNREACHABLE_ERRORS: ReadonlySet<string> = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  // Thrown by EpochSql when the database does not accept a connection.
  'DatabaseUnreachable',
]);

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface RetryPolicy {
  /** Attempts in all for a throttled call (the first one included). */
  readonly maxAttempts: number;
  /** Backoff before retry n (1-based) is random in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))]. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 5000 };

export interface ClientTimeouts {
  /** TCP (and TLS) connection setup. */
  readonly connectionMs: number;
  /** No byte received for this long ends the request. */
  readonly requestMs: number;
}

export const DEFAULT_TIMEOUTS: ClientTimeouts = { connectionMs: 3000, requestMs: 15_000 };

function errorName(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const e = error as { name?: unknown; code?: unknown; Code?: unknown };
  for (const value of [e.name, e.code, e.Code]) if (typeof value === 'string' && value !== 'Error') return value;
  return '';
}

/** True when `error` (or its code) is one of `names`. */
export function isError(error: unknown, ...names: string[]): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; code?: unknown; Code?: unknown };
  return names.some((n) => e.name === n || e.code === n || e.Code === n);
}

export function isThrottling(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const retryable = (error as { $retryable?: { throttling?: boolean } }).$retryable;
  return retryable?.throttling === true || THROTTLING_ERRORS.has(errorName(error));
}

/** The service or the path to it is down: timeouts, connection errors, 5xx. */
export function isUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (UNREACHABLE_ERRORS.has(errorName(error))) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isUnreachable(cause);
}

/** Describe*, List*, Get* and TestDNSAnswer: calls that change nothing, safe to send twice. */
const READ_ONLY_CALL = /(^|\s)(Describe|List|Get|Test)[A-Z]\w*/;
const MAX_RESET_RETRIES = 2;

/** The connection was reset or closed under the request (not a timeout: that may be an outage). */
export function isConnectionReset(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const name = errorName(error);
  if (name === 'ECONNRESET' || name === 'EPIPE') return true;
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isConnectionReset(cause);
}

export function describeError(error: unknown): string {
  const name = errorName(error);
  const message = error instanceof Error ? error.message : String(error);
  return name !== '' && !message.startsWith(name) ? `${name}: ${message}` : message;
}

export interface AwsCallsOptions {
  readonly timeouts?: ClientTimeouts;
  readonly retry?: RetryPolicy;
  readonly clock?: Clock;
  /** [0, 1) source for the backoff jitter. */
  readonly random?: () => number;
  /** Credentials for every client (default: the SDK's default chain). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /**
   * One endpoint for every service and region (the AWS stand-in, scripts/aws-standin): each client
   * keeps its region for signing and its whole middleware; S3 uses path-style addressing and S3
   * Control no account host prefix, since the endpoint is one loopback host.
   */
  readonly endpoint?: string;
}

export class AwsCalls {
  readonly timeouts: ClientTimeouts;
  readonly retry: RetryPolicy;
  readonly clock: Clock;
  readonly #random: () => number;
  readonly #credentials: AwsCallsOptions['credentials'];
  readonly #endpoint: string | undefined;
  readonly #clients = new Map<string, unknown>();

  constructor(options: AwsCallsOptions = {}) {
    this.timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
    this.retry = options.retry ?? DEFAULT_RETRY;
    if (this.retry.maxAttempts < 1) throw new Error('aws drill provider: retry.maxAttempts must be at least 1');
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.#random = options.random ?? Math.random;
    this.#credentials = options.credentials;
    this.#endpoint = options.endpoint;
  }

  /** Settings every client gets: timeouts, no SDK retries (ours are in `send`), credentials. */
  #config(region: string) {
    return {
      region,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ connectionTimeout: this.timeouts.connectionMs, requestTimeout: this.timeouts.requestMs }),
      ...(this.#credentials === undefined ? {} : { credentials: this.#credentials }),
      ...(this.#endpoint === undefined ? {} : { endpoint: this.#endpoint }),
    };
  }

  #client<T>(kind: string, region: string, make: () => T): T {
    const key = `${kind}@${region}`;
    let client = this.#clients.get(key) as T | undefined;
    if (client === undefined) {
      client = make();
      this.#clients.set(key, client);
    }
    return client;
  }

  /** Route 53's API is global; its endpoint is in us-east-1. */
  route53(): Route53Client {
    return this.#client('route53', 'us-east-1', () => new Route53Client(this.#config('us-east-1')));
  }
  rds(region: string): RDSClient {
    return this.#client('rds', region, () => new RDSClient(this.#config(region)));
  }
  elastiCache(region: string): ElastiCacheClient {
    return this.#client('elasticache', region, () => new ElastiCacheClient(this.#config(region)));
  }
  ecs(region: string): ECSClient {
    return this.#client('ecs', region, () => new ECSClient(this.#config(region)));
  }
  /** CloudWatch Logs: the drill SQL runner's result line (./sql-reach-ecs.ts). */
  logs(region: string): CloudWatchLogsClient {
    return this.#client('logs', region, () => new CloudWatchLogsClient(this.#config(region)));
  }
  ssm(region: string): SSMClient {
    return this.#client('ssm', region, () => new SSMClient(this.#config(region)));
  }
  secrets(region: string): SecretsManagerClient {
    return this.#client('secrets', region, () => new SecretsManagerClient(this.#config(region)));
  }
  s3(region: string): S3Client {
    return this.#client('s3', region, () => new S3Client({ ...this.#config(region), ...(this.#endpoint === undefined ? {} : { forcePathStyle: true }) }));
  }
  s3Control(region: string): S3ControlClient {
    return this.#client('s3control', region, () => new S3ControlClient({ ...this.#config(region), ...(this.#endpoint === undefined ? {} : { disableHostPrefix: true }) }));
  }

  /**
   * Runs one AWS call (`send` of an SDK client), retrying throttling with backoff (see the
   * module comment). `label` names the call in errors, e.g. "Route 53 UpdateHealthCheck".
   */
  async call<O>(label: string, send: () => Promise<O>): Promise<O> {
    let resets = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        // A kept-alive connection the far end closed as the request went out: the request never
        // reached the service. A read is sent again at once, on a new connection (the SDK's own
        // retry would do the same; ours are off). A write is not: the drill's steps re-check
        // state before acting, and a resume repeats it deliberately.
        if (isConnectionReset(error) && READ_ONLY_CALL.test(label) && resets < MAX_RESET_RETRIES) {
          resets++;
          attempt--;
          continue;
        }
        if (!isThrottling(error)) throw error;
        if (attempt >= this.retry.maxAttempts) {
          throw new Error(`${label}: still throttled after ${attempt} attempts (${describeError(error)})`, { cause: error });
        }
        const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        await this.clock.sleep(Math.floor(this.#random() * ceiling));
      }
    }
  }

  /**
   * Polls `check` every `intervalMs` until it reports done, for at most `timeoutMs`; the error
   * after the deadline names `what` and the last state seen.
   */
  async waitFor<T>(what: string, check: () => Promise<{ readonly done: boolean; readonly state: string; readonly value?: T }>, intervalMs: number, timeoutMs: number): Promise<T | undefined> {
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      const result = await check();
      if (result.done) return result.value;
      if (this.clock.now() + intervalMs > deadline) {
        throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what} (last seen: ${result.state})`);
      }
      await this.clock.sleep(intervalMs);
    }
  }
}
