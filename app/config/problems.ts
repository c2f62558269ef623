/**
 * @module The problems a configuration load collects: each one line naming the key (and the
 * `CALLFS_` variable it came from), thrown together as one ConfigError so an operator fixes them
 * in one go.
 */
import { envName } from './env.js';
import type { KeyFinding } from './keys.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export class Problems {
  readonly list: string[] = [];
  constructor(private readonly sources: Map<string, string>) {}
  add(key: string, message: string): void {
    const env = this.sources.get(key) ?? this.sources.get(key.replace(/\[\d+\]$/, ''));
    this.list.push(`config: ${key}${env ? ` (from ${env})` : ''}: ${message}`);
  }
  unknownKey(finding: KeyFinding): void {
    const env = this.sources.get(finding.key);
    if (env !== undefined) {
      const hint = finding.suggestion === null ? '' : `; did you mean ${envName(finding.suggestion)}?`;
      this.list.push(`config: ${env}: unknown setting ${finding.key}${hint}`);
    } else {
      const hint = finding.suggestion === null ? '' : `; did you mean ${finding.suggestion}?`;
      this.list.push(`config: ${finding.key}: unknown key${hint}`);
    }
  }
}
