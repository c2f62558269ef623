/**
 * @module The node's `CALLFS_` environment written as a tree of configuration keys, for whoever
 * starts nodes (the CDK app in infra/, scripts, tests). The tree's type is derived from the schema
 * (schema.ts), so a key that is misspelt or renamed there fails the typecheck of the caller; the
 * variable names come from the same rule the loader reads them back with (env.ts: `envName`).
 * Pure: no I/O, and the schema is imported for its type only, so infra/ may import this module.
 */
import type { z } from 'zod';
import { envName } from './env.js';
import type { FileConfigSchema } from './schema.js';

/** The keys a loose object declares, without the index signature that lets it accept others. */
type Declared<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

/**
 * One level of the tree: a section of declared keys (each optional), a map with free keys (region
 * names, user ids), or a leaf. A key left undefined sets no variable.
 */
type Level<T, Leaf> = unknown extends T
  ? Leaf
  : NonNullable<T> extends infer S
    ? S extends readonly unknown[]
      ? Leaf
      : S extends object
        ? keyof Declared<S> extends never
          ? { readonly [key: string]: Level<S[keyof S], Leaf> | undefined }
          : { readonly [K in keyof Declared<S>]?: Level<Declared<S>[K], Leaf> | undefined }
        : Leaf
    : never;

/** Settings of a node as the configuration file would hold them, with `Leaf` values (strings for the environment). */
export type NodeSettings<Leaf = string> = Level<z.input<typeof FileConfigSchema>, Leaf>;

/**
 * The variables that set `settings`: `{ dlm: { redis_tls: 'true' } }` → `CALLFS_DLM__REDIS_TLS`,
 * in the order the keys are written. `isLeaf` tells a value from a section (a secret reference is
 * an object too).
 */
export function nodeVariables<Leaf>(settings: NodeSettings<Leaf>, isLeaf: (value: unknown) => value is Leaf): Record<string, Leaf> {
  const variables: Record<string, Leaf> = {};
  const visit = (value: unknown, path: readonly string[]): void => {
    if (value === undefined) return;
    if (isLeaf(value)) {
      variables[envName(path.join('.'))] = value;
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`node settings: ${path.join('.')} is neither a section nor a value`);
    for (const [key, child] of Object.entries(value)) visit(child, [...path, key]);
  };
  visit(settings, []);
  return variables;
}

/** The environment of string settings (see `nodeVariables`). */
export function nodeEnvironment(settings: NodeSettings): Record<string, string> {
  return nodeVariables(settings, (value): value is string => typeof value === 'string');
}
