/**
 * @module What a node says when it cannot start: which service (Postgres, Redis, S3, a peer), at
 * which host:port, why (refused, DNS, authentication, TLS, timeout, missing bucket) and the
 * configuration key to change. Never a password: DSNs and URLs in messages lose their userinfo.
 */

/** A dependency the node could not reach at start. */
export class StartupFailure extends Error {
  override readonly name = 'StartupFailure';
  constructor(
    /** `postgres`, `postgres read replica`, `redis`, `s3 bucket x`, `peer node-2`. */
    readonly service: string,
    /** host:port (or a list of them), never with credentials. */
    readonly address: string,
    /** The configuration key that names the address or credentials. */
    readonly key: string,
    cause: unknown,
  ) {
    super(`${service} at ${address} (${key}): ${failureCause(cause)}`, { cause });
  }
}

/** Runs `open`, turning any failure into a StartupFailure that names the service, address and key. */
export async function naming<T>(service: string, address: string, key: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof StartupFailure) throw error;
    throw new StartupFailure(service, address, key, error);
  }
}

function codesOf(error: unknown): { codes: string[]; messages: string[]; names: string[] } {
  const codes: string[] = [];
  const messages: string[] = [];
  const names: string[] = [];
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    const record = value as Record<string, unknown>;
    if (typeof record['code'] === 'string') codes.push(record['code']);
    if (typeof record['name'] === 'string') names.push(record['name']);
    if (typeof record['message'] === 'string') messages.push(record['message']);
    if (typeof record['Code'] === 'string') codes.push(record['Code']);
    const metadata = record['$metadata'];
    if (typeof metadata === 'object' && metadata !== null && typeof (metadata as Record<string, unknown>)['httpStatusCode'] === 'number') {
      codes.push(`HTTP${String((metadata as Record<string, unknown>)['httpStatusCode'])}`);
    }
    visit(record['cause']);
    if (Array.isArray(record['errors'])) for (const inner of record['errors']) visit(inner);
    if (Array.isArray(record['lastNodeError'])) visit(record['lastNodeError']);
  };
  visit(error);
  return { codes, messages, names };
}

/** A short, password-free account of why a connection failed. */
export function failureCause(error: unknown): string {
  const { codes, messages, names } = codesOf(error);
  const text = messages.join(' | ');
  const has = (...wanted: string[]): boolean => wanted.some((code) => codes.includes(code));
  if (has('ECONNREFUSED')) return 'connection refused (nothing listens there)';
  if (has('EADDRINUSE')) return 'the address is in use (another process listens there)';
  if (has('EACCES') && /listen/i.test(text)) return 'permission denied (ports below 1024 need privileges)';
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME')) return 'DNS: the host name does not resolve';
  if (has('EHOSTUNREACH', 'ENETUNREACH')) return 'no route to the host';
  if (has('28P01', '28000') || /password authentication failed|WRONGPASS|NOAUTH|invalid username-password|AUTH failed/i.test(text)) return 'authentication failed (check the user and password)';
  if (has('3D000')) return `the database does not exist: ${scrub(text.split(' | ')[0] ?? '')}`;
  if (has('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'HTTP403') || names.includes('AccessDenied')) return 'S3 refused the credentials or the access (403)';
  if (has('NoSuchBucket', 'HTTP404') || names.includes('NotFound') || names.includes('NoSuchBucket')) return 'the bucket does not exist (404)';
  if (codes.some((c) => /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_VERIFY|EPROTO)/.test(c)) || /\b(SSL|TLS)\b|certificate/i.test(text)) {
    return `TLS: ${scrub(text.split(' | ').find((m) => /SSL|TLS|certificate/i.test(m)) ?? text)}`;
  }
  if (has('ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'TimeoutError') || names.includes('TimeoutError') || /timed? ?out|timeout|did not answer within/i.test(text)) return 'timed out (a firewall, a wrong address, or the service is overloaded)';
  if (has('ECONNRESET', 'EPIPE')) return 'the connection was reset (wrong port or protocol, e.g. TLS expected)';
  const first = scrub(messages[0] ?? String(error));
  return first === '' ? 'unknown error' : first;
}

/** The text of any start-up error for the operator: one line, no credentials. */
export function describeStartupFailure(error: unknown): string {
  if (error instanceof StartupFailure) return scrub(error.message);
  const message = error instanceof Error ? error.message : String(error);
  return scrub(message.split('\n')[0] ?? message);
}

/** Removes userinfo from URLs (`postgres://user:secret@h` → `postgres://user:***@h`) and `password=` pairs. */
export function scrub(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/gi, '$1:***@').replace(/(password\s*[=:]\s*)\S+/gi, '$1***');
}
