/**
 * @module Open descriptors of versioned blobs, kept between reads. The bytes under a versioned
 * key never change (domain/blob-key.ts), so one descriptor serves every read of that key with
 * positional reads: a read costs one `pread` instead of open, check, fstat, read and close (five
 * trips through the libuv thread pool, which shares the node's core with the main thread).
 *
 * The store's safety rule still holds on every read: before a kept descriptor is used, the
 * caller compares its `/proc/self/fd` link with the path under the root it expects (a procfs
 * lookup, no disk I/O, cheap enough to run synchronously). A descriptor whose file was removed,
 * or whose directory was moved or swapped for a link, fails that check and is dropped; the read
 * then takes the ordinary path, which answers exactly as before.
 *
 * Small blobs also keep their bytes (read whole once, within a memory budget): a read of one is
 * then the path check and nothing else. The check runs for them too, so their answers match the
 * disk's exactly as for any other read.
 *
 * A descriptor is closed once no read uses it and it is dropped (the key was deleted or moved
 * through the store) or unused for IDLE_MS, so deleted bytes do not keep disk space for long.
 */
import { close as fsClose, read as fsRead, readlinkSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { RecyclingReadable } from '../../ports/blob-store.js';

/** Descriptors unused this long are closed. */
const IDLE_MS = 5_000;
/** Most descriptors kept open at once. */
const MAX_OPEN = 512;
/** Bytes asked of the kernel per read, as fs streams do: larger buffers come from fresh mappings (page faults on every read), which cost more than the extra reads save. */
const READ_BYTES = 64 * 1024;
/** Blobs up to this size keep their bytes in memory too (read once, then served without any read). */
const SMALL_BLOB_BYTES = 64 * 1024;
/** Most bytes of small blobs held in memory at once. */
const SMALL_BLOB_BUDGET = 32 * 1024 * 1024;
/** Read buffers handed back by consumers (RecyclingReadable), waiting to be filled again; at most this many. */
const SPARE_BUFFERS = 64;
const spareBuffers: Buffer[] = [];

interface Slot {
  readonly fd: number;
  readonly size: number;
  readonly path: string;
  /** Streams currently reading through the descriptor. */
  users: number;
  /** The whole content of a small blob, once a read has loaded it. */
  bytes: Buffer | null;
  lastUsedMs: number;
  dropped: boolean;
}

export class OpenBlobs {
  readonly #slots = new Map<string, Slot>();
  #sweeper: NodeJS.Timeout | null = null;
  /** Bytes of small blobs held in memory. */
  #heldBytes = 0;

  /**
   * A stream over `key`'s bytes from a kept descriptor, or null (not kept, or the descriptor no
   * longer is the file at `path`: then it is dropped and the caller opens the file as usual).
   */
  read(key: string, path: string, range: { start: number; end: number } | undefined): { stream: Readable; size: number } | null {
    const slot = this.#slots.get(key);
    if (slot === undefined) return null;
    if (slot.path !== path || !stillAt(slot.fd, path)) {
      this.#drop(key, slot);
      return null;
    }
    return { stream: this.#stream(slot, range), size: slot.size };
  }

  /**
   * Keeps `fd` (open on the verified file at `path`, `size` bytes) for later reads and returns a
   * stream over it. Returns null when it is not kept (one is kept already, or too many are): the
   * caller then reads through `fd` itself and closes it.
   */
  adopt(key: string, path: string, fd: number, size: number, range: { start: number; end: number } | undefined): Readable | null {
    if (this.#slots.has(key) || this.#slots.size >= MAX_OPEN) return null;
    const slot: Slot = { fd, size, path, users: 0, bytes: null, lastUsedMs: Date.now(), dropped: false };
    this.#slots.set(key, slot);
    this.#sweeper ??= setInterval(() => this.#sweep(), IDLE_MS).unref();
    return this.#stream(slot, range);
  }

  /** Forgets `key` and every key below it (deleted or moved through the store). */
  forget(key: string): void {
    const below = key === '' ? '' : `${key}/`;
    for (const [k, slot] of this.#slots) if (k === key || k.startsWith(below)) this.#drop(k, slot);
  }

  /** Drops every descriptor (each closes when its last read ends). */
  clear(): void {
    for (const [k, slot] of this.#slots) this.#drop(k, slot);
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }

  #stream(slot: Slot, range: { start: number; end: number } | undefined): Readable {
    const start = range?.start ?? 0;
    const end = range?.end ?? slot.size - 1;
    slot.lastUsedMs = Date.now();
    if (slot.bytes !== null) return new HeldBytes(slot.bytes.subarray(start, end + 1));
    slot.users++;
    // A whole small blob read through the descriptor is kept for the reads after this one.
    const keep = start === 0 && end === slot.size - 1 && slot.size <= SMALL_BLOB_BYTES && this.#heldBytes + slot.size <= SMALL_BLOB_BUDGET;
    return new DescriptorRange(slot.fd, start, end, (whole) => {
      slot.users--;
      slot.lastUsedMs = Date.now();
      if (keep && whole !== null && !slot.dropped && slot.bytes === null && this.#heldBytes + slot.size <= SMALL_BLOB_BUDGET) {
        slot.bytes = whole;
        this.#heldBytes += whole.length;
      }
      if (slot.dropped && slot.users === 0) fsClose(slot.fd, () => undefined);
    });
  }

  #drop(key: string, slot: Slot): void {
    if (this.#slots.get(key) === slot) this.#slots.delete(key);
    if (slot.dropped) return;
    slot.dropped = true;
    if (slot.bytes !== null) this.#heldBytes -= slot.bytes.length;
    slot.bytes = null;
    if (slot.users === 0) fsClose(slot.fd, () => undefined);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [k, slot] of this.#slots) if (slot.users === 0 && now - slot.lastUsedMs >= IDLE_MS) this.#drop(k, slot);
    if (this.#slots.size === 0 && this.#sweeper !== null) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
  }
}

/** True while descriptor `fd` is still the file at `path` (not removed, not moved, no link swapped in). */
function stillAt(fd: number, path: string): boolean {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`) === path;
  } catch {
    return false;
  }
}

/** A small blob's bytes from memory (a view of the held buffer: never written to). */
class HeldBytes extends Readable {
  constructor(private bytes: Buffer | null) {
    super({ highWaterMark: Math.max(1, bytes?.length ?? 1) });
  }

  override _read(): void {
    const bytes = this.bytes;
    this.bytes = null;
    if (bytes !== null && bytes.length > 0) this.push(bytes);
    this.push(null);
  }
}

/**
 * Bytes `start`..`end` (inclusive) of a descriptor it does not own, by positional reads. It never
 * closes the descriptor; `done` runs once, after the last read issued has returned, so the owner
 * cannot close (and the kernel reuse) the descriptor under a read in flight. `done` receives the
 * bytes when they came in one read that reached `end` (a small blob read whole), else null.
 */
class DescriptorRange extends Readable implements RecyclingReadable {
  #position: number;
  readonly #end: number;
  #reading = false;
  #finished = false;
  /** The only chunk, when one read returned every byte asked for. */
  #whole: Buffer | null = null;
  #reads = 0;
  #pendingDestroy: { error: Error | null; callback: (error?: Error | null) => void } | null = null;

  constructor(
    private readonly fd: number,
    start: number,
    end: number,
    private readonly done: (whole: Buffer | null) => void,
  ) {
    super({ highWaterMark: Math.min(READ_BYTES, Math.max(1, end - start + 1)) });
    this.#position = start;
    this.#end = end;
  }

  override _read(): void {
    if (this.#position > this.#end) {
      this.push(null);
      return;
    }
    const length = Math.min(READ_BYTES, this.#end - this.#position + 1);
    const buffer = (length === READ_BYTES ? spareBuffers.pop() : undefined) ?? Buffer.allocUnsafe(length);
    this.#reading = true;
    fsRead(this.fd, buffer, 0, length, this.#position, (error, bytesRead) => {
      this.#reading = false;
      const pending = this.#pendingDestroy;
      if (pending !== null) {
        this.#release();
        pending.callback(pending.error);
        return;
      }
      if (error !== null) {
        this.destroy(error);
        return;
      }
      if (bytesRead === 0) {
        // The stored bytes are shorter than their recorded size: fail rather than send a short body.
        this.destroy(Object.assign(new Error('stored bytes ended early'), { code: 'EIO' }));
        return;
      }
      this.#position += bytesRead;
      this.#reads++;
      const chunk = bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
      if (this.#position > this.#end) {
        if (this.#reads === 1) this.#whole = chunk;
        this.push(chunk);
        this.push(null);
        return;
      }
      this.push(chunk);
    });
  }

  /**
   * Takes back a chunk this stream produced once its consumer is done with it. Only whole read
   * buffers of their own memory are kept, never the bytes a small blob keeps in memory (`#whole`).
   */
  recycle(chunk: Buffer): void {
    if (chunk === this.#whole || chunk.length !== READ_BYTES || chunk.byteOffset !== 0 || chunk.buffer.byteLength !== READ_BYTES) return;
    if (spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(chunk);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#reading) {
      this.#pendingDestroy = { error, callback };
      return;
    }
    this.#release();
    callback(error);
  }

  #release(): void {
    if (this.#finished) return;
    this.#finished = true;
    // Only a read that completed whole hands its bytes on (not one cut short by the consumer).
    this.done(this.#position > this.#end ? this.#whole : null);
  }
}
