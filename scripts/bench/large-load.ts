/**
 * The load driver of `npm run bench` for 64 MiB bodies (wrk does the 4 KiB workloads).
 *
 *   node --import tsx scripts/bench/large-load.ts GET|PUT URL PATH CONNECTIONS SECONDS BYTES
 *
 * CONNECTIONS keep-alive connections each repeat one request until SECONDS have passed. PATH may
 * hold one %d, replaced by the connection's index (so each PUT connection replaces its own file).
 * PUT sends BYTES bytes; GET expects whatever the server sends. The Authorization header value
 * comes from BENCH_AUTH. Prints one JSON line: completed 2xx requests, the elapsed time, the body
 * bytes that moved (received for GET, handed to the kernel for PUT, partial transfers at the
 * deadline included) and the failed requests.
 *
 * Why not wrk here: at a gigabyte per second the client competes with the server for the two
 * cores, and wrk reads in 8 KiB pieces. This driver reads into one reused 1 MiB buffer per
 * connection (`onread`: no allocation per chunk, one copy) and sends PUT bodies as slices of one
 * buffer, so its cost stays small next to the server's. HTTP/1.1 only: Content-Length, chunked,
 * or a body that ends with the connection.
 */
import { connect, type Socket } from 'node:net';

const [method, url, pathPattern, connectionsArg, secondsArg, bytesArg] = process.argv.slice(2);
if ((method !== 'GET' && method !== 'PUT') || url === undefined || pathPattern === undefined) {
  console.error('usage: large-load.ts GET|PUT URL PATH CONNECTIONS SECONDS BYTES   (auth from BENCH_AUTH)');
  process.exit(2);
}
const pattern: string = pathPattern;
const target = new URL(url);
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);
const bodySize = Number(bytesArg ?? '0');
const auth = process.env['BENCH_AUTH'] ?? '';
const SLICE = 1 << 20;

const totals = { requests: 0, bytes: 0, errors: 0 };
let stopped = false;

type Phase = 'idle' | 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'to-close';

/** One keep-alive connection and the parse state of the response it is reading. */
class Connection {
  readonly #socket: Socket;
  readonly #countReceived: boolean;
  #phase: Phase = 'idle';
  #head = '';
  #line = '';
  #left = 0;
  #status = 0;
  #closeAfter = false;
  #done: ((status: number) => void) | null = null;
  #failed: ((error: Error) => void) | null = null;
  closed = false;

  constructor(socket: Socket, countReceived: boolean) {
    this.#socket = socket;
    this.#countReceived = countReceived;
    socket.on('close', () => {
      this.closed = true;
      if (this.#phase === 'to-close') this.#complete();
      else this.#failed?.(new Error('connection closed'));
    });
    socket.on('error', () => undefined);
  }

  static open(countReceived: boolean): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let connection: Connection | null = null;
      const buffer = Buffer.allocUnsafe(SLICE);
      const socket = connect({
        host: target.hostname,
        port: Number(target.port),
        noDelay: true,
        onread: { buffer, callback: (n) => (connection?.feed(buffer.subarray(0, n)), true) },
      });
      connection = new Connection(socket, countReceived);
      socket.once('connect', () => resolve(connection));
      socket.once('error', reject);
    });
  }

  /** Sends one request; resolves with the response status once its body has been read. */
  exchange(head: string, body: Buffer | null): Promise<number> {
    this.#phase = 'head';
    this.#head = '';
    const answered = new Promise<number>((resolve, reject) => {
      this.#done = resolve;
      this.#failed = reject;
    });
    this.#socket.write(head);
    if (body !== null) {
      for (let offset = 0; offset < body.length; offset += SLICE) {
        const slice = body.subarray(offset, offset + SLICE);
        this.#socket.write(slice, (error) => {
          if (error === undefined || error === null) totals.bytes += slice.length;
        });
      }
    }
    return answered;
  }

  close(): void {
    this.#socket.destroy();
  }

  get mustClose(): boolean {
    return this.#closeAfter || this.#socket.writableLength > 0;
  }

  feed(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      switch (this.#phase) {
        case 'idle':
          return; // bytes nobody asked for: ignored
        case 'head': {
          const end = data.indexOf('\r\n\r\n', at);
          const stop = end < 0 ? data.length : end + 4;
          this.#head += data.toString('latin1', at, stop);
          at = stop;
          if (end >= 0) this.#startBody();
          break;
        }
        case 'length':
        case 'chunk-data':
        case 'to-close': {
          const take = this.#phase === 'to-close' ? data.length - at : Math.min(this.#left, data.length - at);
          at += take;
          this.#left -= take;
          if (this.#countReceived) totals.bytes += take;
          if (this.#left === 0 && this.#phase === 'length') this.#complete();
          else if (this.#left === 0 && this.#phase === 'chunk-data') this.#phase = 'chunk-end';
          break;
        }
        case 'chunk-size':
        case 'chunk-end':
        case 'trailer': {
          const end = data.indexOf('\n', at);
          const stop = end < 0 ? data.length : end + 1;
          this.#line += data.toString('latin1', at, stop);
          at = stop;
          if (end >= 0) this.#lineDone(this.#line.trim());
          break;
        }
      }
    }
  }

  #lineDone(line: string): void {
    this.#line = '';
    if (this.#phase === 'chunk-end') {
      this.#phase = 'chunk-size';
    } else if (this.#phase === 'chunk-size') {
      this.#left = parseInt(line, 16);
      this.#phase = this.#left > 0 ? 'chunk-data' : 'trailer';
    } else if (line === '') {
      this.#complete();
    }
  }

  #startBody(): void {
    const lines = this.#head.split('\r\n');
    this.#status = Number(lines[0]?.split(' ')[1] ?? 0);
    let length = -1;
    let chunked = false;
    this.#closeAfter = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.includes('chunked');
      else if (name === 'connection') this.#closeAfter = value.includes('close');
    }
    const bodiless = this.#status === 204 || this.#status === 304 || this.#status < 200;
    if (chunked) {
      this.#phase = 'chunk-size';
    } else if (length > 0) {
      this.#phase = 'length';
      this.#left = length;
    } else if (length === 0 || bodiless) {
      this.#complete();
    } else {
      this.#phase = 'to-close';
      this.#closeAfter = true;
    }
  }

  #complete(): void {
    this.#phase = 'idle';
    this.#done?.(this.#status);
    this.#done = null;
    this.#failed = null;
  }
}

const body = method === 'PUT' ? Buffer.alloc(bodySize, 'p') : null;

async function drive(index: number): Promise<void> {
  const path = pattern.replace('%d', String(index));
  const head =
    `${method} ${path} HTTP/1.1\r\nHost: ${target.host}\r\nAuthorization: ${auth}\r\n` +
    (body === null ? '\r\n' : `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`);
  let connection: Connection | null = null;
  while (!stopped) {
    try {
      if (connection === null || connection.closed) connection = await Connection.open(method === 'GET');
      const status = await connection.exchange(head, body);
      if (status >= 200 && status < 300) totals.requests++;
      else totals.errors++;
      if (connection.mustClose) {
        connection.close();
        connection = null;
      }
    } catch {
      if (stopped) return;
      totals.errors++;
      connection?.close();
      connection = null;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const started = process.hrtime.bigint();
for (let i = 0; i < connections; i++) void drive(i);
setTimeout(() => {
  stopped = true;
  const elapsedUs = Number((process.hrtime.bigint() - started) / 1000n);
  process.stdout.write(JSON.stringify({ requests: totals.requests, duration_us: elapsedUs, bytes: totals.bytes, errors: totals.errors }) + '\n', () => process.exit(0));
}, seconds * 1000);
