/**
 * @module The one place that turns errors into HTTP answers. AppError → its status and a
 * CallFS-shaped body `{"code","message"}` (the cross-server 409 gets CallFS's own body);
 * anything else is a bug: logged with the request id, answered as a bare 500 with no internals.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, isAppError } from '../errors/app-error.js';
import type { HonoEnv } from './env.js';

const GENERIC_500 = 'an internal error occurred';

/** Request-body streams fail with these when the client goes away. */
function isClientAbort(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = 'code' in error ? error.code : undefined;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

function bodyFor(error: AppError, c: Context<HonoEnv>): Record<string, unknown> {
  const details = error.details;
  if (details?.['crossServer'] === true) {
    const instanceId = typeof details['instance_id'] === 'string' ? details['instance_id'] : null;
    const body: Record<string, unknown> = {
      error: 'Resource exists on another server',
      existing_path: details['existing_path'],
      instance_id: instanceId,
      backend_type: details['backend_type'],
      suggestion: details['suggestion'],
      code: error.code,
      message: error.message,
    };
    const peer = instanceId === null ? undefined : c.get('services').peerEndpointOf?.(instanceId);
    if (details['wantsUpdateUrl'] === true && peer !== undefined) body['update_url'] = `${peer}/v1/files${String(details['existing_path'])}`;
    return body;
  }
  const message = error.status >= 500 && error.code === 'INTERNAL_ERROR' ? GENERIC_500 : error.message;
  // A holder that cannot be reached is named, so clients and operators know which node is down.
  const holder = error.code === 'PEER_UNAVAILABLE' ? details?.['instance_id'] : undefined;
  return typeof holder === 'string' ? { code: error.code, message, instance_id: holder } : { code: error.code, message };
}

export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (isClientAbort(error)) return new AppError('CLIENT_CLOSED_REQUEST', 'the client closed the request', { cause: error });
  return new AppError('INTERNAL_ERROR', GENERIC_500, { cause: error });
}

/** Renders `error` as the response of `c` (registered with `app.onError`). */
export function renderError(error: unknown, c: Context<HonoEnv>): Response {
  const appError = toAppError(error);
  const services = c.get('services');
  if (!isAppError(error) && appError.code === 'INTERNAL_ERROR') {
    services.logger.error('unhandled error', {
      requestId: c.get('requestId'),
      method: c.req.method,
      route: c.get('routeTemplate'),
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  } else if (appError.status >= 500) {
    services.logger.warn('request failed', { requestId: c.get('requestId'), code: appError.code, message: appError.message });
  }
  services.metrics.error('http', appError.code);
  // A request body left half-read cannot be skipped safely: answer, then close the connection.
  const incoming = c.env.incoming;
  if (incoming !== undefined && !incoming.complete) {
    c.header('Connection', 'close');
    incoming.resume();
  }
  // A fenced region sheds its keep-alive connections, so clients reconnect (to another region once DNS moves).
  if (appError.code === 'FENCED') c.header('Connection', 'close');
  if (appError.retryAfterSec !== undefined) c.header('Retry-After', String(appError.retryAfterSec));
  else if (appError.status === 503) c.header('Retry-After', '1');
  return c.json(bodyFor(appError, c), appError.status as ContentfulStatusCode);
}
