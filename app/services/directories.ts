/**
 * @module Directory listings (CallFS reference §2.3.1 and §2.4). Pure metadata, never bytes.
 * Recursion follows CallFS: depth 0 is the directory's own children and `max_depth = N`
 * returns N + 1 levels; output is the directory's children, then each child directory's
 * subtree in order.
 */
import type { Entry } from '../domain/entry.js';
import { AppError } from '../errors/app-error.js';
import type { MetadataStore } from '../ports/metadata-store.js';

export const DEFAULT_MAX_DEPTH = 100;
export const MAX_MAX_DEPTH = 1000;
/** Upper bound on entries one listing returns, so a huge tree cannot exhaust memory. */
export const MAX_LISTING_ENTRIES = 100_000;

/** CallFS's `max_depth` parsing: non-numeric or negative → 100, above 1000 → 1000. */
export function parseMaxDepth(raw: string | undefined): number {
  if (raw === undefined || !/^-?\d+$/.test(raw.trim())) return DEFAULT_MAX_DEPTH;
  const value = Number(raw);
  if (value < 0) return DEFAULT_MAX_DEPTH;
  return Math.min(value, MAX_MAX_DEPTH);
}

export class DirectoryService {
  constructor(private readonly metadata: MetadataStore) {}

  /** Entries under `dir` (which must be a directory entry). */
  async list(dir: Entry, recursive: boolean, maxDepth: number): Promise<Entry[]> {
    if (dir.type !== 'directory') throw new AppError('NOT_A_DIRECTORY', `${dir.path} is not a directory`);
    const children = await this.metadata.listChildren(dir.path);
    if (!recursive) return children;
    const result: Entry[] = [];
    await this.#walk(children, 0, maxDepth, result);
    return result;
  }

  async #walk(level: Entry[], depth: number, maxDepth: number, out: Entry[]): Promise<void> {
    for (const entry of level) {
      if (out.length >= MAX_LISTING_ENTRIES) throw new AppError('PAYLOAD_TOO_LARGE', `listing exceeds ${MAX_LISTING_ENTRIES} entries; narrow max_depth`);
      out.push(entry);
    }
    if (depth >= maxDepth) return;
    for (const entry of level) {
      if (entry.type !== 'directory') continue;
      await this.#walk(await this.metadata.listChildren(entry.path), depth + 1, maxDepth, out);
    }
  }
}
