/**
 * @module How the AWS drill provider's SQL reaches a region's database. The RDS instances sit in
 * isolated subnets behind security groups that admit the nodes (and the drill SQL runner) only, so
 * SQL sent from the operator's machine needs a route into the VPC. Two ways, one seam:
 *
 * - `ecs` (./sql-reach-ecs.ts): a one-shot ECS task of the node image, started in the region's
 *   private subnets (infra/constructs/drill-sql-runner.ts), runs the batch and logs the result.
 *   Nothing but the AWS APIs is needed from where the drill runs.
 * - `direct`: the batch runs in this process over `pg`, TLS verified against the RDS CA bundle:
 *   for an operator with a bastion, a VPN or a tunnel into the VPCs.
 * - `auto` (the default): per region, `ecs` when the region publishes the runner's SSM parameters,
 *   else `direct` (with one line saying so).
 *
 * Either way the batch is the same (app/drill-sql/batch.ts) and so is the result: a batch that ran
 * returns its rows, a database that refuses the connection is a `DatabaseUnreachableError`
 * (the region's data plane is out of reach), a statement that fails is an error naming it.
 */
import { runSqlBatch, type SqlBatch, type SqlBatchResult } from '../../../app/drill-sql/batch.js';
import type { Region } from '../../../regions/schema.js';
import { withDatabaseSession, type DatabaseSessionOptions } from './database-session.js';
import { DatabaseUnreachableError, type DatabaseTarget } from './database-session.js';

export type SqlVia = 'ecs' | 'direct' | 'auto';

export const SQL_VIA: readonly SqlVia[] = ['auto', 'ecs', 'direct'];

/** A batch that ran to its end (or to a guard that stopped it). */
export type SqlBatchRows = Extract<SqlBatchResult, { ok: true }>;

export interface SqlReach {
  /** Runs `batch` in one session on `target` (the region's instance); see the module comment for the errors. */
  run(region: Region, target: DatabaseTarget, batch: SqlBatch): Promise<SqlBatchRows>;
  /** Whether `run` needs the administrative credentials in `target` (the ECS task has its own, from Secrets Manager). */
  needsCredentials(region: Region): Promise<boolean>;
}

/** A reach that cannot serve a region (an ECS runner the region does not publish). */
export class SqlReachUnavailableError extends Error {
  override readonly name = 'SqlReachUnavailable';
}

/** A batch's failure as an error: unreachable for a refused connection, else naming where and which statement. */
export function batchError(where: string, result: Extract<SqlBatchResult, { ok: false }>): Error {
  if (result.stage === 'connect') return new DatabaseUnreachableError(`${where}: cannot connect to the database: ${result.message}`);
  if (result.stage === 'statement') return new Error(`${where}: statement ${result.at ?? '?'} of the batch failed${result.code === null ? '' : ` (SQLSTATE ${result.code})`}: ${result.message}`);
  return new Error(`${where}: the batch did not run (${result.stage}): ${result.message}`);
}

/** The batch over `pg` from this process. */
export class DirectSqlReach implements SqlReach {
  constructor(private readonly sessionOptions: () => DatabaseSessionOptions) {}

  async run(region: Region, target: DatabaseTarget, batch: SqlBatch): Promise<SqlBatchRows> {
    const result = await withDatabaseSession(target, this.sessionOptions(), (client) => runSqlBatch(client, batch));
    if (!result.ok) throw batchError(`${region.name} (direct SQL to ${target.host}:${target.port})`, result);
    // Through JSON, as the ECS task's result arrives: bigints stay text, timestamps become ISO strings.
    return JSON.parse(JSON.stringify(result)) as SqlBatchRows;
  }

  needsCredentials(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

/** A reach that serves a region only when it can (the ECS runner): `available` says, once per region. */
export interface RegionalSqlReach extends SqlReach {
  available(region: Region): Promise<boolean>;
}

/**
 * `auto`: the ECS runner where the region publishes it, the direct connection elsewhere. The
 * choice is made once per region (its SSM parameters are read once) and logged for `direct`.
 */
export class AutoSqlReach implements SqlReach {
  readonly #chosen = new Map<string, Promise<SqlReach>>();

  constructor(
    private readonly ecs: RegionalSqlReach,
    private readonly direct: SqlReach,
    private readonly log: (line: string) => void,
  ) {}

  #pick(region: Region): Promise<SqlReach> {
    let chosen = this.#chosen.get(region.name);
    if (chosen === undefined) {
      chosen = this.ecs.available(region).then((yes) => {
        if (!yes) this.log(`SQL in ${region.name}: the region publishes no drill SQL runner (redeploy its stack for one); connecting directly from here, which needs a route into its VPC`);
        return yes ? this.ecs : this.direct;
      });
      chosen.catch(() => this.#chosen.delete(region.name));
      this.#chosen.set(region.name, chosen);
    }
    return chosen;
  }

  async run(region: Region, target: DatabaseTarget, batch: SqlBatch): Promise<SqlBatchRows> {
    return (await this.#pick(region)).run(region, target, batch);
  }

  async needsCredentials(region: Region): Promise<boolean> {
    return (await this.#pick(region)).needsCredentials(region);
  }
}
