/**
 * @module POST (create) and PUT (create or replace) /v1/files/{path} (CallFS reference
 * §2.3.3–2.3.4). Bodies stream straight from the socket to the blob store; the declared
 * Content-Length must match what arrives, and the size limit is enforced before and while
 * reading. PUT honours If-Match / If-None-Match / If-Unmodified-Since (412 when they fail). A
 * PUT on a file another node holds is forwarded there before its body is read
 * (services/placement.ts decides); a POST is always served here.
 */
import { Readable } from 'node:stream';
import type { Context, Hono } from 'hono';
import { etagOf, type Entry } from '../../../domain/entry.js';
import { evaluatePreconditions } from '../../../domain/http-conditions.js';
import { AppError } from '../../../errors/app-error.js';
import type { UploadBody } from '../../../services/file-context.js';
import type { WriteTiming } from '../../../services/files.js';
import { clientSignal, declaredLength, requestBody } from '../../body.js';
import type { HonoEnv } from '../../env.js';
import { forwardRequest } from '../../peer-forward.js';
import { pathAfter } from '../../request-path.js';
import { FILES_ROUTE } from './get.js';

export function registerFilesWrite(app: Hono<HonoEnv>, maxFileBytes: number): void {
  const post = async (c: Context<HonoEnv>): Promise<Response> => {
    const started = performance.now();
    c.set('routeTemplate', FILES_ROUTE);
    const target = pathAfter(c, '/v1/files');
    const body = target.directoryIntent ? emptyUpload(c) : upload(c, maxFileBytes);
    const services = c.get('services');
    // Always `here` (a path another node holds is CallFS's 409); asked so every write is placed alike.
    const placed = services.placement.create();
    if (placed.serve === 'forward') return forwardRequest(c, placed);
    const { outcome, token, timing } = await services.files.create(c.get('userId'), target, body);
    if (token !== null) c.set('writeToken', token);
    if (timing !== null) c.header('Server-Timing', serverTiming(timing, started));
    if (outcome === 'created' && !target.directoryIntent) await replicateIfAsked(c, target.path);
    return c.body(null, outcome === 'created' ? 201 : 200);
  };
  const put = async (c: Context<HonoEnv>): Promise<Response> => {
    const started = performance.now();
    c.set('routeTemplate', FILES_ROUTE);
    const target = pathAfter(c, '/v1/files');
    const conditions = {
      ifMatch: c.req.header('if-match'),
      ifNoneMatch: c.req.header('if-none-match'),
      ifUnmodifiedSince: c.req.header('if-unmodified-since'),
    };
    const conditional = conditions.ifMatch !== undefined || conditions.ifNoneMatch !== undefined || conditions.ifUnmodifiedSince !== undefined;
    const precondition = (current: Entry | null): void => {
      const validators = { etag: current === null ? null : etagOf(current), lastModified: current?.mtime ?? null };
      if (evaluatePreconditions(conditions, validators, false) !== 'proceed') throw new AppError('PRECONDITION_FAILED', 'precondition failed');
    };
    // A body over the limit is refused here, even for a file another node holds.
    const body = upload(c, maxFileBytes);
    const services = c.get('services');
    const placed = await services.placement.put(c.get('userId'), target);
    if (placed.serve === 'forward') return forwardRequest(c, placed);
    const { created, entry, token, timing } = await services.files.put(c.get('userId'), placed, body, conditional ? precondition : null);
    if (token !== null) c.set('writeToken', token);
    c.header('Server-Timing', serverTiming(timing, started));
    c.header('ETag', etagOf(entry));
    await replicateIfAsked(c, target.path);
    return c.body(null, created ? 201 : 200);
  };
  app.post('/v1/files', post);
  app.post(FILES_ROUTE, post);
  app.put('/v1/files', put);
  app.put(FILES_ROUTE, put);
}

/**
 * `X-CallFS-Replication: sync` asks for the copies to be made before the answer; the answer then
 * lists the nodes holding a current copy in `X-CallFS-Replicas` (empty when none could be made).
 */
async function replicateIfAsked(c: Context<HonoEnv>, path: string): Promise<void> {
  const replication = c.get('services').replication;
  if (c.req.header('x-callfs-replication')?.toLowerCase() !== 'sync' || !replication.enabled) return;
  c.header('X-CallFS-Replicas', (await replication.replicatePath(path)).join(', '));
}

function emptyUpload(c: Context<HonoEnv>): UploadBody {
  return { stream: requestBody(c), length: declaredLength(c), signal: clientSignal(c) };
}

/** The request body as an upload, refusing bodies over `maxBytes` up front or while streaming. */
function upload(c: Context<HonoEnv>, maxBytes: number): UploadBody {
  const length = declaredLength(c);
  if (length !== undefined && length > maxBytes) throw tooLarge(maxBytes);
  const raw = requestBody(c);
  const stream = length === undefined ? limitBytes(raw, maxBytes) : raw;
  return { stream, length, signal: clientSignal(c) };
}

function tooLarge(maxBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `file larger than the ${maxBytes}-byte limit`);
}

/** Lazily counts bytes (nothing is read until the consumer reads), failing past `maxBytes`. */
function limitBytes(source: Readable, maxBytes: number): Readable {
  async function* counted(): AsyncGenerator<Buffer> {
    let seen = 0;
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      seen += buffer.length;
      if (seen > maxBytes) throw tooLarge(maxBytes);
      yield buffer;
    }
  }
  return Readable.from(counted(), { objectMode: false });
}

/**
 * The Server-Timing of a file write: `store` (bytes on this node's disk or bucket), `commit` (the
 * call(s) at the primary, a WAN round trip outside the home region) and `handler` (the whole
 * write as this node handled it, from routing to the answer, body upload included).
 */
function serverTiming(timing: WriteTiming, started: number): string {
  return `store;dur=${timing.storeMs.toFixed(1)}, commit;dur=${timing.commitMs.toFixed(1)}, handler;dur=${(performance.now() - started).toFixed(1)}`;
}
