/**
 * @module Which configuration keys exist. The known keys are read from the schema itself (a key
 * added to schema.ts is known here at once); maps whose keys are names chosen by the operator
 * (users, peers, regions) accept any child. CallFS keys this node accepts but does not use are
 * listed apart: they load, and the node says once that it ignores them. Anything else is a
 * mistake, reported with the nearest known key as a suggestion.
 */
import { z } from 'zod';
import { isTree, type Tree } from './env.js';

/** CallFS keys (reference §10.2) with no effect here; `*` = the whole section. */
const CALLFS_UNUSED: Readonly<Record<string, readonly string[] | '*'>> = {
  server: ['enable_quic', 'quic_listen_addr', 'read_timeout', 'write_timeout'],
  backend: ['internal_proxy_skip_tls_verify'],
  metadata_store: ['sqlite_path', 'redis_addr', 'redis_password', 'redis_db', 'redis_key_prefix'],
  raft: '*',
  ha: '*',
  erasure: '*',
};

export interface KeyFinding {
  /** Dotted path of the key as written (map keys lower-cased when they came from the environment). */
  readonly key: string;
  /** The nearest known key at the same level, dotted, or null when nothing is close. */
  readonly suggestion: string | null;
}

export interface KeyReport {
  readonly unknown: readonly KeyFinding[];
  /** CallFS keys present but without effect here, dotted (a whole section as `raft.*`). */
  readonly ignored: readonly string[];
}

/** What a schema node says about its children: a fixed set of keys, any key (a map), or none (a value). */
type Shape = { kind: 'object'; keys: Map<string, z.ZodType> } | { kind: 'map'; value: z.ZodType } | { kind: 'value' };

function shapeOf(schema: z.ZodType): Shape {
  let node: z.ZodType = schema;
  // Optional and default wrappers, and transforms, hide the object or record inside.
  for (let depth = 0; depth < 8; depth++) {
    if (node instanceof z.ZodOptional || node instanceof z.ZodNullable || node instanceof z.ZodDefault) {
      node = node.unwrap() as z.ZodType;
      continue;
    }
    if (node instanceof z.ZodPipe) {
      node = node.in as z.ZodType;
      continue;
    }
    break;
  }
  if (node instanceof z.ZodObject) return { kind: 'object', keys: new Map(Object.entries(node.shape as Record<string, z.ZodType>)) };
  if (node instanceof z.ZodRecord) return { kind: 'map', value: node.valueType as z.ZodType };
  return { kind: 'value' };
}

/** Unknown and ignored keys of `tree` against `schema` (the file schema). */
export function checkKeys(tree: Tree, schema: z.ZodType): KeyReport {
  const unknown: KeyFinding[] = [];
  const ignored: string[] = [];
  const walk = (value: Tree, shape: Shape, path: readonly string[]): void => {
    if (shape.kind === 'value') return;
    for (const [key, child] of Object.entries(value)) {
      const here = [...path, key];
      if (shape.kind === 'map') {
        if (isTree(child)) walk(child, shapeOf(shape.value), here);
        continue;
      }
      const known = shape.keys.get(key);
      const unused = path.length === 0 ? CALLFS_UNUSED[key] : path.length === 1 ? CALLFS_UNUSED[path[0] ?? ''] : undefined;
      if (path.length === 0 && unused === '*') {
        ignored.push(`${key}.*`);
        continue;
      }
      if (Array.isArray(unused) && path.length === 1 && unused.includes(key)) {
        ignored.push(here.join('.'));
        continue;
      }
      if (known === undefined) {
        const candidates = [...shape.keys.keys(), ...(path.length === 0 ? Object.keys(CALLFS_UNUSED) : [])];
        const near = nearest(key, candidates);
        unknown.push({ key: here.join('.'), suggestion: near === null ? null : [...path, near].join('.') });
        continue;
      }
      if (isTree(child)) walk(child, shapeOf(known), here);
    }
  };
  walk(tree, shapeOf(schema), []);
  return { unknown, ignored };
}

/** The candidate closest to `word` by edit distance, when it is close enough to be a likely typo. */
export function nearest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === null) return null;
  // A third of the longer word (at least 2 edits): "listen_adr" finds listen_addr, "dml" finds dlm.
  const allowed = Math.max(2, Math.floor(Math.max(word.length, best.length) / 3));
  const contains = best.includes(word) || word.includes(best);
  return bestDistance <= allowed || contains ? best : null;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const above = d[i - 1] as number[];
      let value = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, ((d[i - 2] as number[])[j - 2] ?? 0) + 1);
      row[j] = value;
    }
  }
  return (d[a.length] as number[])[b.length] ?? 0;
}
