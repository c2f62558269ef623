/**
 * @module MemoryPositions: the log position (one step per commit, as an LSN) and the fencing epoch
 * row of the memory metadata twin, mirroring PostgresPositions. There is no replica: nothing lags.
 */
import type { EpochState } from '../../../ports/fencing.js';
import type { PositionRepository } from '../composed-store.js';
import type { MemorySession } from './session.js';

export class MemoryPositions implements PositionRepository {
  readonly #session: MemorySession;

  constructor(session: MemorySession) {
    this.#session = session;
  }

  async readEpoch(): Promise<EpochState> {
    return this.#session.open().epoch();
  }

  async currentLsn(): Promise<string> {
    return this.#session.open().position();
  }

  async replayLsn(): Promise<string | null> {
    return this.#session.open().position();
  }

  async lagMs(): Promise<number> {
    this.#session.open();
    return 0;
  }
}
