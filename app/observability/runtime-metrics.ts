/**
 * @module The process and Node.js runtime figures operators expect beside our own metrics, with
 * the names of prom-client's default collectors (so existing dashboards work): CPU, memory,
 * open file descriptors, event-loop lag, heap, GC pauses, active handles; plus
 * `callfs_build_info` (version, Node version, instance, region). Read when /metrics is
 * rendered, except event-loop delay and GC, which are sampled by Node as they happen.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import process from 'node:process';
import v8 from 'node:v8';
import { Collected, Histogram, type Registry } from './prometheus.js';

export interface BuildInfo {
  readonly version: string;
  readonly instance: string;
  readonly region: string;
}

const GC_KINDS: Readonly<Record<number, string>> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];

type Series = ReadonlyArray<{ labels: Readonly<Record<string, string>>; value: number }>;
const one = (value: number): Series => [{ labels: {}, value }];

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

function maxFds(): number {
  try {
    const match = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

/** Registers the runtime families on `registry`; the returned function stops the samplers. */
export function registerRuntimeMetrics(registry: Registry, build: BuildInfo): () => void {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const gc = new Histogram('nodejs_gc_duration_seconds', 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.', GC_BUCKETS);
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      gc.observe({ kind: GC_KINDS[entry.detail?.kind ?? 0] ?? 'unknown' }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const seconds = (ns: number): number => ns / 1e9;
  const [major, minor, patch] = process.versions.node.split('.');
  const add = (name: string, help: string, type: 'gauge' | 'counter', read: () => Series): void => {
    registry.register(new Collected(name, help, type, read));
  };
  add('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', 'counter', () => one(process.cpuUsage().user / 1e6));
  add('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', 'counter', () => one(process.cpuUsage().system / 1e6));
  add('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', 'counter', () => {
    const usage = process.cpuUsage();
    return one((usage.user + usage.system) / 1e6);
  });
  add('process_open_fds', 'Number of open file descriptors.', 'gauge', () => one(openFds()));
  add('process_max_fds', 'Maximum number of open file descriptors.', 'gauge', () => one(maxFds()));
  add('process_heap_bytes', 'Process heap size in bytes.', 'gauge', () => one(process.memoryUsage().heapTotal));
  add('nodejs_eventloop_lag_seconds', 'Lag of the event loop in seconds (mean since the last scrape).', 'gauge', () => one(Number.isNaN(loop.mean) ? 0 : seconds(loop.mean)));
  add('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', 'gauge', () => one(seconds(loop.min)));
  add('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', 'gauge', () => one(seconds(loop.max)));
  add('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', 'gauge', () => one(Number.isNaN(loop.mean) ? 0 : seconds(loop.mean)));
  add('nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', 'gauge', () => one(seconds(loop.percentile(50))));
  add('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', 'gauge', () => one(seconds(loop.percentile(99))));
  add('nodejs_active_handles_total', 'Number of active libuv handles.', 'gauge', () => one(activeResources((name) => name !== 'FSReqCallback' && name !== 'Timeout' && name !== 'Immediate')));
  add('nodejs_active_requests_total', 'Number of active libuv requests.', 'gauge', () => one(activeResources((name) => name === 'FSReqCallback')));
  add('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', 'gauge', () => one(process.memoryUsage().heapTotal));
  add('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', 'gauge', () => one(process.memoryUsage().heapUsed));
  add('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', 'gauge', () => one(process.memoryUsage().external));
  add('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', 'gauge', () =>
    v8.getHeapSpaceStatistics().map((space) => ({ labels: { space: space.space_name.replace(/_space$/, '') }, value: space.space_used_size })),
  );
  add('nodejs_version_info', 'Node.js version info.', 'gauge', () => [{ labels: { version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' }, value: 1 }]);
  registry.register(gc);
  add('callfs_build_info', 'The running build: geo-callfs version, Node.js version, instance and region.', 'gauge', () => [
    { labels: { version: build.version, node_version: process.version, instance: build.instance, region: build.region }, value: 1 },
  ]);
  return () => {
    loop.disable();
    observer.disconnect();
  };
}

function activeResources(keep: (name: string) => boolean): number {
  return process.getActiveResourcesInfo().filter(keep).length;
}
