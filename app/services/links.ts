/**
 * @module LinkService: single-use download links (CallFS reference §2.5, §2.6, §5.5).
 * A link is spent by one conditional UPDATE in the shared store, so it can be redeemed once
 * across all nodes even under concurrent redemption. The store keeps only each token's SHA-256
 * (domain/link-token.ts), so its rows hand out no live link. A link names a file: a directory is
 * refused when the link is asked for. `inspect` checks a link without spending it (HEAD).
 */
import type { Entry } from '../domain/entry.js';
import { LinkSigner, linkTokenDigest, MAX_LINK_EXPIRY_SEC, MIN_LINK_EXPIRY_SEC } from '../domain/link-token.js';
import { parsePath } from '../domain/path.js';
import { AppError } from '../errors/app-error.js';
import type { MetadataStore } from '../ports/metadata-store.js';
import type { Telemetry } from '../ports/telemetry.js';
import type { FileContext } from './file-context.js';

export interface IssuedLink {
  readonly token: string;
  readonly url: string;
  readonly expires: Date;
}

/** Token ids are 24 base64 characters, signatures 44: anything far longer is not ours. */
const MAX_TOKEN_LENGTH = 256;

export class LinkService {
  readonly #signer: LinkSigner;

  constructor(
    private readonly ctx: FileContext,
    private readonly metadata: MetadataStore,
    private readonly telemetry: Telemetry,
    linkSecret: string,
    private readonly externalBaseUrl: string,
  ) {
    this.#signer = new LinkSigner(linkSecret);
  }

  /** Issues a link to `rawPath` valid for `expirySeconds` (1..86400). */
  async generate(userId: string, rawPath: string, expirySeconds: number): Promise<IssuedLink> {
    if (rawPath === '') throw new AppError('BAD_REQUEST', '"path" is required');
    const { path } = parsePath(rawPath);
    const entry = await this.ctx.authorize(userId, 'read', path);
    if (entry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    if (entry.type !== 'file') throw new AppError('IS_A_DIRECTORY', `${path} is a directory: links are for files`);
    if (!Number.isInteger(expirySeconds) || expirySeconds < MIN_LINK_EXPIRY_SEC || expirySeconds > MAX_LINK_EXPIRY_SEC) {
      throw new AppError('BAD_REQUEST', `"expiry_seconds" must be an integer from ${MIN_LINK_EXPIRY_SEC} to ${MAX_LINK_EXPIRY_SEC}`);
    }
    const { token, signature } = this.#signer.issue(path);
    const expires = new Date(Date.now() + expirySeconds * 1000);
    await this.metadata.insertLink({ token: linkTokenDigest(token), path, signature, expiresAt: expires });
    this.telemetry.linkGenerated();
    return { token, url: `${this.externalBaseUrl}/download/${token}`, expires };
  }

  /** Spends a link and returns the entry it grants (bytes are opened by the caller). */
  async redeem(token: string, clientIp: string | null): Promise<Entry> {
    const path = await this.#usable(token, true);
    if (!(await this.metadata.consumeLink(linkTokenDigest(token), clientIp))) return this.#refuse('used', new AppError('LINK_USED', 'link already used'));
    this.telemetry.linkConsumed('success');
    return this.#fileAt(path);
  }

  /** The entry a link would grant, with the same refusals as `redeem`, without spending it. */
  async inspect(token: string): Promise<Entry> {
    return this.#fileAt(await this.#usable(token, false));
  }

  /** The path of a link that can be redeemed now; refusals are counted only when `counted`. */
  async #usable(token: string, counted: boolean): Promise<string> {
    const refuse = (outcome: 'not_found' | 'expired' | 'used' | 'invalid', error: AppError): never => {
      if (counted) this.#refuse(outcome, error);
      throw error;
    };
    const link = token.length <= MAX_TOKEN_LENGTH ? await this.metadata.getLink(linkTokenDigest(token)) : null;
    if (link === null) return refuse('not_found', new AppError('LINK_NOT_FOUND', 'link not found'));
    if (link.expiresAt.getTime() < Date.now()) return refuse('expired', new AppError('LINK_EXPIRED', 'link expired'));
    if (link.status !== 'active') return refuse('used', new AppError('LINK_USED', 'link already used'));
    if (!this.#signer.verify(token, link.path)) return refuse('invalid', new AppError('LINK_INVALID', 'link signature is invalid'));
    return parsePath(link.path).path;
  }

  async #fileAt(path: string): Promise<Entry> {
    const entry = await this.ctx.deps.metadata.getEntry(path);
    if (entry === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    if (entry.type !== 'file') throw new AppError('IS_A_DIRECTORY', `${path} is a directory`);
    return entry;
  }

  /**
   * Gives a redeemed link back when none of its bytes could be sent (the node holding them was
   * unreachable, its storage failed): the user can try again instead of losing the link.
   */
  async release(token: string): Promise<void> {
    await this.metadata.releaseLink(linkTokenDigest(token));
  }

  #refuse(outcome: 'not_found' | 'expired' | 'used' | 'invalid', error: AppError): never {
    this.telemetry.linkConsumed(outcome);
    throw error;
  }
}
