/**
 * @module Readiness: whether this node's dependencies answer. `/health` stays static like
 * CallFS's (load balancers need a liveness answer even when a dependency blips); `/ready`
 * reports each dependency so health checks can pull a broken node or region out of rotation.
 */
export interface DependencyCheck {
  readonly name: string;
  readonly check: () => Promise<void>;
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

  async readiness(): Promise<ReadinessReport> {
    const results = await Promise.all(
      this.dependencies.map(async ({ name, check }) => {
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
