/**
 * @module Host lists in a Postgres DSN, written as libpq accepts them:
 * `postgres://user:pw@h1:5432,h2:5433/db?target_session_attrs=read-write`. `pg` connects to one
 * host only, so the list is split here into one single-host DSN per host, everything else kept
 * as written. The string is taken apart by hand: `new URL()` refuses comma-separated hosts.
 * Errors and labels never contain the user or the password.
 */

export interface PostgresHost {
  /** `host:port` (or just `host` when the DSN names no port): safe to show in errors and logs. */
  readonly label: string;
  /** A DSN that reaches this host alone. */
  readonly dsn: string;
}

const SESSION_ATTRS_KEY = 'target_session_attrs';
/** The node writes, so with several hosts it always wants the writable one. */
const PRIMARY_SESSION_ATTRS = new Set(['read-write', 'primary']);
/** scheme, authority (userinfo and hosts), then path, query and fragment. */
const DSN_SHAPE = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/s;
/** `name`, `name:port`, `[v6]` or `[v6]:port`. */
const HOST_SHAPE = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/;

function invalid(reason: string): Error {
  return new Error(`metadata_store.dsn: ${reason}`);
}

function parseHost(spec: string, position: number): { host: string; port: string | undefined } {
  const match = HOST_SHAPE.exec(spec);
  if (match === null) throw invalid(`host #${position + 1} of the host list is not "host" or "host:port"`);
  const host = match[1] ?? '';
  const port = match[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)) throw invalid(`host #${position + 1} has port ${port}, outside 1-65535`);
  return { host, port };
}

/** Drops `target_session_attrs` from the query part (after checking it asks for a primary). */
function withoutSessionAttrs(tail: string): string {
  const queryStart = tail.indexOf('?');
  if (queryStart === -1) return tail;
  const fragmentStart = tail.indexOf('#', queryStart);
  const queryEnd = fragmentStart === -1 ? tail.length : fragmentStart;
  const kept: string[] = [];
  for (const pair of tail.slice(queryStart + 1, queryEnd).split('&')) {
    const eq = pair.indexOf('=');
    const key = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
    if (key !== SESSION_ATTRS_KEY) {
      if (pair !== '') kept.push(pair);
      continue;
    }
    const value = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (!PRIMARY_SESSION_ATTRS.has(value)) {
      throw invalid(`${SESSION_ATTRS_KEY}=${value} is not supported with several hosts: the node writes, so it always connects to the primary (use read-write)`);
    }
  }
  const path = tail.slice(0, queryStart);
  const fragment = tail.slice(queryEnd);
  return kept.length === 0 ? path + fragment : `${path}?${kept.join('&')}${fragment}`;
}

/**
 * The hosts a DSN names, in order, each with a DSN of its own. A DSN with one host (or one this
 * module does not recognise) comes back unchanged as the only entry, so it behaves exactly as
 * `pg` alone would treat it.
 */
export function parseMultiHostDsn(dsn: string): PostgresHost[] {
  const match = DSN_SHAPE.exec(dsn);
  const authority = match?.[2] ?? '';
  const at = authority.lastIndexOf('@');
  const hostList = authority.slice(at + 1);
  if (match === null || !hostList.includes(',')) return [{ label: hostList === '' ? 'default host' : hostList, dsn }];
  const scheme = match[1] ?? '';
  const userinfo = authority.slice(0, at + 1);
  const tail = withoutSessionAttrs(match[3] ?? '');
  return hostList.split(',').map((spec, position) => {
    const { host, port } = parseHost(spec, position);
    const address = port === undefined ? host : `${host}:${port}`;
    return { label: address, dsn: `${scheme}${userinfo}${address}${tail}` };
  });
}

/** `host:port`, as the epoch row records a primary. */
const HOST_PORT = /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/;

/**
 * The DSN with its host list replaced by `address` (`host:port`), everything else kept (minus
 * `target_session_attrs`); null for an address that is not `host:port` or a DSN that is not a URL.
 */
export function dsnWithHost(dsn: string, address: string): string | null {
  if (!HOST_PORT.test(address)) return null;
  const match = DSN_SHAPE.exec(dsn);
  if (match === null) return null;
  const authority = match[2] ?? '';
  const userinfo = authority.slice(0, authority.lastIndexOf('@') + 1);
  return `${match[1] ?? ''}${userinfo}${address}${withoutSessionAttrs(match[3] ?? '')}`;
}
