/**
 * @module FileSink and pump: the write side of an upload to the local disk. The sink writes a
 * numeric file descriptor with writev, counts and checks the declared length, fsyncs before it
 * finishes and always closes the descriptor. A large body is flushed to the device while it
 * arrives (an fdatasync in the background every EARLY_SYNC_BYTES), so the fsync that ends it has
 * only the last few MiB left to write instead of the whole file. pump pipes a request body into
 * it without ever destroying the body (the HTTP layer still answers on its socket).
 */
import { close as fsClose, fdatasync, fsync, writev as fsWritev } from 'node:fs';
import { Writable, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { AppError } from '../../../errors/app-error.js';

/**
 * The write side of an upload: a Writable over a numeric file descriptor that counts bytes,
 * enforces the declared length, batches queued chunks into one writev, fsyncs before it
 * finishes and always closes the descriptor.
 */
export class FileSink extends Writable {
  size = 0;
  /** Bytes written since the last background flush started. */
  #unsynced = 0;
  /** Callbacks waiting for the background flush in progress; null when none is. */
  #syncing: Array<() => void> | null = null;
  /**
   * What a background flush failed with. Linux reports a write-back error to one fsync of a
   * descriptor only, so the final fsync may not see it again: it is kept and fails the file.
   */
  #flushError: Error | null = null;

  constructor(
    private readonly fd: number,
    private readonly expectedSize: number | undefined,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    let length = 0;
    for (const b of buffers) length += b.length;
    this.size += length;
    if (this.expectedSize !== undefined && this.size > this.expectedSize) {
      callback(new AppError('INCOMPLETE_BODY', `body is longer than its Content-Length (${this.expectedSize})`));
      return;
    }
    writeAllv(this.fd, buffers, (error) => {
      if (!error) {
        this.#unsynced += length;
        if (this.#unsynced >= EARLY_SYNC_BYTES && this.#syncing === null) this.#flushInBackground();
      }
      callback(error);
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.expectedSize !== undefined && this.size !== this.expectedSize) {
      callback(new AppError('INCOMPLETE_BODY', `body ended after ${this.size} of ${this.expectedSize} bytes`));
      return;
    }
    // The durable point is this fsync, as for a small file; the early flushes only shorten it.
    this.#afterFlush(() => fsync(this.fd, (error) => callback(error ?? this.#flushError)));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A flush still running holds the descriptor: closing it first could let the number be reused under it.
    this.#afterFlush(() => fsClose(this.fd, () => callback(error)));
  }

  /** Starts writing what is in the page cache to the device, without waiting for it. */
  #flushInBackground(): void {
    this.#unsynced = 0;
    this.#syncing = [];
    fdatasync(this.fd, (error) => {
      if (error !== null) this.#flushError ??= error;
      const waiting = this.#syncing ?? [];
      this.#syncing = null;
      for (const resume of waiting) resume();
    });
  }

  #afterFlush(then: () => void): void {
    if (this.#syncing === null) then();
    else this.#syncing.push(then);
  }
}

/** A background fdatasync starts after this many bytes were written since the last one began. */
export const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

/** writev until every byte is on disk (short writes are continued). */
function writeAllv(fd: number, buffers: Buffer[], callback: (error?: Error | null) => void): void {
  fsWritev(fd, buffers, (error, written) => {
    if (error) return callback(error);
    let rest = written;
    const remaining: Buffer[] = [];
    for (const b of buffers) {
      if (rest >= b.length) rest -= b.length;
      else {
        remaining.push(b.subarray(rest));
        rest = 0;
      }
    }
    if (remaining.length === 0) callback();
    else writeAllv(fd, remaining, callback);
  });
}

/**
 * Pipes `body` into `sink` until the sink finished (its data fsynced). The source is piped, not
 * handed to pipeline(): on a failure it must not be destroyed, so the HTTP layer can still
 * answer on the same socket (then close it).
 */
export async function pump(body: Readable, sink: FileSink, signal: AbortSignal | undefined): Promise<void> {
  // finished() below reports the sink's failure; this keeps a late one from going uncaught.
  sink.on('error', () => undefined);
  const onSourceError = (error: Error): void => {
    sink.destroy(error);
  };
  body.on('error', onSourceError);
  body.pipe(sink);
  try {
    await finished(sink, signal ? { signal } : {});
  } finally {
    // A request body can still fail after we are done with it (the client goes away): keep a
    // listener so that late error is not an uncaught exception.
    body.off('error', onSourceError);
    body.on('error', () => undefined);
    body.unpipe(sink);
  }
}
