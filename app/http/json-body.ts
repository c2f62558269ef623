/**
 * @module Reads a small JSON request body with a byte limit, streaming (never trusting
 * Content-Length alone). Anything unreadable is a 400 BAD_REQUEST, as in CallFS.
 */
import type { Context } from 'hono';
import { AppError } from '../errors/app-error.js';
import { requestBody } from './body.js';
import type { HonoEnv } from './env.js';

export async function readJsonObject(c: Context<HonoEnv>, maxBytes: number): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of requestBody(c)) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buffer.length;
    if (total > maxBytes) throw new AppError('BAD_REQUEST', `invalid JSON body: larger than ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AppError('BAD_REQUEST', 'invalid JSON body');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AppError('BAD_REQUEST', 'invalid JSON body: expected an object');
  return parsed as Record<string, unknown>;
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AppError('BAD_REQUEST', `"${field}" must be a string`);
  return value;
}

export function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new AppError('BAD_REQUEST', `"${field}" must be a boolean`);
  return value;
}
