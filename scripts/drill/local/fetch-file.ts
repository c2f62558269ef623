/**
 * @module `FetchFile` functions for `verifyAcknowledged` (scorecard.ts): GET a drill file through
 * the global name, either from this process's network (AWS, tests) or from inside a rehearsal
 * region's namespace with curl (the host has no route into the rehearsal).
 */
import { httpFrom } from '../../rehearsal/netns.js';
import type { FetchFile } from '../scorecard.js';
import { httpCall } from '../load/http-client.js';

export function directFetchFile(baseUrl: string, apiKey: string, timeoutMs = 10_000): FetchFile {
  const base = baseUrl.replace(/\/+$/, '');
  return async (path) => {
    const result = await httpCall({ method: 'GET', url: `${base}/v1/files${path}`, headers: { Authorization: `Bearer ${apiKey}` }, timeoutMs });
    return result.error === undefined ? { status: result.status, body: result.body } : { status: result.error.startsWith('body:') ? 0 : result.status, body: result.body, error: result.error };
  };
}

export function namespaceFetchFile(ns: string, baseUrl: string, apiKey: string, timeoutMs = 10_000): FetchFile {
  const base = baseUrl.replace(/\/+$/, '');
  return async (path) => {
    try {
      const answer = await httpFrom(ns, { method: 'GET', url: `${base}/v1/files${path}`, headers: { Authorization: `Bearer ${apiKey}` }, timeoutMs });
      return { status: answer.status, body: answer.body };
    } catch (error) {
      return { status: 0, body: Buffer.alloc(0), error: error instanceof Error ? error.message : String(error) };
    }
  };
}
