/**
 * @module The check that every acknowledged write is still there after a drill, with its bytes:
 * each write's last acknowledged content is fetched (a provider-supplied `FetchFile`, a few at a
 * time) and compared by hash.
 */
import { isAcknowledgedWrite, sha256, type OpRecord } from '../load/agent.js';
import type { OpsByRegion } from './facts.js';

/** An acknowledged write as the verification found it. */
export interface CheckedWrite {
  readonly path: string;
  readonly region: string;
  readonly seq: number;
  /** When the acknowledgement arrived (epoch ms). */
  readonly ackedAt: number;
  readonly sha: string;
  /** Status of the verification's GET (0: no answer). */
  readonly status: number;
  /** sha256 of what the GET returned, when it returned 2xx. */
  readonly foundSha?: string;
  readonly error?: string;
}

export interface VerificationResult {
  /** Acknowledged writes checked. */
  readonly checked: number;
  /** Answered 404: gone. */
  readonly lost: readonly CheckedWrite[];
  /** Answered 2xx with other bytes. */
  readonly stale: readonly CheckedWrite[];
  /** Could not be checked (no answer, or an error other than 404). */
  readonly unverified: readonly CheckedWrite[];
  /** Writes recorded `unknown` that turned out to exist afterwards (informational). */
  readonly unknownLanded: number;
  readonly unknownChecked: number;
}

export interface FetchedFile {
  /** 0 when no answer came. */
  readonly status: number;
  readonly body: Buffer;
  readonly error?: string;
}

/** GETs one file by its path (`/drill/...`), from wherever the caller decides (a namespace, AWS). */
export type FetchFile = (path: string) => Promise<FetchedFile>;

export interface VerifyOptions {
  /** Requests in flight at once (default 8). */
  readonly concurrency?: number;
  /** A write found missing or stale is asked again after this long before it counts (default 2000; replicas may lag). */
  readonly recheckDelayMs?: number;
  /** Also look up the writes recorded `unknown` (default true). */
  readonly checkUnknown?: boolean;
}

export async function mapLimited<T, R>(items: readonly T[], limit: number, action: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await action(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * Looks up every acknowledged write of `ops` with `fetchFile` and compares its sha256: 404 → lost,
 * other bytes → stale, anything else that is not 2xx → unverified. Missing or stale ones are
 * asked once more after `recheckDelayMs` before they count.
 */
export async function verifyAcknowledged(ops: OpsByRegion, fetchFile: FetchFile, options: VerifyOptions = {}): Promise<VerificationResult> {
  const acked = Object.values(ops).flat().filter(isAcknowledgedWrite);
  const check = async (op: OpRecord): Promise<CheckedWrite> => {
    const answer = await fetchFile(op.path);
    const base = { path: op.path, region: op.region, seq: op.seq, ackedAt: op.t + op.ms, sha: op.sha ?? '', status: answer.status };
    if (answer.status >= 200 && answer.status < 300) return { ...base, foundSha: sha256(answer.body) };
    return answer.error === undefined ? base : { ...base, error: answer.error };
  };
  const classify = (w: CheckedWrite): 'ok' | 'lost' | 'stale' | 'unverified' =>
    w.status === 404 ? 'lost' : w.status >= 200 && w.status < 300 ? (w.foundSha === w.sha ? 'ok' : 'stale') : 'unverified';
  const concurrency = options.concurrency ?? 8;
  let checked = await mapLimited(acked, concurrency, check);
  const doubtful = checked.map((w, i) => ({ w, i })).filter(({ w }) => classify(w) === 'lost' || classify(w) === 'stale');
  if (doubtful.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, options.recheckDelayMs ?? 2000));
    const again = await mapLimited(doubtful, concurrency, ({ i }) => check(acked[i] as OpRecord));
    checked = [...checked];
    doubtful.forEach(({ i }, k) => {
      const second = again[k];
      if (second !== undefined) checked[i] = second;
    });
  }
  let unknownLanded = 0;
  const unknown = options.checkUnknown === false ? [] : Object.values(ops).flat().filter((o) => o.op === 'write' && o.outcome === 'unknown');
  const unknownAnswers = await mapLimited(unknown, concurrency, (op) => fetchFile(op.path));
  unknownAnswers.forEach((a) => {
    if (a.status >= 200 && a.status < 300) unknownLanded++;
  });
  return {
    checked: checked.length,
    lost: checked.filter((w) => classify(w) === 'lost'),
    stale: checked.filter((w) => classify(w) === 'stale'),
    unverified: checked.filter((w) => classify(w) === 'unverified'),
    unknownLanded,
    unknownChecked: unknown.length,
  };
}
