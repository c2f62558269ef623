/**
 * `npm run bench`: our node (local disk, real Postgres, API key checked, metadata looked up)
 * against bare node:http, both pinned to core 0, with the yardstick workloads of
 * shared/bench/bench-target.sh in one run; prints medians, ratios and the RSS check.
 *
 * GEO=1 adds the geo rows afterwards (scripts/bench-geo.ts, `npm run bench:geo`: on a rehearsal).
 *
 * Unless PROXY=0 it also measures the peer hop in the same run: client → node A → node B, where
 * B (the node of the first table) holds the files and A, a second node on the same Postgres with
 * B as its peer, forwards every request there. Its yardstick is the rig's bare undici proxy
 * (servers/proxy.mjs, HONO_IO=node, as run-baselines.sh runs proxy-node) in front of the same bare
 * node:http. A proxy and its upstream share core 0, so 0.5× direct is the ceiling of the hop.
 *
 * Runs are interleaved: for each workload, round r runs every server once (order rotated per
 * round), each run after its own warm-up, so drift on a shared machine hits all servers alike.
 * Every ratio is also taken round by round (the two servers of one round ran back to back): the
 * table shows the median of those ratios and their spread (max − min), and marks a ratio
 * "unreliable" when its spread is larger than its distance to the target.
 * Env: RUNS (5) DURATION (5) WARMUP (1) WORKLOADS ("get4k put4k get64m put64m") PROXY (1)
 *      BENCH_DIR (../shared/bench) OUT (a temp dir). Everything started here is stopped by PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCommandLine } from '../app/cli/command-line.js';
import { createTestDatabase, startPostgres, type PostgresServer } from '../test/support/postgres-server.js';
import { freePort, stopChild, waitForPort } from '../test/support/processes.js';

const USAGE = `usage: npm run bench [-- --json]

Our node against bare node:http on this machine (servers pinned to core 0, load on core 1), the
peer hop against a bare undici proxy, with medians, ratios and the RSS check. Needs wrk, gcc and
taskset (it names the apt-get line when one is missing) and the baseline rig (BENCH_DIR).

options:
  --json        machine-readable results on stdout
  -h, --help    this text
  --version     the geo-callfs and Node versions
environment: RUNS (3) DURATION (5) WARMUP (1) WORKLOADS ("get4k put4k get64m put64m") PROXY (1)
BENCH_DIR (../shared/bench) OUT (a temp dir) GEO=1 (then npm run bench:geo)`;

const { values: flags } = readCommandLine({ command: 'npm run bench --', usage: USAGE, options: { json: { type: 'boolean' } } });
const log = (line: string): void => {
  // With --json, stdout carries only the results.
  if (flags.json === true) process.stderr.write(line + '\n');
  else console.log(line);
};
const repo = resolve(new URL('..', import.meta.url).pathname);
const benchDir = resolve(process.env['BENCH_DIR'] ?? join(repo, '../shared/bench'));
const runs = Number(process.env['RUNS'] ?? '5');
const duration = process.env['DURATION'] ?? '5';
const warmup = process.env['WARMUP'] ?? '1';
const workloads = (process.env['WORKLOADS'] ?? 'get4k put4k get64m put64m').split(/\s+/).filter(Boolean);
const withProxy = process.env['PROXY'] !== '0';
const out = process.env['OUT'] ?? mkdtempSync(join(tmpdir(), 'callfs-bench-'));
const KEY = 'bench-key-0123456789abcdef';
const PREFIX = 'bench';
const TARGETS: Record<string, number> = { get4k: 0.9, put4k: 0.5, get64m: 0.9, put64m: 0.8 };
/** Via peer against direct (issue 4); put4k has no target and is shown for information. */
const PEER_TARGETS: Record<string, number> = { get4k: 0.45, get64m: 0.45, put64m: 0.45 };
/** Growth over idle RSS allowed while 64 MiB bodies stream through a server. */
const RSS_BOUND_MIB = 100;

/** A server under test. `pids[0]` is the process whose RSS is sampled; all count as server CPU. */
interface Server {
  readonly label: string;
  readonly url: string;
  readonly pids: readonly number[];
}

/** The tools the load drivers use; a missing one is named with the line that installs it. */
function need(tools: ReadonlyArray<readonly [string, string]>): void {
  const missing = tools.filter(([tool]) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
  throw new Error(`missing ${missing.map(([tool]) => tool).join(', ')}; install with: sudo apt-get install -y ${packages}`);
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The server's main process: our node runs under taskset, which execs node in place. */
function start(label: string, command: string[], env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn('taskset', ['-c', '0', ...command], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return waitForPort(port, 30_000).then(() => {
    log(`started ${label} (pid ${child.pid ?? '?'}) on :${port}`);
    return child;
  });
}

/** One step of bench-target.sh (setup, run, check or cleanup) against `server`. */
function rig(phase: string, server: Server, env: Record<string, string> = {}): void {
  execFileSync('bash', [join(benchDir, 'bench-target.sh'), server.url, KEY, PREFIX], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      RUNS: '1',
      DURATION: duration,
      WARMUP: warmup,
      WORKLOADS: workloads.join(' '),
      LABEL: server.label,
      RESULTS_DIR: join(out, 'results'),
      SERVER_PIDS: server.pids.join(' '),
      APPEND: '1',
      PHASE: phase,
      ...env,
    },
  });
}

/** One measured run (after its warm-up) of `workload`; returns the peak RSS of `pids[0]`. */
function runWorkload(server: Server, workload: string, round: number): number {
  const pid = server.pids[0] ?? 0;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  try {
    rig('run', server, { WORKLOADS: workload, RUN_BASE: String(round) });
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, rssMiB(pid));
}

interface RunLine {
  workload: string;
  rps?: number;
  mbps?: number;
  errors?: number;
}

function runLines(label: string): RunLine[] {
  const file = join(out, 'results', `${label}.runs.jsonl`);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunLine);
}

/** "label workload: n failed requests" for every workload whose runs saw errors. */
function failures(labels: readonly string[]): string[] {
  const found: string[] = [];
  for (const label of labels) {
    for (const w of workloads) {
      const errors = runLines(label).filter((l) => l.workload === w).reduce((sum, l) => sum + (l.errors ?? 0), 0);
      if (errors > 0) found.push(`${label} ${w}: ${errors} failed requests`);
    }
  }
  return found;
}

function medians(label: string): Map<string, number> {
  const lines = runLines(label);
  const result = new Map<string, number>();
  for (const w of workloads) {
    const values = lines.filter((l) => l.workload === w).map((l) => (w.endsWith('64m') ? l.mbps : l.rps) ?? 0).sort((a, b) => a - b);
    const mid = values.length >> 1;
    result.set(w, values.length % 2 ? (values[mid] ?? 0) : ((values[mid - 1] ?? 0) + (values[mid] ?? 0)) / 2);
  }
  return result;
}

/** One value per round, in round order. */
function roundValues(label: string, w: string): number[] {
  return runLines(label)
    .filter((l) => l.workload === w)
    .map((l) => (w.endsWith('64m') ? l.mbps : l.rps) ?? 0);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? 0 : sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Round-by-round ratios of `a` over `b`: their median, spread, and whether the spread hides the verdict. */
function roundRatio(a: string, b: string, w: string, target: number | undefined): { median: number; spread: number; cell: string } {
  const top = roundValues(a, w);
  const bottom = roundValues(b, w);
  const ratios = top.map((v, i) => ((bottom[i] ?? 0) === 0 ? 0 : v / (bottom[i] ?? 1)));
  const mid = median(ratios);
  const spread = ratios.length === 0 ? 0 : Math.max(...ratios) - Math.min(...ratios);
  const unreliable = target !== undefined && spread > Math.abs(mid - target);
  return { median: mid, spread, cell: `${mid.toFixed(2)}× ±${(spread / 2).toFixed(2)}${unreliable ? ' unreliable' : ''}` };
}

function nodeConfig(instanceId: string, port: number, dsn: string, root: string, peers: Record<string, string>): string {
  const file = join(out, `${instanceId}.yaml`);
  const peerLines = Object.entries(peers).map(([id, url]) => `    ${id}: "${url}"\n`).join('');
  writeFileSync(
    file,
    `server:\n  listen_addr: "127.0.0.1:${port}"\n  protocol: http\nauth:\n  api_keys: ["${KEY}"]\n  internal_proxy_secret: bench-internal-secret\n  single_use_link_secret: bench-link-secret\n` +
      `log:\n  level: error\nmetadata_store:\n  dsn: "${dsn}"\ndlm:\n  type: local\nbackend:\n  localfs_root_path: "${root}"\n` +
      `instance_discovery:\n  instance_id: ${instanceId}\n` +
      (peerLines === '' ? '' : `  peer_endpoints:\n${peerLines}`),
  );
  return file;
}

/**
 * The rig's proxy script. The rig is read-only and may have no node_modules of its own; then the
 * script runs from a copy next to a link to our node_modules (same hono/undici versions).
 */
function rigProxyScript(): string {
  const script = join(benchDir, 'servers/proxy.mjs');
  if (existsSync(join(benchDir, 'node_modules/undici'))) return script;
  const dir = join(out, 'rig-proxy');
  mkdirSync(dir, { recursive: true });
  for (const name of ['proxy.mjs', 'fsutil.mjs']) copyFileSync(join(benchDir, 'servers', name), join(dir, name));
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'proxy.mjs');
}

const unitOf = (w: string): string => (w.endsWith('64m') ? 'MB/s' : 'req/s');
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

function rssRow(what: string, peak: number, idle: number): string {
  const growth = peak - idle;
  const signed = `${growth < 0 ? '−' : '+'}${Math.abs(growth).toFixed(0)}`;
  return `| ${what} | ${peak.toFixed(0)} MiB | idle ${idle.toFixed(0)} MiB | | ${signed} MiB | ≤ +${RSS_BOUND_MIB} MiB | ${verdict(growth <= RSS_BOUND_MIB)} |`;
}

async function main(): Promise<void> {
  need([
    ['wrk', 'wrk'],
    ['cc', 'gcc'],
    ['taskset', 'util-linux'],
  ]);
  if (!existsSync(join(benchDir, 'bench-target.sh'))) throw new Error(`bench rig not found at ${benchDir} (set BENCH_DIR)`);
  mkdirSync(join(out, 'results'), { recursive: true });
  let postgres: PostgresServer | null = null;
  const children: ChildProcess[] = [];
  const stopAll = async (): Promise<void> => {
    for (const child of children) await stopChild(child);
    await postgres?.destroy();
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    postgres = await startPostgres();
    const dsn = await createTestDatabase(postgres.adminUrl);
    const ourPort = await freePort();
    const basePort = await freePort();
    const peerPort = withProxy ? await freePort() : 0;
    const proxyPort = withProxy ? await freePort() : 0;
    const url = (port: number): string => `http://127.0.0.1:${port}`;
    const baseRoot = join(out, 'node-http-files');
    mkdirSync(baseRoot, { recursive: true });
    const tsx = [process.execPath, '--import', 'tsx', join(repo, 'app/main.ts'), '--config'];

    // B: the node that holds the files (the direct path). A: the node that forwards to it.
    const ourConfig = nodeConfig('bench-node', ourPort, dsn, join(out, 'ours-files'), withProxy ? { 'bench-peer': url(peerPort) } : {});
    const ours = await start('callfs-ts', [...tsx, ourConfig], {}, ourPort);
    children.push(ours);
    const base = await start('node-http', [process.execPath, join(benchDir, 'servers/node-http.mjs')], { PORT: String(basePort), DATA_DIR: baseRoot, API_KEY: KEY }, basePort);
    children.push(base);
    const servers: Server[] = [
      { label: 'callfs-ts', url: url(ourPort), pids: [ours.pid ?? 0] },
      { label: 'node-http', url: url(basePort), pids: [base.pid ?? 0] },
    ];
    if (withProxy) {
      const peerConfig = nodeConfig('bench-peer', peerPort, dsn, join(out, 'peer-files'), { 'bench-node': url(ourPort) });
      const peer = await start('callfs-peer (A→B)', [...tsx, peerConfig], {}, peerPort);
      children.push(peer);
      const proxyEnv = { PORT: String(proxyPort), ORIGIN: url(basePort), API_KEY: KEY, HONO_IO: 'node', NODE_ENV: 'production' };
      const proxy = await start('undici-proxy (→ node-http)', [process.execPath, rigProxyScript()], proxyEnv, proxyPort);
      children.push(proxy);
      servers.push({ label: 'callfs-peer', url: url(peerPort), pids: [peer.pid ?? 0, ours.pid ?? 0] });
      servers.push({ label: 'undici-proxy', url: url(proxyPort), pids: [proxy.pid ?? 0, base.pid ?? 0] });
    }
    await new Promise((r) => setTimeout(r, 1000));
    const idle = new Map(servers.map((s) => [s.label, rssMiB(s.pids[0] ?? 0)]));
    for (const s of servers) writeFileSync(join(out, 'results', `${s.label}.runs.jsonl`), '');

    // Only the holders get files: uploading through A would store them on A, not on B. The
    // proxied servers read and replace the files of the server behind them.
    const holders = servers.slice(0, 2);
    for (const s of holders) rig('setup', s);
    const peaks = new Map<string, number>();
    for (const workload of workloads) {
      for (let round = 0; round < runs; round++) {
        for (let k = 0; k < servers.length; k++) {
          const server = servers[(k + round) % servers.length] as Server;
          const key = `${server.label} ${workload}`;
          peaks.set(key, Math.max(peaks.get(key) ?? 0, runWorkload(server, workload, round)));
        }
      }
    }
    for (const s of servers) rig('check', s);
    for (const s of holders) rig('cleanup', s);

    // RSS checks only mean something when 64 MiB bodies went through.
    const big = workloads.some((w) => w.endsWith('64m'));
    const bigPeak = (label: string): number => Math.max(peaks.get(`${label} get64m`) ?? 0, peaks.get(`${label} put64m`) ?? 0);
    const med = new Map(servers.map((s) => [s.label, medians(s.label)]));
    const value = (label: string, w: string): number => med.get(label)?.get(w) ?? 0;
    const rows = workloads.map((w) => {
      const a = value('callfs-ts', w);
      const b = value('node-http', w);
      const target = TARGETS[w] ?? 0;
      const ratio = roundRatio('callfs-ts', 'node-http', w, target);
      return `| ${w} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${unitOf(w)} | ${ratio.cell} | ≥ ${target}× | ${verdict(ratio.median >= target)} |`;
    });
    const table = [
      '| workload | callfs-ts (median) | node:http (median) | unit | ratio (median of rounds ± half spread) | target | |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      ...(big ? [rssRow('RSS during 64 MiB transfers', bigPeak('callfs-ts'), idle.get('callfs-ts') ?? 0)] : []),
    ].join('\n');
    const failed = failures(servers.map((s) => s.label));
    if (flags.json === true) {
      const ratioOf = (a: number, b: number): number => (b === 0 ? 0 : a / b);
      const byWorkload = (label: string): Record<string, number> => Object.fromEntries(workloads.map((w) => [w, value(label, w)]));
      const result = {
        runs,
        duration_s: Number(duration),
        units: Object.fromEntries(workloads.map((w) => [w, unitOf(w)])),
        medians: Object.fromEntries(servers.map((s) => [s.label, byWorkload(s.label)])),
        ratio_to_node_http: Object.fromEntries(workloads.map((w) => [w, ratioOf(value('callfs-ts', w), value('node-http', w))])),
        targets: TARGETS,
        ...(withProxy ? { peer_ratio: Object.fromEntries(workloads.map((w) => [w, ratioOf(value('callfs-peer', w), value('callfs-ts', w))])), peer_targets: PEER_TARGETS } : {}),
        rss_mib: Object.fromEntries(servers.map((s) => [s.label, { idle: idle.get(s.label) ?? 0, peak_64m: bigPeak(s.label) }])),
        failed_requests: failed,
        raw_runs: join(out, 'results'),
      };
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return;
    }
    console.log(`\nRUNS=${runs} DURATION=${duration}s WARMUP=${warmup}s (before every run), servers pinned to core 0, load on core 1; raw runs in ${join(out, 'results')}\n`);
    console.log(table);
    const warnFailed = (): void => {
      if (failed.length > 0) console.log(`\nWARNING, requests failed (see the raw runs): ${failed.join('; ')}`);
    };
    if (!withProxy) return warnFailed();

    const peerRows = workloads.map((w) => {
      const direct = value('callfs-ts', w);
      const via = value('callfs-peer', w);
      const bare = value('node-http', w);
      const bareVia = value('undici-proxy', w);
      const target = PEER_TARGETS[w];
      const ratio = roundRatio('callfs-peer', 'callfs-ts', w, target);
      const cells = [w, direct.toFixed(0), via.toFixed(0), unitOf(w), ratio.cell, target === undefined ? '—' : `≥ ${target}×`];
      cells.push(bare.toFixed(0), bareVia.toFixed(0), roundRatio('undici-proxy', 'node-http', w, undefined).cell, target === undefined ? '' : verdict(ratio.median >= target));
      return `| ${cells.join(' | ')} |`;
    });
    const peerTable = [
      '| workload | direct (B) | via peer (A→B) | unit | ratio | target | node:http | undici proxy | bare ratio | |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...peerRows,
    ].join('\n');
    const rssTable = [
      '| proxy RSS | peak during 64 MiB | idle | | growth | bound | |',
      '|---|---|---|---|---|---|---|',
      rssRow('node A (via peer)', bigPeak('callfs-peer'), idle.get('callfs-peer') ?? 0),
      rssRow('bare undici proxy', bigPeak('undici-proxy'), idle.get('undici-proxy') ?? 0),
    ].join('\n');
    console.log(`\nPeer hop: client → A → B against client → B; bare undici proxy → node:http against node:http (each proxy shares core 0 with its upstream: 0.5× is the ceiling)\n`);
    console.log(peerTable);
    if (big) console.log(`\n${rssTable}`);
    warnFailed();
  } finally {
    await stopAll();
    if (process.env['OUT'] === undefined) for (const dir of ['ours-files', 'peer-files', 'node-http-files']) rmSync(join(out, dir), { recursive: true, force: true });
  }
}

main()
  .then(() => {
    // GEO=1: then the geo rows, on a rehearsal of the regions (root, network namespaces).
    if (process.env['GEO'] === '1') execFileSync(process.execPath, ['--import', 'tsx', join(repo, 'scripts/bench-geo.ts')], { stdio: 'inherit' });
  })
  .catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
