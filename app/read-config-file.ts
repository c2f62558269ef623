/** @module Reads a config file for the loader: its text, or null when it does not exist. */
import { readFileSync } from 'node:fs';

export function readFileOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT') return null;
    throw error;
  }
}
