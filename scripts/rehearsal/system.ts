/**
 * @module What the rehearsal needs from the machine: Debian packages (installed as root when
 * missing, else the exact command is printed), the PostgreSQL binaries (found as the
 * local-services toolkit finds them), and the `wan-delay` program, compiled from its C source at
 * `up` and cached by the source's hash.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresBinDir } from '../local-services/postgres-binaries.js';
import { run } from './netns.js';

interface Requirement {
  readonly what: string;
  readonly present: () => boolean;
  readonly debianPackage: string;
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const REQUIREMENTS: readonly Requirement[] = [
  { what: 'PostgreSQL server binaries', present: () => postgresBinDir() !== null, debianPackage: 'postgresql-15' },
  { what: 'redis-server', present: () => hasCommand('redis-server'), debianPackage: 'redis-server' },
  { what: 'iptables (NFQUEUE rule in the router namespace)', present: () => hasCommand('iptables'), debianPackage: 'iptables' },
  { what: 'libnetfilter_queue headers (to build wan-delay)', present: () => existsSync('/usr/include/libnetfilter_queue/libnetfilter_queue.h'), debianPackage: 'libnetfilter-queue-dev' },
  { what: 'gcc (to build wan-delay)', present: () => hasCommand('gcc'), debianPackage: 'gcc' },
  { what: 'ping (RTT measurement)', present: () => hasCommand('ping'), debianPackage: 'iputils-ping' },
  { what: 'dig (DNS checks)', present: () => hasCommand('dig'), debianPackage: 'dnsutils' },
  { what: 'named (the GeoDNS stand-in)', present: () => hasCommand('named'), debianPackage: 'bind9' },
  { what: 'curl (requests from inside a region)', present: () => hasCommand('curl'), debianPackage: 'curl' },
  { what: 'setpriv (Postgres as the postgres user)', present: () => hasCommand('setpriv'), debianPackage: 'util-linux' },
];

/** The Debian packages the rehearsal needs, for `.ci/run` and error messages. */
export const DEBIAN_PACKAGES = REQUIREMENTS.map((r) => r.debianPackage);

export async function ensureSystemPackages(log: (line: string) => void): Promise<void> {
  const missing = REQUIREMENTS.filter((r) => !r.present());
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((r) => r.debianPackage))];
  const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.map((r) => r.what).join(', ')}; install with: sudo sh -c '${command}'`);
  log(`installing ${packages.join(' ')}`);
  execFileSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive ${command}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const still = REQUIREMENTS.filter((r) => !r.present());
  if (still.length > 0) throw new Error(`still missing after apt-get: ${still.map((r) => r.what).join(', ')}`);
}

export const WAN_DELAY_SOURCE = fileURLToPath(new URL('./wan-delay.c', import.meta.url));

/** Compiles wan-delay.c into `binDir` unless this exact source was compiled before; returns the binary. */
export async function buildWanDelay(binDir: string): Promise<string> {
  const source = readFileSync(WAN_DELAY_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const binary = join(binDir, `wan-delay-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(binDir, { recursive: true });
  await run('gcc', ['-O2', '-Wall', '-o', `${binary}.tmp`, WAN_DELAY_SOURCE, '-lnetfilter_queue'], 120_000);
  renameSync(`${binary}.tmp`, binary);
  return binary;
}
