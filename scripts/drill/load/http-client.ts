/**
 * @module One HTTP request the way a drill client makes it: the host name resolved by the system
 * resolver for this very request (no cache of ours, so a DNS change shows on the next request),
 * a new TCP connection that is closed afterwards (no keep-alive pool hiding a DNS change), and one
 * deadline for resolution, connection and body together. The answer says which address the name
 * resolved to and whether a connection was made, which tells "never sent" from "outcome unknown".
 */
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { isIP } from 'node:net';

export interface HttpCall {
  readonly method: 'GET' | 'POST' | 'PUT' | 'HEAD' | 'DELETE';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  readonly timeoutMs: number;
  /** Largest body kept (the rest is read and dropped). */
  readonly maxBodyBytes?: number;
}

export interface HttpResult {
  /** 0 when no answer came (see `error`). */
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** The address the host name resolved to (the host itself when it is an address); null when resolution failed. */
  readonly resolved: string | null;
  /** A TCP connection was made: a request that then failed may have reached the server. */
  readonly connected: boolean;
  /** Why there is no answer (or why the body is incomplete). */
  readonly error?: string;
  readonly ms: number;
}

/** Resolves `host` to one IPv4 address with the system resolver (getaddrinfo: /etc/hosts, resolv.conf). */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  const answer = await lookup(host, { family: 4 });
  return answer.address;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** Makes one request; never throws: failures come back as `status: 0` with `error`. */
export async function httpCall(call: HttpCall): Promise<HttpResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
  const url = new URL(call.url);
  if (url.protocol !== 'http:') return { status: 0, headers: {}, body: Buffer.alloc(0), resolved: null, connected: false, error: `unsupported protocol ${url.protocol}`, ms: 0 };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`timeout after ${call.timeoutMs} ms`)), call.timeoutMs);
  let resolved: string | null = null;
  let connected = false;
  try {
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    resolved = await Promise.race([
      resolveHost(hostname),
      new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(new Error(`dns: ${errorText(controller.signal.reason)}`)), { once: true })),
    ]);
    const port = url.port === '' ? 80 : Number(url.port);
    const headers: Record<string, string> = { ...call.headers, Host: url.host, Connection: 'close' };
    if (call.body !== undefined) headers['Content-Length'] = String(call.body.length);
    const maxBody = call.maxBodyBytes ?? 4 << 20;
    return await new Promise<HttpResult>((resolve) => {
      let settled = false;
      const finish = (result: Omit<HttpResult, 'resolved' | 'connected' | 'ms'>): void => {
        if (settled) return;
        settled = true;
        resolve({ ...result, resolved, connected, ms: elapsed() });
      };
      const req = httpRequest(
        { host: resolved ?? hostname, port, method: call.method, path: `${url.pathname}${url.search}`, headers, agent: false, signal: controller.signal },
        (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          const responseHeaders: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) responseHeaders[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
          }
          const status = res.statusCode ?? 0;
          res.on('data', (chunk: Buffer) => {
            if (kept + chunk.length <= maxBody) chunks.push(chunk);
            kept += chunk.length;
          });
          res.once('end', () => finish({ status, headers: responseHeaders, body: Buffer.concat(chunks) }));
          // The status line came but the body broke off: the answer is there, the body is not.
          res.once('error', (error) => finish({ status, headers: responseHeaders, body: Buffer.concat(chunks), error: `body: ${errorText(controller.signal.aborted ? controller.signal.reason : error)}` }));
          res.once('aborted', () => finish({ status, headers: responseHeaders, body: Buffer.concat(chunks), error: 'body: connection closed early' }));
        },
      );
      req.once('socket', (socket) => {
        if (!socket.connecting) connected = true;
        else socket.once('connect', () => (connected = true));
      });
      req.once('error', (error) => finish({ status: 0, headers: {}, body: Buffer.alloc(0), error: errorText(controller.signal.aborted ? controller.signal.reason : error) }));
      req.end(call.body);
    });
  } catch (error) {
    return { status: 0, headers: {}, body: Buffer.alloc(0), resolved, connected, error: errorText(error), ms: elapsed() };
  } finally {
    clearTimeout(timer);
  }
}
