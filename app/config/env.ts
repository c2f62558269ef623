/**
 * @module CALLFS_ environment overrides (CallFS reference §10.1): the prefix is dropped, the rest
 * lower-cased, and every double underscore separates levels (`CALLFS_SERVER__LISTEN_ADDR` →
 * `server.listen_addr`). Values stay strings; the schema coerces them.
 */
export type Tree = { [key: string]: unknown };

/** Deep-merges `overrides` into `base` (objects merge, anything else replaces). */
export function mergeTrees(base: Tree, overrides: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const current = out[key];
    out[key] = isTree(value) && isTree(current) ? mergeTrees(current, value) : value;
  }
  return out;
}

export function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The override tree of every `CALLFS_*` variable, plus where each key came from. */
export function envOverrides(env: Readonly<Record<string, string | undefined>>): { tree: Tree; sources: Map<string, string> } {
  const tree: Tree = {};
  const sources = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CALLFS_') || value === undefined) continue;
    const path = name.slice('CALLFS_'.length).toLowerCase().split('__').filter(Boolean);
    if (path.length === 0) continue;
    let node = tree;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      node = isTree(next) ? next : (node[part] = {});
    }
    node[path[path.length - 1] ?? ''] = value;
    sources.set(path.join('.'), name);
  }
  return { tree, sources };
}

/** The `CALLFS_` variable of a dotted key. */
export function envName(key: string): string {
  return `CALLFS_${key.split('.').join('__').toUpperCase()}`;
}
