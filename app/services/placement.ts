/**
 * @module Placement: the one place that decides where a request on a file is served. Every route
 * that touches a file's bytes (GET/HEAD, POST, PUT, DELETE, PATCH, link downloads, WebSocket
 * transfers) asks here first and gets one of two answers:
 * - `here`: this node serves it, with what the use case needs next (the checked entry, or the
 *   local location of the bytes to stream);
 * - `forward`: another node holds the bytes; the request goes to `instanceId` (the canonical
 *   `/v1/files` target is given for calls built from scratch; an untouched client request keeps
 *   its own path and query). The signed peer client sends it, and nothing has read the body yet.
 *
 * The checks a request must pass on this node before it may be forwarded (authorization on the
 * entry as this node sees it, a PUT on a directory, deleting the root) come first, so a refused
 * caller is answered here as before. When another node holds the bytes and this node has no
 * peers to forward through, the answer is PEER_UNAVAILABLE naming the holder.
 */
import type { Entry } from '../domain/entry.js';
import type { ParsedPath } from '../domain/path.js';
import { AppError, heldElsewhere } from '../errors/app-error.js';
import type { FileContext, Location } from './file-context.js';

/** The bytes are held by `instanceId`: send the request there. */
export interface Forward {
  readonly serve: 'forward';
  readonly instanceId: string;
  /** The entry's canonical path. */
  readonly path: string;
  /** `/v1/files` target of the entry's canonical path (each segment encoded once). */
  readonly target: string;
}

/** This node serves the request, with what the use case needs next. */
export type Here<T> = { readonly serve: 'here' } & T;

export type Decision<T> = Here<T> | Forward;

/** Where a file's bytes are when this node reads them itself. */
export type LocalLocation = Extract<Location, { kind: 'local' }>;

/** A write or delete that passed this node's checks, for the use case to carry out here. */
export interface CheckedEntry {
  readonly path: string;
  /** The entry the checks were made against; null for a PUT that creates the file. */
  readonly existing: Entry | null;
}

/** `/v1/files` URL target of a canonical path (each segment encoded once). */
export function filesTarget(path: string): string {
  return '/v1/files' + path.split('/').map(encodeURIComponent).join('/');
}

export class Placement {
  /**
   * @param canForward false on a node without peers: a file held elsewhere cannot be reached
   *   from it, and asking for it is answered PEER_UNAVAILABLE.
   */
  constructor(
    private readonly ctx: FileContext,
    private readonly canForward: boolean,
  ) {}

  /**
   * GET of a file's bytes (also link downloads and WebSocket downloads): this node's own copy or
   * bytes, else the nearest current replica or the holder (FileContext.locateForRead).
   */
  async read(entry: Entry): Promise<Decision<{ readonly location: LocalLocation }>> {
    const location = await this.ctx.locateForRead(entry);
    return location.kind === 'local' ? { serve: 'here', location } : this.#forward(location.instanceId, entry.path);
  }

  /**
   * POST is always served here: a path another node holds is answered with CallFS's 409 naming
   * that node (`crossServer`), never forwarded. No I/O: FileService.create makes its checks.
   */
  create(): Decision<Record<never, never>> {
    return { serve: 'here' };
  }

  /**
   * PUT: the caller may write the path (checked on the cached entry, before any body is read; the
   * commit checks again), it is not a directory, and the file's bytes are here or it is new.
   */
  async put(userId: string, target: ParsedPath): Promise<Decision<CheckedEntry>> {
    if (target.directoryIntent) throw new AppError('IS_A_DIRECTORY', 'PUT cannot target a directory (trailing slash)');
    const existing = await this.ctx.authorize(userId, 'write', target.path, true);
    if (existing?.type === 'directory') throw new AppError('IS_A_DIRECTORY', `${target.path} is a directory`);
    return this.#at(existing, { path: target.path, existing });
  }

  /** DELETE: the caller may delete the entry, it exists, it is not the root. */
  async remove(userId: string, path: string): Promise<Decision<CheckedEntry & { readonly existing: Entry }>> {
    const existing = await this.ctx.authorize(userId, 'delete', path);
    if (existing === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    if (path === '/') throw new AppError('PERMISSION_DENIED', 'the root directory cannot be deleted');
    return this.#at(existing, { path, existing });
  }

  /**
   * PATCH (rename / move): decided on the source entry as the cache has it, before the move's
   * body is read; MoveService checks rights and the source again under its lock.
   */
  async move(path: string): Promise<Decision<{ readonly source: Entry }>> {
    const source = await this.ctx.deps.cache.get(path);
    if (source === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    return this.#at(source, { source });
  }

  /** `here` with `value` unless another node holds `entry`'s bytes. */
  #at<T>(entry: Entry | null, value: T): Decision<T> {
    const location = entry === null ? null : this.ctx.locate(entry);
    if (entry !== null && location?.kind === 'remote') return this.#forward(location.instanceId, entry.path);
    return { serve: 'here', ...value };
  }

  #forward(instanceId: string, path: string): Forward {
    if (!this.canForward) throw heldElsewhere(instanceId, path);
    return { serve: 'forward', instanceId, path, target: filesTarget(path) };
  }
}
