/**
 * @module API-key authentication (CallFS reference §5.2): `Authorization: Bearer <key>` or, as
 * CallFS also accepts, the raw key. Keys are compared in constant time against every configured
 * key (digests of equal length, no early exit), so timing reveals neither the key nor which user.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { INTERNAL_PROXY_USER } from '../domain/permissions.js';

interface KeySlot {
  readonly digest: Buffer;
  readonly userId: string;
}

export interface AuthenticatorOptions {
  readonly users: ReadonlyArray<{ readonly id: string; readonly key: string }>;
  readonly internalProxySecret: string;
  /** CallFS compatibility: the internal secret also works as a super-user bearer. */
  readonly acceptInternalSecretAsBearer: boolean;
  /** Users allowed to administer the cluster (`auth.admin_api_keys`). */
  readonly adminUserIds?: readonly string[];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export class Authenticator {
  readonly #slots: KeySlot[];
  readonly #internal: Buffer;
  readonly #admins: ReadonlySet<string>;

  constructor(options: AuthenticatorOptions) {
    this.#slots = options.users.map((u) => ({ digest: digest(u.key), userId: u.id }));
    this.#internal = digest(options.internalProxySecret);
    this.#admins = new Set(options.adminUserIds ?? []);
    if (options.acceptInternalSecretAsBearer) this.#slots.push({ digest: this.#internal, userId: INTERNAL_PROXY_USER });
  }

  /**
   * True when the header carries the internal secret itself: accepted only on the internal
   * endpoints (`/v1/internal/*`), as CallFS's shard endpoint does, never as a public-API key.
   */
  isInternalSecret(header: string | undefined): boolean {
    if (header === undefined) return false;
    const token = (header.startsWith('Bearer ') ? header.slice(7) : header).trim();
    return token !== '' && timingSafeEqual(this.#internal, digest(token));
  }

  /** True when `userId` may administer the cluster (see internal URLs, admin endpoints). */
  isAdmin(userId: string): boolean {
    return this.#admins.has(userId);
  }

  /** The user id for an Authorization header value, or null. */
  authenticate(header: string | undefined): string | null {
    if (header === undefined) return null;
    const token = (header.startsWith('Bearer ') ? header.slice(7) : header).trim();
    if (token === '') return null;
    const given = digest(token);
    let found: string | null = null;
    for (const slot of this.#slots) {
      if (timingSafeEqual(slot.digest, given)) found ??= slot.userId;
    }
    return found;
  }
}
