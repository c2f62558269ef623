/**
 * `npm run bench`: our node (local disk, real Postgres, API key checked, metadata looked up)
 * against bare node:http, both pinned to core 0, with the yardstick workloads of
 * shared/bench/bench-target.sh in one run; prints medians, ratios and the RSS check.
 * Env: RUNS (3) DURATION (5) WARMUP (1) WORKLOADS ("get4k put4k get64m put64m")
 *      BENCH_DIR (../shared/bench) OUT (a temp dir). Everything started here is stopped by PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTestDatabase, startPostgres, type PostgresServer } from '../test/support/postgres-server.js';
import { freePort, stopChild, waitForPort } from '../test/support/processes.js';

const repo = resolve(new URL('..', import.meta.url).pathname);
const benchDir = resolve(process.env['BENCH_DIR'] ?? join(repo, '../shared/bench'));
const runs = process.env['RUNS'] ?? '3';
const duration = process.env['DURATION'] ?? '5';
const warmup = process.env['WARMUP'] ?? '1';
const workloads = (process.env['WORKLOADS'] ?? 'get4k put4k get64m put64m').split(/\s+/).filter(Boolean);
const out = process.env['OUT'] ?? mkdtempSync(join(tmpdir(), 'callfs-bench-'));
const KEY = 'bench-key-0123456789abcdef';
const TARGETS: Record<string, number> = { get4k: 0.8, put4k: 0.6, get64m: 0.8, put64m: 0.8 };

function need(tool: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    if (process.getuid?.() === 0) execFileSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${pkg}`], { stdio: 'inherit' });
    else throw new Error(`missing ${tool}: sudo apt-get install -y ${pkg}`);
  }
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The server's main process: our node runs under taskset, which execs node in place. */
function start(label: string, command: string[], env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn('taskset', ['-c', '0', ...command], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return waitForPort(port, 30_000).then(() => {
    console.log(`started ${label} (pid ${child.pid ?? '?'}) on :${port}`);
    return child;
  });
}

function runWorkload(label: string, url: string, pid: number, workload: string): { peakRss: number } {
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  try {
    execFileSync('bash', [join(benchDir, 'bench-target.sh'), url, KEY, 'bench'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, RUNS: runs, DURATION: duration, WARMUP: warmup, WORKLOADS: workload, LABEL: label, RESULTS_DIR: join(out, 'results'), SERVER_PIDS: String(pid), APPEND: '1' },
    });
  } finally {
    clearInterval(sampler);
  }
  return { peakRss: Math.max(peak, rssMiB(pid)) };
}

interface RunLine {
  workload: string;
  rps?: number;
  mbps?: number;
}

function medians(label: string): Map<string, number> {
  const file = join(out, 'results', `${label}.runs.jsonl`);
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunLine);
  const result = new Map<string, number>();
  for (const w of workloads) {
    const values = lines.filter((l) => l.workload === w).map((l) => (w.endsWith('64m') ? l.mbps : l.rps) ?? 0).sort((a, b) => a - b);
    const mid = values.length >> 1;
    result.set(w, values.length % 2 ? (values[mid] ?? 0) : ((values[mid - 1] ?? 0) + (values[mid] ?? 0)) / 2);
  }
  return result;
}

async function main(): Promise<void> {
  need('wrk', 'wrk');
  need('cc', 'gcc');
  need('taskset', 'util-linux');
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
    const ourRoot = join(out, 'ours-files');
    const baseRoot = join(out, 'node-http-files');
    mkdirSync(baseRoot, { recursive: true });
    const config = join(out, 'node.yaml');
    writeFileSync(
      config,
      `server:\n  listen_addr: "127.0.0.1:${ourPort}"\n  protocol: http\nauth:\n  api_keys: ["${KEY}"]\n  internal_proxy_secret: bench-internal-secret\n  single_use_link_secret: bench-link-secret\n` +
        `log:\n  level: error\nmetadata_store:\n  dsn: "${dsn}"\ndlm:\n  type: local\nbackend:\n  localfs_root_path: "${ourRoot}"\ninstance_discovery:\n  instance_id: bench-node\n`,
    );
    const ours = await start('callfs-ts', [process.execPath, '--import', 'tsx', join(repo, 'app/main.ts'), '--config', config], {}, ourPort);
    children.push(ours);
    const base = await start('node-http', [process.execPath, join(benchDir, 'servers/node-http.mjs')], { PORT: String(basePort), DATA_DIR: baseRoot, API_KEY: KEY }, basePort);
    children.push(base);
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssMiB(ours.pid ?? 0);
    const peaks = new Map<string, number>();
    for (const workload of workloads) {
      // Interleave: each workload runs against both servers before the next one.
      peaks.set(workload, runWorkload('callfs-ts', `http://127.0.0.1:${ourPort}`, ours.pid ?? 0, workload).peakRss);
      runWorkload('node-http', `http://127.0.0.1:${basePort}`, base.pid ?? 0, workload);
    }
    const oursMed = medians('callfs-ts');
    const baseMed = medians('node-http');
    const rows = workloads.map((w) => {
      const a = oursMed.get(w) ?? 0;
      const b = baseMed.get(w) ?? 0;
      const ratio = b === 0 ? 0 : a / b;
      const target = TARGETS[w] ?? 0;
      return `| ${w} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${w.endsWith('64m') ? 'MB/s' : 'req/s'} | ${ratio.toFixed(2)}× | ≥ ${target}× | ${ratio >= target ? 'PASS' : 'MISS'} |`;
    });
    const bigPeak = Math.max(peaks.get('get64m') ?? 0, peaks.get('put64m') ?? 0);
    const rssLine = `| RSS during 64 MiB transfers | ${bigPeak.toFixed(0)} MiB | idle ${idleRss.toFixed(0)} MiB | | +${(bigPeak - idleRss).toFixed(0)} MiB | ≤ +100 MiB | ${bigPeak - idleRss <= 100 ? 'PASS' : 'MISS'} |`;
    const table = ['| workload | callfs-ts | node:http | unit | ratio | target | |', '|---|---|---|---|---|---|---|', ...rows, rssLine].join('\n');
    console.log(`\nRUNS=${runs} DURATION=${duration}s WARMUP=${warmup}s, servers pinned to core 0, load on core 1; raw runs in ${join(out, 'results')}\n`);
    console.log(table);
  } finally {
    await stopAll();
    if (process.env['OUT'] === undefined) rmSync(join(out, 'ours-files'), { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
