/**
 * @module Setting one header on the answer being built, wherever it will be written from: straight
 * onto the Node response when there is one (merged into the head written later, unless the head
 * is already out), else on Hono's context (in-process `app.request()` calls).
 */
import type { Context } from 'hono';
import type { HonoEnv } from './env.js';

export function setResponseHeader(c: Context<HonoEnv>, name: string, value: string): void {
  const outgoing = c.env.outgoing;
  if (outgoing !== undefined) {
    if (!outgoing.headersSent) outgoing.setHeader(name, value);
  } else {
    c.header(name, value);
  }
}
