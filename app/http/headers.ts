/** @module Header names the node reads or writes (CallFS's and ours), in one place. */
export const H = {
  requestId: 'X-Request-ID',
  type: 'X-CallFS-Type',
  size: 'X-CallFS-Size',
  mode: 'X-CallFS-Mode',
  owner: 'X-CallFS-Owner',
  mtime: 'X-CallFS-MTime',
  instanceId: 'X-CallFS-Instance-ID',
  count: 'X-CallFS-Count',
  recursive: 'X-CallFS-Recursive',
  servedBy: 'X-CallFS-Served-By',
  consistencyToken: 'X-CallFS-Consistency-Token',
  readSource: 'X-CallFS-Read-Source',
  replicaLag: 'X-CallFS-Replica-Lag-Ms',
  consistencyWait: 'X-CallFS-Consistency-Wait-Ms',
  readThrough: 'X-CallFS-Read-Through',
  regionHops: 'X-CallFS-Region-Hops',
  /** On a forwarded read: the fingerprint of the entry the forwarder read (signed, honoured from peers only). */
  vouchedEntry: 'X-CallFS-Vouched-Entry',
} as const;

/** Security headers CallFS sets on every response (reference §1.2). */
export const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'strict-origin-when-cross-origin'],
  ['Permissions-Policy', 'geolocation=(), microphone=(), camera=(), payment=(), usb=(), magnetometer=(), gyroscope=(), accelerometer=()'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Embedder-Policy', 'require-corp'],
];

export const HSTS: readonly [string, string] = ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains; preload'];
