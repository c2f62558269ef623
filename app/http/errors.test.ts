import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors/app-error.js';
import type { HonoEnv } from './env.js';
import { renderError } from './errors.js';
import type { AppServices } from './services.js';

/** An app whose one route throws `error`, with the services renderError uses recording what it is told. */
function throwing(error: unknown) {
  const logged: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const counted: string[] = [];
  const services = {
    logger: {
      error: (message: string, fields: Record<string, unknown>) => logged.push({ level: 'error', message, fields }),
      warn: (message: string, fields: Record<string, unknown>) => logged.push({ level: 'warn', message, fields }),
    },
    metrics: { error: (_component: string, code: string) => counted.push(code) },
    peerEndpointOf: (id: string) => (id === 'node2' ? 'http://10.0.0.2:8443' : undefined),
  } as unknown as AppServices;
  const app = new Hono<HonoEnv>();
  app.use('*', async (c, next) => {
    c.set('services', services);
    c.set('requestId', 'req-1');
    await next();
  });
  app.get('/x', () => {
    throw error;
  });
  app.onError(renderError);
  return { request: () => app.request('/x', undefined, {}), logged, counted };
}

describe('renderError', () => {
  it('answers an AppError with its status and the {code, message} body, and counts it', async () => {
    const { request, counted, logged } = throwing(new AppError('FILE_NOT_FOUND', 'file not found: /a'));
    const res = await request();
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 'FILE_NOT_FOUND', message: 'file not found: /a' });
    expect(res.headers.get('retry-after')).toBeNull();
    expect(counted).toEqual(['FILE_NOT_FOUND']);
    expect(logged).toEqual([]);
  });

  it('answers anything else as a bare 500 without internals, and logs it with the request id', async () => {
    const { request, logged } = throwing(new Error('secret detail in a stack'));
    const res = await request();
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ code: 'INTERNAL_ERROR', message: 'an internal error occurred' });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'error', fields: { requestId: 'req-1', method: 'GET' } });
  });

  it('maps a client that went away to CLIENT_CLOSED_REQUEST', async () => {
    const res = await throwing(Object.assign(new Error('reset'), { code: 'ECONNRESET' })).request();
    expect(await res.json()).toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
  });

  it('sends Retry-After on 503s and closes the connection of a FENCED answer', async () => {
    const fenced = await throwing(new AppError('FENCED', 'fenced', { retryAfterSec: 1 })).request();
    expect(fenced.status).toBe(503);
    expect(fenced.headers.get('retry-after')).toBe('1');
    expect(fenced.headers.get('connection')).toBe('close');
    const unavailable = await throwing(new AppError('METADATA_UNAVAILABLE', 'down')).request();
    expect(unavailable.headers.get('retry-after')).toBe('1');
  });

  it('names the unreachable holder, and gives the cross-server 409 CallFS body with the holder URL', async () => {
    const peer = await throwing(new AppError('PEER_UNAVAILABLE', 'gone', { details: { instance_id: 'node3' } })).request();
    expect(await peer.json()).toEqual({ code: 'PEER_UNAVAILABLE', message: 'gone', instance_id: 'node3' });
    const conflict = await throwing(
      new AppError('FILE_ALREADY_EXISTS', 'exists elsewhere', {
        details: { crossServer: true, instance_id: 'node2', existing_path: '/a.txt', backend_type: 'localfs', suggestion: 'use PUT', wantsUpdateUrl: true },
      }),
    ).request();
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({
      error: 'Resource exists on another server',
      existing_path: '/a.txt',
      instance_id: 'node2',
      backend_type: 'localfs',
      suggestion: 'use PUT',
      code: 'FILE_ALREADY_EXISTS',
      message: 'exists elsewhere',
      update_url: 'http://10.0.0.2:8443/v1/files/a.txt',
    });
  });
});
