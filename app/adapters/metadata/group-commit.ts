/**
 * @module GroupCommit: gathers the commits of concurrent writers into batches. A commit is sent
 * at once while fewer than `maxInFlight` batches are on their way; otherwise it waits and leaves
 * with every commit that arrived meanwhile, as one batch (one round trip, one transaction, one
 * WAL flush). A lone writer therefore never waits for company; under load, batches grow with it.
 */
export interface GroupCommitOptions<T, R> {
  /** Sends one batch; resolves with one settled result per item, in order, or rejects for all. */
  readonly send: (items: readonly T[]) => Promise<ReadonlyArray<PromiseSettledResult<R>>>;
  readonly maxInFlight: number;
  readonly maxBatch: number;
}

interface Waiting<T, R> {
  readonly item: T;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  readonly #options: GroupCommitOptions<T, R>;
  #queue: Array<Waiting<T, R>> = [];
  #inFlight = 0;

  constructor(options: GroupCommitOptions<T, R>) {
    this.#options = options;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#options.maxInFlight) {
      const batch = this.#queue.splice(0, this.#options.maxBatch);
      this.#inFlight++;
      void this.#send(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #send(batch: ReadonlyArray<Waiting<T, R>>): Promise<void> {
    try {
      const results = await this.#options.send(batch.map((w) => w.item));
      batch.forEach((waiting, i) => {
        const result = results[i];
        if (result === undefined) waiting.reject(new Error('group commit: no result for a batched item'));
        else if (result.status === 'fulfilled') waiting.resolve(result.value);
        else waiting.reject(result.reason);
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  }
}
