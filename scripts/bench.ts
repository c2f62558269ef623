/**
 * `npm run bench`: our node as `npm start` runs it (dist/app/main.js, built first when stale;
 * local disk, real Postgres, API key checked, metadata looked up)
 * against bare node:http, both pinned to core 0, with the yardstick workloads of
 * scripts/bench/rig.ts in one run; prints medians, ratios and the RSS check. Everything it
 * runs is in this repository (scripts/bench/); it needs wrk and taskset on the machine and,
 * when one is missing, prints the apt-get line and exits 2 without starting anything.
 *
 * GEO=1 adds the geo rows afterwards (scripts/bench-geo.ts, `npm run bench:geo`: on a rehearsal).
 *
 * Unless PROXY=0 it also measures the peer hop in the same run: client → node A → node B, where
 * B (the node of the first table) holds the files and A, a second node on the same Postgres with
 * B as its peer, forwards every request there. Its yardstick is the rig's bare undici proxy
 * (scripts/bench/baselines/undici-proxy.ts) in front of the same bare node:http. A proxy and its
 * upstream share core 0, so 0.5× direct is the ceiling of the hop.
 *
 * Runs are interleaved: for each workload, round r runs every server once (order rotated per
 * round), each run after its own warm-up, so drift on a shared machine hits all servers alike.
 * Every ratio is also taken round by round (the two servers of one round ran back to back): the
 * table shows the median of those ratios and their spread (max − min), and marks a ratio
 * "unreliable" when its spread is larger than its distance to the target.
 * Env: RUNS (5) DURATION (5) WARMUP (1) WORKLOADS ("get4k put4k get64m put64m") PROXY (1)
 *      OUT (a temp dir). Everything started here is stopped by PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCommandLine } from '../app/cli/command-line.js';
import { baselineCommand, Bodies, checkPuts, cleanUp, installLine, missingTools, runWorkload as driveWorkload, SERVER_CPU, setUp, type Target } from './bench/rig.js';
import { createTestDatabase, startPostgres, type PostgresServer } from './local-services/postgres.js';
import { freePort, stopChild, waitForPort } from './local-services/processes.js';
import { withNodeThreadPool } from './local-services/node-runtime.js';

const USAGE = `usage: npm run bench [-- --json]

Our node against bare node:http on this machine (servers pinned to core 0, load on core 1), the
peer hop against a bare undici proxy, with medians, ratios and the RSS check. The baselines and
load drivers are in scripts/bench/. Needs wrk and taskset: when one is missing it prints the
apt-get line and exits 2.

options:
  --json        machine-readable results on stdout
  -h, --help    this text
  --version     the geo-callfs and Node versions
environment: RUNS (5) DURATION (5) WARMUP (1) WORKLOADS ("get4k put4k get64m put64m") PROXY (1)
OUT (a temp dir) GEO=1 (then npm run bench:geo)`;

const { values: flags } = readCommandLine({ command: 'npm run bench --', usage: USAGE, options: { json: { type: 'boolean' } } });
const log = (line: string): void => {
  // With --json, stdout carries only the results.
  if (flags.json === true) process.stderr.write(line + '\n');
  else console.log(line);
};
const repo = resolve(new URL('..', import.meta.url).pathname);
const runs = Number(process.env['RUNS'] ?? '5');
const duration = process.env['DURATION'] ?? '5';
const warmup = process.env['WARMUP'] ?? '1';
const missing = installLine(missingTools());
if (missing !== null) {
  process.stderr.write(`bench: ${missing}\n`);
  process.exit(2);
}
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
interface Server extends Target {
  readonly pids: readonly number[];
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The server's main process: our node runs under taskset, which execs node in place. */
function start(label: string, command: string[], env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn('taskset', ['-c', SERVER_CPU, ...command], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return waitForPort(port, 30_000).then(() => {
    log(`started ${label} (pid ${child.pid ?? '?'}) on :${port}`);
    return child;
  });
}

/**
 * One measured run of `workload` after its own unmeasured warm-up; appends the run to the
 * server's raw runs and returns the peak RSS of `pids[0]` during both.
 */
async function runWorkload(server: Server, workload: string, round: number): Promise<number> {
  const pid = server.pids[0] ?? 0;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  try {
    if (Number(warmup) > 0) await driveWorkload(server, workload, Number(warmup), round + 1);
    const line = await driveWorkload(server, workload, Number(duration), round + 1);
    appendFileSync(join(out, 'results', `${server.label}.runs.jsonl`), JSON.stringify(line) + '\n');
    log(`  ${server.label} ${workload} round ${round + 1}: ${workload.endsWith('64m') ? `${line.mbps ?? 0} MB/s` : `${line.rps} req/s`}${line.errors > 0 ? `, ${line.errors} errors` : ''}`);
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

const unitOf = (w: string): string => (w.endsWith('64m') ? 'MB/s' : 'req/s');
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

function rssRow(what: string, peak: number, idle: number): string {
  const growth = peak - idle;
  const signed = `${growth < 0 ? '−' : '+'}${Math.abs(growth).toFixed(0)}`;
  return `| ${what} | ${peak.toFixed(0)} MiB | idle ${idle.toFixed(0)} MiB | | ${signed} MiB | ≤ +${RSS_BOUND_MIB} MiB | ${verdict(growth <= RSS_BOUND_MIB)} |`;
}

async function main(): Promise<void> {
  mkdirSync(join(out, 'results'), { recursive: true });
  let postgres: PostgresServer | null = null;
  const children: ChildProcess[] = [];
  const bodies = new Bodies(workloads.some((w) => w.endsWith('64m')));
  const stopAll = async (): Promise<void> => {
    for (const child of children) await stopChild(child);
    await postgres?.destroy();
    bodies.remove();
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
    // The node users run: the compiled dist/app/main.js, built first when a source is newer
    // (what `npm start` does; the build's output stays off stdout, which --json keeps for results).
    execFileSync(process.execPath, [join(repo, 'scripts/build-if-stale.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
    const node = [process.execPath, join(repo, 'dist/app/main.js'), '--config'];

    // B: the node that holds the files (the direct path). A: the node that forwards to it.
    const ourConfig = nodeConfig('bench-node', ourPort, dsn, join(out, 'ours-files'), withProxy ? { 'bench-peer': url(peerPort) } : {});
    // Our nodes start as `npm start` starts them (its file-system thread pool); the baselines as they are.
    const ours = await start('callfs-ts', [...node, ourConfig], withNodeThreadPool({}), ourPort);
    children.push(ours);
    const base = await start('node-http', baselineCommand('node-http'), { PORT: String(basePort), DATA_DIR: baseRoot, API_KEY: KEY }, basePort);
    children.push(base);
    const server = (label: string, port: number, pids: Array<number | undefined>): Server => ({ label, url: url(port), key: KEY, prefix: PREFIX, pids: pids.map((p) => p ?? 0) });
    const servers: Server[] = [server('callfs-ts', ourPort, [ours.pid]), server('node-http', basePort, [base.pid])];
    if (withProxy) {
      const peerConfig = nodeConfig('bench-peer', peerPort, dsn, join(out, 'peer-files'), { 'bench-node': url(ourPort) });
      const peer = await start('callfs-peer (A→B)', [...node, peerConfig], withNodeThreadPool({}), peerPort);
      children.push(peer);
      const proxyEnv = { PORT: String(proxyPort), ORIGIN: url(basePort), API_KEY: KEY, NODE_ENV: 'production' };
      const proxy = await start('undici-proxy (→ node-http)', baselineCommand('undici-proxy'), proxyEnv, proxyPort);
      children.push(proxy);
      servers.push(server('callfs-peer', peerPort, [peer.pid, ours.pid]));
      servers.push(server('undici-proxy', proxyPort, [proxy.pid, base.pid]));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const idle = new Map(servers.map((s) => [s.label, rssMiB(s.pids[0] ?? 0)]));
    for (const s of servers) writeFileSync(join(out, 'results', `${s.label}.runs.jsonl`), '');

    // Only the holders get files: uploading through A would store them on A, not on B. The
    // proxied servers read and replace the files of the server behind them.
    const holders = servers.slice(0, 2);
    for (const s of holders) {
      log(`setting up ${s.label}: uploading and checking the workloads' files`);
      await setUp(s, workloads, bodies);
    }
    const peaks = new Map<string, number>();
    for (const workload of workloads) {
      for (let round = 0; round < runs; round++) {
        for (let k = 0; k < servers.length; k++) {
          const server = servers[(k + round) % servers.length] as Server;
          const key = `${server.label} ${workload}`;
          peaks.set(key, Math.max(peaks.get(key) ?? 0, await runWorkload(server, workload, round)));
        }
      }
    }
    const putWarnings: string[] = [];
    for (const s of servers) putWarnings.push(...(await checkPuts(s, workloads)));
    for (const s of holders) await cleanUp(s);
    for (const warning of putWarnings) log(`WARNING: ${warning}`);

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
