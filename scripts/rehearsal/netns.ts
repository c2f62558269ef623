/**
 * @module Running things inside the rehearsal's network namespaces: one-shot commands, long-lived
 * servers (started detached, logged to a file, recorded by PID and start time), TCP waits and
 * HTTP requests made with curl from inside a region. The host namespace has no route into the
 * rehearsal, so everything that talks to it goes through `ip netns exec`.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, type ProcessRecord } from './state.js';
import { processStartTime } from '../local-services/pid-lock.js';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion; rejects with its stderr when it fails or outlives `timeoutMs`. */
export function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error !== null) {
        const detail = (stderr || stdout || error.message).trim().split('\n').slice(-3).join(' | ');
        reject(new Error(`${command} ${args.join(' ')}: ${detail}`));
      } else resolve({ stdout, stderr });
    });
  });
}

export function inNamespace(ns: string, command: string, args: readonly string[], timeoutMs?: number): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, command, ...args], timeoutMs);
}

export function namespaceExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`);
}

/** Whether `ip netns` works here (root, a kernel with network namespaces, iproute2). */
export async function netnsAvailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'the rehearsal needs root (network namespaces, iptables, Postgres as the postgres user)';
  try {
    await run('ip', ['netns', 'list'], 10_000);
    return null;
  } catch (error) {
    return `ip netns is unavailable: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export interface DaemonSpec {
  readonly name: string;
  readonly ns: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly log: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly stopSignal?: NodeJS.Signals;
  readonly stopOrder: number;
}

/**
 * Starts a server inside `ns`, detached from this process (it outlives `up`), with stdout and
 * stderr appended to its log. `ip netns exec` replaces itself with the command, so the PID is the
 * server's own.
 */
export async function startDaemon(spec: DaemonSpec): Promise<ProcessRecord> {
  const fd = openSync(spec.log, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', spec.ns, spec.command, ...spec.args], {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${spec.name}: could not start ${spec.command}`);
    child.unref();
    // The fork has happened when spawn returns: /proc/PID is normally readable at once.
    let startTime = processStartTime(pid);
    for (let i = 0; startTime === null && i < 20; i++) {
      await sleep(10);
      startTime = processStartTime(pid);
    }
    if (startTime === null) throw new Error(`${spec.name}: ${spec.command} exited at once; see ${spec.log}`);
    return { name: spec.name, pid, startTime, ns: spec.ns, stopSignal: spec.stopSignal ?? 'SIGTERM', stopOrder: spec.stopOrder, log: spec.log };
  } finally {
    closeSync(fd);
  }
}

/** Last lines of a log, for error messages. */
export function logTail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits until `host:port` accepts TCP connections from inside `ns`. */
export async function waitForTcp(ns: string, host: string, port: number, timeoutMs: number, what: string, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await inNamespace(ns, 'bash', ['-c', `exec 3<>/dev/tcp/${host}/${port}`], 5000);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${what}: nothing listens on ${host}:${port} after ${timeoutMs} ms${log === undefined ? '' : `\n${logTail(log)}`}`);
      await sleep(100);
    }
  }
}

export interface HttpAnswer {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Total time as curl measured it. */
  readonly ms: number;
}

export interface HttpRequest {
  readonly method?: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  readonly timeoutMs?: number;
  /** curl `--resolve host:port:address` entries. */
  readonly resolve?: readonly string[];
}

/** One HTTP request made by curl from inside `ns` (a client sitting in that region). */
export async function httpFrom(ns: string, request: HttpRequest): Promise<HttpAnswer> {
  const scratch = mkdtempSync(join(tmpdir(), 'rehearsal-http-'));
  try {
    const headerFile = join(scratch, 'headers');
    const args = ['netns', 'exec', ns, 'curl', '-sS', '-X', request.method ?? 'GET', '-D', headerFile, '-o', '-', '-w', '\n%{time_total}', '--max-time', String((request.timeoutMs ?? 20_000) / 1000)];
    for (const [name, value] of Object.entries(request.headers ?? {})) args.push('-H', `${name}: ${value}`);
    for (const entry of request.resolve ?? []) args.push('--resolve', entry);
    if (request.body !== undefined) args.push('--data-binary', '@-');
    args.push(request.url);
    const output = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
      child.once('error', reject);
      // curl may exit (refused, timed out) before reading the body: its exit code tells why.
      child.stdin.on('error', () => undefined);
      child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`curl ${request.url} from ${ns}: ${err.trim() || `exit ${String(code)}`}`))));
      child.stdin.end(request.body ?? '');
    });
    const split = output.lastIndexOf('\n');
    const body = output.subarray(0, split);
    const seconds = Number(output.subarray(split + 1).toString());
    // With redirects or 100-continue there can be several header blocks: the last one counts.
    const blocks = readFileSync(headerFile, 'utf8').trim().split(/\r?\n\r?\n/);
    const lines = (blocks[blocks.length - 1] ?? '').split(/\r?\n/);
    const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status, headers, body, ms: Math.round(seconds * 1000 * 10) / 10 };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** `dig +short` for an A record, asked from inside `ns`; the addresses sorted. */
export async function resolveFrom(ns: string, server: string, name: string): Promise<string[]> {
  const { stdout } = await inNamespace(ns, 'dig', ['+short', '+time=2', '+tries=1', `@${server}`, name, 'A'], 10_000);
  return stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /^\d+\.\d+\.\d+\.\d+$/.test(s))
    .sort();
}

/** Average ping round trip from inside `ns` to `address`, or null when nothing came back. */
export async function pingRtt(ns: string, address: string, count = 5): Promise<number | null> {
  try {
    const { stdout } = await inNamespace(ns, 'ping', ['-q', '-n', '-c', String(count), '-i', '0.2', '-W', '2', address], 30_000);
    // The fastest of the pings: the delay the path adds. The average also counts the moments a
    // busy machine held a packet back, which is not the configured round trip.
    const match = /= ([\d.]+)\/[\d.]+\//.exec(stdout);
    return match?.[1] === undefined ? null : Number(match[1]);
  } catch {
    return null;
  }
}
