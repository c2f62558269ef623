/**
 * Baseline: the least a Node file server can do with the CallFS URL shape, on bare `node:http`
 * and fs streams. It is the yardstick of `npm run bench`: what a Node process on one core can
 * serve when it does no metadata, no locking and no fsync.
 *
 *   GET|HEAD /v1/files/<p>  the file, streamed from an open descriptor (404 when absent)
 *   PUT      /v1/files/<p>  body to a temp name beside the target, then rename (create or replace)
 *   POST     /v1/files/<p>  the same, but 409 when the target exists (link instead of rename)
 *   DELETE   /v1/files/<p>  unlink
 *
 * Every request must carry `Authorization: Bearer <API_KEY>`. Bodies are never held in memory.
 * Streams are joined with `.pipe()`: `stream.pipeline()` measurably lowers 4 KiB req/s here.
 * Env: PORT and DATA_DIR (required), API_KEY (benchkey), HOST (127.0.0.1).
 */
import { randomBytes } from 'node:crypto';
import { close, createReadStream, createWriteStream, fstat, link, mkdir, open, rename, unlink } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, resolve, sep } from 'node:path';

const port = Number(process.env['PORT']);
const host = process.env['HOST'] ?? '127.0.0.1';
const root = resolve(process.env['DATA_DIR'] ?? '');
const expected = `Bearer ${process.env['API_KEY'] ?? 'benchkey'}`;
const FILES = '/v1/files/';

if (!Number.isInteger(port) || port <= 0 || process.env['DATA_DIR'] === undefined) {
  console.error('node-http baseline: PORT and DATA_DIR are required');
  process.exit(2);
}

/** The file a request names, or null when it is not under /v1/files/ or leaves the root. */
function fileOf(url: string): string | null {
  if (!url.startsWith(FILES)) return null;
  const query = url.indexOf('?');
  let relative: string;
  try {
    relative = decodeURIComponent(url.slice(FILES.length, query < 0 ? undefined : query));
  } catch {
    return null;
  }
  const full = resolve(root, relative);
  return full.startsWith(root + sep) ? full : null;
}

function statusOf(error: NodeJS.ErrnoException): number {
  switch (error.code) {
    case 'ENOENT':
      return 404;
    case 'EEXIST':
      return 409;
    case 'EISDIR':
      return 400;
    default:
      return 500;
  }
}

function answer(res: ServerResponse, status: number, text = ''): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function read(req: IncomingMessage, res: ServerResponse, file: string): void {
  open(file, 'r', (openError, fd) => {
    if (openError !== null) return answer(res, statusOf(openError));
    fstat(fd, (statError, stats) => {
      if (statError !== null || !stats.isFile()) {
        close(fd, () => undefined);
        return answer(res, statError === null ? 400 : 500);
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': stats.size });
      if (req.method === 'HEAD') {
        close(fd, () => undefined);
        res.end();
        return;
      }
      const source = createReadStream('', { fd, start: 0 });
      source.on('error', () => res.destroy());
      // A client that leaves mid-body must not keep the descriptor open.
      res.on('close', () => source.destroy());
      source.pipe(res);
    });
  });
}

/** PUT (replace) or POST (create only): bytes to a temp name, then onto the target name. */
function write(req: IncomingMessage, res: ServerResponse, file: string, createOnly: boolean): void {
  const temp = `${file}.part-${randomBytes(6).toString('hex')}`;
  let settled = false;
  const finish = (error: NodeJS.ErrnoException | null): void => {
    if (settled) return;
    settled = true;
    if (error === null) return answer(res, 201);
    unlink(temp, () => undefined);
    req.resume();
    answer(res, statusOf(error));
  };
  const streamInto = (fd: number): void => {
    const sink = createWriteStream('', { fd });
    const abort = (error: NodeJS.ErrnoException): void => {
      sink.destroy();
      finish(error);
    };
    const gone = (): NodeJS.ErrnoException => Object.assign(new Error('client went away'), { code: 'ECONNRESET' });
    // The client may have left while the temp file was being opened.
    if (req.destroyed) return abort(gone());
    req.on('error', abort);
    req.on('close', () => {
      if (!req.complete) abort(gone());
    });
    sink.on('error', abort);
    sink.on('close', () => {
      if (settled) return;
      if (!createOnly) return rename(temp, file, finish);
      // link() refuses an existing target, which is exactly create-only.
      link(temp, file, (error) => {
        unlink(temp, () => undefined);
        finish(error);
      });
    });
    req.pipe(sink);
  };
  open(temp, 'w', (error, fd) => {
    if (error === null) return streamInto(fd);
    if (error.code !== 'ENOENT') return finish(error);
    // Parent directories are made only when the first open says they are missing.
    mkdir(dirname(file), { recursive: true }, (mkdirError) => {
      if (mkdirError !== null) return finish(mkdirError);
      open(temp, 'w', (again, fd2) => (again === null ? streamInto(fd2) : finish(again)));
    });
  });
}

const server = createServer((req, res) => {
  if (req.headers.authorization !== expected) {
    req.resume();
    return answer(res, 401, 'unauthorized');
  }
  const file = fileOf(req.url ?? '');
  if (file === null) {
    req.resume();
    return answer(res, 400, 'bad path');
  }
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      return read(req, res, file);
    case 'PUT':
      return write(req, res, file, false);
    case 'POST':
      return write(req, res, file, true);
    case 'DELETE':
      return unlink(file, (error) => answer(res, error === null ? 204 : statusOf(error)));
    default:
      req.resume();
      return answer(res, 405);
  }
});
server.keepAliveTimeout = 65_000;
server.listen(port, host, () => console.log(`node-http baseline on http://${host}:${port}, files in ${root}`));
