/**
 * @module Readiness: whether this node's dependencies answer, per role. `/health` stays static
 * like CallFS's (load balancers need a liveness answer even when a dependency blips); `/ready`
 * reports every dependency, as CallFS clients expect. Two narrower questions serve the regions:
 *
 * - `read`: can this node serve reads? Its bytes (disk, S3) and the metadata it reads from (its
 *   region's replica, answering and replaying within its lag bound; or the primary when it reads
 *   from the primary). DNS health checks ask this, so a home-region outage, which stops writes
 *   everywhere, does not take the healthy regions out of the answers.
 * - `write`: can this node accept writes? The primary writable (reachable, not fenced) and the
 *   lock home reachable, plus the bytes.
 */
export type ReadinessRole = 'all' | 'read' | 'write';

export interface DependencyCheck {
  readonly name: string;
  readonly check: () => Promise<void>;
  /** The narrower roles that need this dependency (every check counts for `all`); default both. */
  readonly roles?: readonly ('read' | 'write')[];
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, 'ok' | string>;
}

export class HealthService {
  constructor(
    private readonly dependencies: readonly DependencyCheck[],
    private readonly timeoutMs = 2000,
  ) {}

  async readiness(role: ReadinessRole = 'all'): Promise<ReadinessReport> {
    const relevant = this.dependencies.filter((d) => role === 'all' || (d.roles ?? ['read', 'write']).includes(role));
    const results = await Promise.all(
      relevant.map(async ({ name, check }) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), this.timeoutMs);
        });
        try {
          await Promise.race([check(), timeout]);
          return [name, 'ok'] as const;
        } catch (error) {
          const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'unavailable';
          return [name, code === 'undefined' ? 'unavailable' : code] as const;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return { ready: results.every(([, status]) => status === 'ok'), checks: Object.fromEntries(results) };
  }
}
