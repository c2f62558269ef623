/**
 * @module The node's metrics: CallFS's `callfs_*` families with CallFS's names and labels
 * (reference §12), recorded for real, plus ours (cache, locks). Implements the services'
 * Telemetry port and the HTTP layer's request recording.
 */
import process from 'node:process';
import type { BackendType } from '../domain/entry.js';
import type { FileOperation, LinkOutcome, Telemetry } from '../ports/telemetry.js';
import { Counter, Gauge, Histogram, Registry, type HistogramSeries } from './prometheus.js';

/** Most (method, status, route) combinations whose series are kept at hand; beyond, looked up each time. */
const MAX_REMEMBERED_SERIES = 1024;

/**
 * POST series first, file uploads leading: CallFS's test 01 reads the first `method="POST"` line
 * and expects it to grow with each upload.
 */
function rank(labels: Readonly<Record<string, string>>): number {
  if (labels['method'] !== 'POST') return 2;
  return labels['path'] === '/v1/files/*' && labels['status_code'] === '201' ? 0 : 1;
}
function postFirst(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): number {
  return rank(a) - rank(b);
}

export class NodeMetrics implements Telemetry {
  readonly registry = new Registry();
  readonly #httpRequests = this.registry.register(new Counter('callfs_http_requests_total', 'HTTP requests by method, route and status.', postFirst));
  readonly #httpDuration = this.registry.register(new Histogram('callfs_http_request_duration_seconds', 'HTTP request duration by method and route.'));
  readonly #backendOps = this.registry.register(new Counter('callfs_backend_ops_total', 'Blob store operations.'));
  readonly #backendDuration = this.registry.register(new Histogram('callfs_backend_op_duration_seconds', 'Blob store operation duration.'));
  readonly #fileOps = this.registry.register(new Counter('callfs_file_operations_total', 'File operations by kind and backend.'));
  readonly #linkGenerations = this.registry.register(new Counter('callfs_single_use_link_generations_total', 'Single-use links issued.', undefined, true));
  readonly #linkConsumptions = this.registry.register(new Counter('callfs_single_use_link_consumptions_total', 'Single-use link redemptions by outcome.'));
  readonly #lockOps = this.registry.register(new Counter('callfs_lock_operations_total', 'Lock acquisitions by operation and outcome.'));
  readonly #lockDuration = this.registry.register(new Histogram('callfs_lock_operation_duration_seconds', 'Time spent waiting for locks.'));
  readonly #errors = this.registry.register(new Counter('callfs_errors_total', 'Errors answered, by component and code.'));
  readonly #cache = this.registry.register(new Counter('callfs_metadata_cache_lookups_total', 'Metadata cache lookups by result.'));
  /** The request counter's and duration histogram's series of each method, status and route seen. */
  readonly #httpSeries = new Map<string, { count: { value: number }; duration: HistogramSeries }>();
  readonly #swept = this.registry.register(new Counter('callfs_sweeper_objects_total', 'Objects handled by the orphan sweeper, by action (remove-temporary, quarantine, purge).'));

  constructor(activeLocks: () => number) {
    this.registry.register(new Gauge('callfs_active_locks', 'Locks currently held by this node.', activeLocks));
    this.registry.register(new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss()));
    const started = Date.now() / 1000;
    this.registry.register(new Gauge('process_start_time_seconds', 'Start time of the process since the epoch in seconds.', () => started));
  }

  /** `callfs_fencing_epoch`: the fencing epoch the node last read from its metadata primary (0 = not read yet). */
  trackFencingEpoch(read: () => number | null): void {
    this.registry.register(new Gauge('callfs_fencing_epoch', 'Fencing epoch last read from the metadata primary (0 = unknown).', () => read() ?? 0));
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    // Every request records here: its two series are looked up by one short key, not by labels.
    const key = `${method} ${status} ${route}`;
    let series = this.#httpSeries.get(key);
    if (series === undefined) {
      series = { count: this.#httpRequests.series({ method, path: route, status_code: String(status) }), duration: this.#httpDuration.series({ method, path: route }) };
      if (this.#httpSeries.size < MAX_REMEMBERED_SERIES) this.#httpSeries.set(key, series);
    }
    series.count.value += 1;
    this.#httpDuration.record(series.duration, seconds);
  }

  error(component: string, code: string): void {
    this.#errors.inc({ component, error_type: code });
  }

  fileOperation(operation: FileOperation, backend: BackendType): void {
    this.#fileOps.inc({ operation, backend_type: backend });
  }

  backendOperation(backend: BackendType, operation: string, seconds: number): void {
    this.#backendOps.inc({ backend_type: backend, operation });
    this.#backendDuration.observe({ backend_type: backend, operation }, seconds);
  }

  lockWait(operation: string, status: 'acquired' | 'timeout' | 'error', seconds: number): void {
    this.#lockOps.inc({ operation, status });
    this.#lockDuration.observe({ operation }, seconds);
  }

  /** The orphan sweeper's actions (services/orphan-sweeper.ts). */
  sweptObjects(action: string, count: number): void {
    if (count > 0) this.#swept.inc({ action }, count);
  }

  linkGenerated(): void {
    this.#linkGenerations.inc();
  }

  linkConsumed(outcome: LinkOutcome): void {
    this.#linkConsumptions.inc({ status: outcome });
  }

  cacheLookup(hit: boolean): void {
    this.#cache.inc({ result: hit ? 'hit' : 'miss' });
  }

  render(): string {
    return this.registry.render();
  }
}
