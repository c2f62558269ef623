/**
 * @module One way every entry point reads its command line (`npm start`, `npm run admin`,
 * cluster, rehearsal, drill, bench, promote, ...): `node:util` parseArgs with strict options,
 * `--help` / `-h` prints the usage and exits 0, `--version` prints the package and Node
 * versions, and an unknown or malformed option exits 2 naming it and pointing at `--help`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** How the user runs it, e.g. `npm run admin --`; used in messages. */
  readonly command: string;
  /** The whole help text (printed by --help). */
  readonly usage: string;
  readonly options: O;
  readonly allowPositionals?: boolean;
}

/** What the command line asked for, or how the process must end instead. */
export type CommandLine<O extends ParseArgsOptionsConfig> =
  | { readonly kind: 'run'; readonly values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values']; readonly positionals: string[] }
  | { readonly kind: 'exit'; readonly code: number; readonly stdout: string; readonly stderr: string };

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsOptionsConfig;

/** Parses without side effects (tests call this; entry points call `readCommandLine`). */
export function parseCommandLine<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>, argv: readonly string[]): CommandLine<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...spec.options, ...COMMON }, allowPositionals: spec.allowPositionals ?? false, strict: true });
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    const reason = unknown === null ? message : `unknown option ${unknown[1] ?? ''}`;
    return { kind: 'exit', code: 2, stdout: '', stderr: `${spec.command.replace(/ --$/, '')}: ${reason}\nSee: ${spec.command} --help\n` };
  }
  const values = parsed.values as Record<string, unknown>;
  if (values['help'] === true) return { kind: 'exit', code: 0, stdout: spec.usage.trimEnd() + '\n', stderr: '' };
  if (values['version'] === true) return { kind: 'exit', code: 0, stdout: versionLine() + '\n', stderr: '' };
  return { kind: 'run', values: parsed.values as never, positionals: parsed.positionals };
}

/** Parses, and ends the process itself for --help, --version and mistakes. */
export function readCommandLine<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>, argv: readonly string[] = process.argv.slice(2)): Extract<CommandLine<O>, { kind: 'run' }> {
  const line = parseCommandLine(spec, argv);
  if (line.kind === 'run') return line;
  if (line.stdout !== '') process.stdout.write(line.stdout);
  if (line.stderr !== '') process.stderr.write(line.stderr);
  process.exit(line.code);
}

/** A usage mistake found after parsing (a missing argument, a bad value): exit 2 with a pointer to --help. */
export function usageError(command: string, message: string): never {
  process.stderr.write(`${message}\nSee: ${command} --help\n`);
  process.exit(2);
}

/** `geo-callfs 0.1.0 (node v24.1.0)`. */
export function versionLine(): string {
  return `geo-callfs ${packageVersion()} (node ${process.version})`;
}

let cachedVersion: string | null = null;

/** The version in the repository's package.json, found upward from this file (source or dist/). */
export function packageVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'geo-callfs' && typeof manifest.version === 'string') return (cachedVersion = manifest.version);
    } catch {
      // not here: look one level up
    }
    dir = dirname(dir);
  }
  return (cachedVersion = 'unknown');
}
