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
  /**
   * CallFS compatibility (`auth.accept_internal_secret_as_bearer`): recognises the internal
   * secret in an Authorization header, which then authenticates the super-user; null: off. The
   * secret itself stays with the signed peer client.
   */
  readonly internalSecretAsBearer: ((header: string) => boolean) | null;
  /** Users allowed to administer the cluster (`auth.admin_api_keys`). */
  readonly adminUserIds?: readonly string[];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Most Authorization values whose verdict is remembered. */
const MAX_REMEMBERED = 1024;

export class Authenticator {
  readonly #slots: KeySlot[];
  /**
   * Authorization values already found to carry a configured key, with their user: the keys are
   * fixed for the process, so the verdict of a value never changes. Only accepted values are
   * remembered: a wrong key costs the full constant-time check every time, and what a lookup's
   * timing could tell (that a value was accepted before) its answer tells anyway.
   */
  readonly #accepted = new Map<string, string>();
  readonly #internalSecret: ((header: string) => boolean) | null;
  readonly #admins: ReadonlySet<string>;

  constructor(options: AuthenticatorOptions) {
    this.#slots = options.users.map((u) => ({ digest: digest(u.key), userId: u.id }));
    this.#internalSecret = options.internalSecretAsBearer;
    this.#admins = new Set(options.adminUserIds ?? []);
  }

  /** True when `userId` may administer the cluster (see internal URLs, admin endpoints). */
  isAdmin(userId: string): boolean {
    return this.#admins.has(userId);
  }

  /** The user id for an Authorization header value, or null. */
  authenticate(header: string | undefined): string | null {
    if (header === undefined) return null;
    const known = this.#accepted.get(header);
    if (known !== undefined) return known;
    const found = this.#check(header);
    if (found !== null) {
      if (this.#accepted.size >= MAX_REMEMBERED) this.#accepted.clear();
      this.#accepted.set(header, found);
    }
    return found;
  }

  #check(header: string): string | null {
    const token = (header.startsWith('Bearer ') ? header.slice(7) : header).trim();
    if (token === '') return null;
    const given = digest(token);
    let found: string | null = null;
    for (const slot of this.#slots) {
      if (timingSafeEqual(slot.digest, given)) found ??= slot.userId;
    }
    if (found === null && this.#internalSecret?.(header) === true) found = INTERNAL_PROXY_USER;
    return found;
  }
}
