/**
 * @module Every region of the deployment, validated together. A region is one file in this
 * folder (`<name>.ts` with a default export); adding a region means adding a file, nothing
 * else. The home region comes first in `REGIONS`, then the others in file-name order.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadRegions, type Region } from './schema.js';

/** Modules of this folder that are not region files. */
const NOT_REGION_FILES = new Set(['index.ts', 'schema.ts', 'aws-regions.ts']);

/** The region files of `folder`: every `*.ts` except the modules above and tests. */
export function regionFileNames(folder: string): string[] {
  return readdirSync(folder)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts') && !NOT_REGION_FILES.has(f))
    .sort();
}

/** Imports each region file of `folder`; the result maps file name → its default export. */
export async function readRegionFolder(folder: string): Promise<Record<string, unknown>> {
  const files: Record<string, unknown> = {};
  for (const file of regionFileNames(folder)) {
    const module = (await import(pathToFileURL(join(folder, file)).href)) as { default?: unknown };
    files[file] = module.default;
  }
  return files;
}

export const REGION_FILES: Readonly<Record<string, unknown>> = await readRegionFolder(dirname(fileURLToPath(import.meta.url)));
export const REGIONS: readonly Region[] = loadRegions(REGION_FILES);
export { loadRegions };
export type { Region };
