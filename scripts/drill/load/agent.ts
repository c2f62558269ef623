/**
 * @module The drill's load agent: one per client region, run inside that region's network
 * namespace so the global hostname resolves as it does for a user there. It writes small files
 * (`POST /v1/files/drill/<runId>/<region>/<seq>` asking for synchronous replication of local-disk
 * files with `X-CallFS-Replication: sync`, each path used once, never retried) and reads
 * back random earlier acknowledged ones, checking their sha256, and appends one JSON line per
 * operation to its output file (a killed agent leaves only whole lines, at most a torn last one).
 *
 * A write is acknowledged only by a 2xx answer. One that timed out or lost its connection after
 * it was sent may or may not have landed: it is recorded `unknown`, never as acknowledged, and
 * its path is not used again (a retry could only answer 409 and prove nothing).
 *
 * The agent is bounded: it stops starting operations at its deadline, when its stop file
 * appears, or when aborted, and finishes the ones in flight (each has a timeout).
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { httpCall, type HttpResult } from './http-client.js';

/** No agent runs longer than this, whatever it is asked. */
export const MAX_AGENT_DURATION_MS = 15 * 60_000;

export interface AgentOptions {
  /** Base URL through the global hostname, e.g. `http://api.rehearsal.test:8443`. */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** The client region this agent plays (a path segment, so letters, digits, `.`, `_`, `-`). */
  readonly region: string;
  readonly runId: string;
  /** Time between the starts of two writes (one write in flight at a time). */
  readonly writeIntervalMs: number;
  /** Time between the starts of two reads (one read in flight at a time). */
  readonly readIntervalMs: number;
  /** Hard bound: no operation starts after this long; at most `MAX_AGENT_DURATION_MS`. */
  readonly maxDurationMs: number;
  /** The agent stops once this file exists; null: no stop file. */
  readonly stopFile: string | null;
  /** JSON-lines output, appended to. */
  readonly output: string;
  /** Deadline of each request (resolution, connection, body). */
  readonly requestTimeoutMs: number;
  /** Random bytes in each file (hex-encoded, so the body is about twice as long). */
  readonly randomBytes: number;
}

export type OpKind = 'write' | 'read';

/**
 * `ok`: a write acknowledged (2xx) or a read answered 2xx with the expected bytes. `failed`: a
 * definite failure (no connection, or an error status). `unknown`: a write sent whose outcome never
 * came back (timeout, reset) or answered by a gateway error (502, 504). `conflict`: a write answered
 * 409 (its path existed already). `mismatch`: a read answered 2xx with other bytes.
 */
export type OpOutcome = 'ok' | 'failed' | 'unknown' | 'conflict' | 'mismatch';

export interface OpRecord {
  /** Start, epoch ms. */
  readonly t: number;
  /** Duration. */
  readonly ms: number;
  readonly op: OpKind;
  readonly region: string;
  /** The file path (`/drill/<runId>/<region>/<seq>`), not the URL. */
  readonly path: string;
  /** The sequence number of the file written, or of the file read. */
  readonly seq: number;
  /** HTTP status, 0 when no answer came. */
  readonly status: number;
  readonly outcome: OpOutcome;
  readonly error?: string;
  /** `X-CallFS-Served-By` of the answer. */
  readonly servedBy: string | null;
  /** The address the hostname resolved to for this request. */
  readonly resolved: string | null;
  /** sha256 (hex) of the bytes sent (write) or received (read). */
  readonly sha: string | null;
  /** `Retry-After` of a failed answer, when it had one. */
  readonly retryAfter?: string | null;
}

export interface AgentSummary {
  readonly writes: number;
  readonly acknowledged: number;
  readonly unknown: number;
  readonly reads: number;
  readonly readsOk: number;
  readonly stoppedBy: 'deadline' | 'stop-file' | 'signal';
  readonly ranMs: number;
}

const SEGMENT = /^[A-Za-z0-9._-]{1,64}$/;

function numberIn(value: unknown, name: string, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) throw new Error(`load agent option ${name}: ${JSON.stringify(value)} is not a number in ${min}..${max}`);
  return value;
}

function stringOf(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`load agent option ${name}: a non-empty string is required`);
  return value;
}

/** Validates the agent's options (the JSON its process receives); throws naming the bad one. */
export function parseAgentOptions(input: unknown): AgentOptions {
  if (typeof input !== 'object' || input === null) throw new Error('load agent options: a JSON object is required');
  const o = input as Record<string, unknown>;
  const baseUrl = stringOf(o['baseUrl'], 'baseUrl').replace(/\/+$/, '');
  if (!/^http:\/\/[^/]+$/.test(baseUrl)) throw new Error(`load agent option baseUrl: "${baseUrl}" is not http://host[:port]`);
  const region = stringOf(o['region'], 'region');
  const runId = stringOf(o['runId'], 'runId');
  for (const [name, value] of [['region', region], ['runId', runId]] as const) {
    if (!SEGMENT.test(value)) throw new Error(`load agent option ${name}: "${value}" may only hold letters, digits, ".", "_" and "-"`);
  }
  const stopFile = o['stopFile'];
  if (stopFile !== undefined && stopFile !== null && typeof stopFile !== 'string') throw new Error('load agent option stopFile: a path or null is required');
  return {
    baseUrl,
    apiKey: stringOf(o['apiKey'], 'apiKey'),
    region,
    runId,
    writeIntervalMs: numberIn(o['writeIntervalMs'], 'writeIntervalMs', 1, 600_000, 500),
    readIntervalMs: numberIn(o['readIntervalMs'], 'readIntervalMs', 1, 600_000, 500),
    maxDurationMs: numberIn(o['maxDurationMs'], 'maxDurationMs', 1, MAX_AGENT_DURATION_MS),
    stopFile: typeof stopFile === 'string' && stopFile !== '' ? stopFile : null,
    output: stringOf(o['output'], 'output'),
    requestTimeoutMs: numberIn(o['requestTimeoutMs'], 'requestTimeoutMs', 100, 60_000, 5000),
    randomBytes: numberIn(o['randomBytes'], 'randomBytes', 0, 1 << 20, 64),
  };
}

export function drillPath(runId: string, region: string, seq: number): string {
  return `/drill/${runId}/${region}/${seq}`;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Whether `op` is a write the service acknowledged (and so must never lose). */
export function isAcknowledgedWrite(op: OpRecord): boolean {
  return op.op === 'write' && op.outcome === 'ok';
}

/** How a write's answer is classified. */
export function writeOutcome(result: Pick<HttpResult, 'status' | 'connected'>): OpOutcome {
  if (result.status >= 200 && result.status < 300) return 'ok';
  if (result.status === 409) return 'conflict';
  if (result.status === 502 || result.status === 504) return 'unknown';
  if (result.status === 0) return result.connected ? 'unknown' : 'failed';
  return 'failed';
}

/** Parses an agent's JSON-lines output; a torn or foreign line (a killed agent) is skipped. */
export function parseOpLog(text: string): OpRecord[] {
  const ops: OpRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as Partial<OpRecord>;
      if ((value.op === 'write' || value.op === 'read') && typeof value.t === 'number' && typeof value.path === 'string' && typeof value.status === 'number' && typeof value.outcome === 'string') {
        ops.push(value as OpRecord);
      }
    } catch {
      // a line cut short by a kill
    }
  }
  return ops;
}

export function readOpLog(file: string): OpRecord[] {
  return existsSync(file) ? parseOpLog(readFileSync(file, 'utf8')) : [];
}

interface Written {
  readonly seq: number;
  readonly path: string;
  readonly sha: string;
}

export interface AgentHooks {
  /** Stops the agent like its stop file does (the process's SIGTERM). */
  readonly signal?: AbortSignal;
}

/** Runs the agent until its deadline, its stop file or `hooks.signal`; resolves once every operation in flight has ended. */
export async function runAgent(options: AgentOptions, hooks: AgentHooks = {}): Promise<AgentSummary> {
  const startedAt = Date.now();
  const deadline = startedAt + Math.min(options.maxDurationMs, MAX_AGENT_DURATION_MS);
  let stoppedBy: AgentSummary['stoppedBy'] | null = null;
  const shouldStop = (): boolean => {
    if (stoppedBy !== null) return true;
    if (hooks.signal?.aborted === true) stoppedBy = 'signal';
    else if (Date.now() >= deadline) stoppedBy = 'deadline';
    else if (options.stopFile !== null && existsSync(options.stopFile)) stoppedBy = 'stop-file';
    return stoppedBy !== null;
  };
  /** Waits up to `ms`, waking early when the agent must stop. */
  const pause = async (ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (!shouldStop() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, Math.min(100, until - Date.now())));
  };
  const record = (op: OpRecord): void => {
    appendFileSync(options.output, JSON.stringify(op) + '\n');
  };
  const auth = { Authorization: `Bearer ${options.apiKey}` };
  const acknowledged: Written[] = [];
  let token: string | null = null;
  let seq = 0;
  const counts = { writes: 0, acknowledged: 0, unknown: 0, reads: 0, readsOk: 0 };

  const writeOne = async (): Promise<void> => {
    const n = ++seq;
    const path = drillPath(options.runId, options.region, n);
    const body = Buffer.from(`drill ${options.runId} ${options.region} seq=${n}\n${randomBytes(options.randomBytes).toString('hex')}\n`);
    const sha = sha256(body);
    const t = Date.now();
    const result = await httpCall({ method: 'POST', url: `${options.baseUrl}/v1/files${path}`, headers: { ...auth, 'Content-Type': 'application/octet-stream', 'X-CallFS-Replication': 'sync' }, body, timeoutMs: options.requestTimeoutMs });
    const outcome = writeOutcome(result);
    counts.writes++;
    if (outcome === 'ok') {
      counts.acknowledged++;
      acknowledged.push({ seq: n, path, sha });
      token = result.headers['x-callfs-consistency-token'] ?? token;
    } else if (outcome === 'unknown') counts.unknown++;
    record({
      t, ms: result.ms, op: 'write', region: options.region, path, seq: n, status: result.status, outcome,
      ...(result.error !== undefined ? { error: result.error } : outcome !== 'ok' ? { error: errorFromBody(result.body) } : {}),
      servedBy: result.headers['x-callfs-served-by'] ?? null, resolved: result.resolved, sha,
      ...(outcome !== 'ok' && result.headers['retry-after'] !== undefined ? { retryAfter: result.headers['retry-after'] } : {}),
    });
  };

  const readOne = async (): Promise<void> => {
    const target = acknowledged[Math.floor(Math.random() * acknowledged.length)];
    if (target === undefined) return;
    const t = Date.now();
    // The consistency token of the latest write, as a browser's cookie would carry it: a read of
    // our own write must find it even on a lagging replica.
    const headers: Record<string, string> = token === null ? { ...auth } : { ...auth, 'X-CallFS-Consistency-Token': token };
    const result = await httpCall({ method: 'GET', url: `${options.baseUrl}/v1/files${target.path}`, headers, timeoutMs: options.requestTimeoutMs });
    const got = result.status >= 200 && result.status < 300 && result.error === undefined ? sha256(result.body) : null;
    const outcome: OpOutcome = result.status >= 200 && result.status < 300 && result.error === undefined ? (got === target.sha ? 'ok' : 'mismatch') : 'failed';
    counts.reads++;
    if (outcome === 'ok') counts.readsOk++;
    const error = result.error ?? (outcome === 'mismatch' ? `content differs: expected sha256 ${target.sha.slice(0, 12)}…` : outcome === 'failed' ? errorFromBody(result.body) : undefined);
    record({
      t, ms: result.ms, op: 'read', region: options.region, path: target.path, seq: target.seq, status: result.status, outcome,
      ...(error !== undefined ? { error } : {}),
      servedBy: result.headers['x-callfs-served-by'] ?? null, resolved: result.resolved, sha: got,
      ...(outcome !== 'ok' && result.headers['retry-after'] !== undefined ? { retryAfter: result.headers['retry-after'] } : {}),
    });
  };

  const loop = async (intervalMs: number, step: () => Promise<void>): Promise<void> => {
    while (!shouldStop()) {
      const started = Date.now();
      await step();
      await pause(intervalMs - (Date.now() - started));
    }
  };
  await Promise.all([loop(options.writeIntervalMs, writeOne), loop(options.readIntervalMs, readOne)]);
  return { ...counts, stoppedBy: stoppedBy ?? 'deadline', ranMs: Date.now() - startedAt };
}

/** The `code` of a CallFS error body, or its first characters. */
function errorFromBody(body: Buffer): string {
  const text = body.subarray(0, 300).toString('utf8');
  try {
    const parsed = JSON.parse(text) as { code?: unknown };
    if (typeof parsed.code === 'string') return parsed.code;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 120) || 'no body';
}
