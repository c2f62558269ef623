/**
 * @module WebSocket transfers on `GET /v1/files/ws/{path}?mode=download|upload` (CallFS
 * reference §2.7). Handled on the server's `upgrade` event, so plain GETs of a directory named
 * `ws` still reach the file routes (fixing CallFS's route capture). Errors before the upgrade
 * are ordinary HTTP answers; afterwards they are close codes: 1008 policy (auth), 1009 too
 * big, 1011 failure, 1000 done. A transfer on which nothing moves for
 * `server.websocket_idle_timeout` is cut (an upload then stores nothing).
 * - download: binary frames of up to 64 KiB, then close 1000.
 * - upload: binary AND text frames are data (CallFS keeps only binary), each ≤ 1 MiB, total
 *   ≤ 100 MiB. Only the end-of-upload frame (an empty binary frame) commits: the node then
 *   stores the bytes, answers a text frame `ok:<size>` and closes 1000. A socket that closes
 *   before it, with any code (1000 and 1001 included: a browser navigating away closes with
 *   1001 mid-upload), is an upload cut short: the previous content stays and no partial file is
 *   left. Storing is atomic: create with parents, or replace.
 */
import type { IncomingMessage, Server } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { PassThrough, Readable } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Config } from '../config/config.js';
import { parseUrlPath, type ParsedPath } from '../domain/path.js';
import { AppError, isAppError } from '../errors/app-error.js';
import { toAppError } from './errors.js';
import { readFromHolder, writeToHolder } from './peer-forward.js';
import type { AppServices } from './services.js';

const PREFIX = '/v1/files/ws/';
const MAX_FRAME_BYTES = 1024 * 1024;
const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
const DOWNLOAD_CHUNK_BYTES = 64 * 1024;

function reject(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Bad Request'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The server settings a transfer needs (the rest of the config, secrets included, stays out). */
export type WebSocketSettings = Pick<Config['server'], 'websocketIdleTimeoutMs' | 'maxFileBytes'>;

export function attachWebSocket(server: Server, services: AppServices, settings: WebSocketSettings): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = request.url ?? '/';
    const pathname = url.split('?')[0] ?? '/';
    if (!pathname.startsWith(PREFIX)) return reject(socket, 400, 'BAD_REQUEST', 'WebSocket is only served on /v1/files/ws/{path}');
    const userId = services.authenticator.authenticate(request.headers.authorization);
    if (userId === null) return reject(socket, 401, 'AUTHENTICATION_FAILED', 'authentication failed');
    const origin = request.headers.origin;
    if (origin !== undefined && safeHost(origin) !== request.headers.host) return reject(socket, 403, 'PERMISSION_DENIED', 'origin does not match host');
    let target: ParsedPath;
    try {
      target = parseUrlPath(pathname.slice(PREFIX.length));
    } catch (error) {
      return reject(socket, 400, 'INVALID_PATH', toAppError(error).message);
    }
    if (target.directoryIntent) return reject(socket, 400, 'IS_A_DIRECTORY', 'WebSocket transfers need a file path');
    const mode = (new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '').get('mode') ?? 'download').toLowerCase();
    if (mode !== 'download' && mode !== 'upload') return reject(socket, 400, 'BAD_REQUEST', 'mode must be download or upload');
    // The HTTP idle timeout stops here; the WebSocket's own (server.websocket_idle_timeout) takes over.
    if (socket instanceof Socket) socket.setTimeout(0);
    wss.handleUpgrade(request, socket, head, (ws) => {
      const sent = cutWhenIdle(ws, settings.websocketIdleTimeoutMs);
      const run = mode === 'download' ? download(ws, services, userId, target.path, sent) : upload(ws, services, userId, target, settings.maxFileBytes);
      run.catch((error: unknown) => closeWithError(ws, error));
    });
  });
}

/**
 * Ends a transfer on which no frame was received and none sent for `idleMs` (a client that
 * stopped sending mid-upload, or stopped reading a download): the socket is cut, which fails the
 * upload (nothing stored, the path lock released) or stops the download.
 */
function cutWhenIdle(ws: WebSocket, idleMs: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => ws.terminate(), idleMs);
    timer.unref();
  };
  arm();
  ws.on('message', arm);
  ws.on('close', () => clearTimeout(timer));
  return arm;
}

function safeHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function closeWithError(ws: WebSocket, error: unknown): void {
  const appError = toAppError(error);
  const code = appError.code === 'PERMISSION_DENIED' || appError.code === 'FILE_NOT_FOUND' ? 1008 : appError.code === 'PAYLOAD_TOO_LARGE' ? 1009 : 1011;
  if (ws.readyState === ws.OPEN) ws.close(code, appError.code);
}

/** The file's bytes: from this node's store, or streamed from the node that holds them. */
async function openForDownload(services: AppServices, userId: string, path: string): Promise<Readable> {
  const entry = await services.files.stat(path);
  const placed = await services.placement.read(entry);
  if (placed.serve === 'here') return (await services.files.open(entry, undefined, undefined, placed.location)).stream;
  return (await readFromHolder(services, placed, { caller: userId })).body;
}

async function download(ws: WebSocket, services: AppServices, userId: string, path: string, sent: () => void): Promise<void> {
  const stream = await openForDownload(services, userId, path);
  ws.on('close', () => stream.destroy());
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    for (let offset = 0; offset < buffer.length; offset += DOWNLOAD_CHUNK_BYTES) {
      await new Promise<void>((resolve, rejectSend) =>
        ws.send(buffer.subarray(offset, offset + DOWNLOAD_CHUNK_BYTES), { binary: true }, (err) => (err ? rejectSend(err) : resolve())),
      );
      sent();
    }
  }
  ws.close(1000, 'done');
}

async function upload(ws: WebSocket, services: AppServices, userId: string, target: ParsedPath, maxFileBytes: number): Promise<void> {
  // Frames go into `body`; the store reads `stream`, which pulls from `body` only when read, so a
  // close before the store started reading still reaches it as a failure (never as an end, and
  // never as an 'error' event nobody listens to).
  const body = new PassThrough();
  body.on('error', () => undefined);
  const stream = Readable.from(body, { objectMode: false });
  let total = 0;
  const limit = Math.min(MAX_UPLOAD_BYTES, maxFileBytes);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary && buffer.length === 0) {
      body.end();
      return;
    }
    total += buffer.length;
    if (total > limit) {
      body.destroy(new AppError('PAYLOAD_TOO_LARGE', `upload larger than ${limit} bytes`));
      ws.close(1009, 'upload too large');
      return;
    }
    if (!body.write(buffer)) {
      ws.pause();
      body.once('drain', () => ws.resume());
    }
  });
  ws.on('close', (code) => {
    // A close is never the end of the data: without the end-of-upload frame nothing is stored.
    if (!body.writableEnded) body.destroy(new AppError('CLIENT_CLOSED_REQUEST', `upload closed (code ${code}) before its end-of-upload frame`));
  });
  ws.on('error', (error) => body.destroy(error));
  try {
    const placed = await services.placement.put(userId, target);
    // Another node holds the file: the upload streams to it as a PUT with the caller's identity.
    if (placed.serve === 'forward') await writeToHolder(services, placed, { caller: userId }, stream);
    else await services.files.put(userId, placed, { stream, length: undefined }, null);
    if (ws.readyState === ws.OPEN) {
      ws.send(`ok:${total}`);
      ws.close(1000, 'stored');
    }
  } catch (error) {
    if (isAppError(error) && error.code === 'CLIENT_CLOSED_REQUEST') return;
    throw error;
  }
}
