// The image's HEALTHCHECK: GET /health (liveness: the process answers) on the port the node
// listens on (CALLFS_SERVER__LISTEN_ADDR, e.g. ":8080"), within 3 seconds. Exit 0 healthy, 1 not.
// HTTPS when the environment says the node serves it (CALLFS_SERVER__TLS_SELF_SIGNED, or
// CALLFS_SERVER__PROTOCOL=https), plain HTTP when it says http; otherwise (a config file decides)
// HTTPS is tried first, then HTTP. The check asks its own container over loopback, so the node's
// certificate (self-signed, made at start) is not verified; nothing secret is sent.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const env = process.env;
const listen = env.CALLFS_SERVER__LISTEN_ADDR ?? ':8443';
const port = Number(/:(\d+)$/.exec(listen)?.[1] ?? '8443');
const yes = (value) => ['true', '1', 'yes'].includes(String(value ?? '').toLowerCase());
const protocol = String(env.CALLFS_SERVER__PROTOCOL ?? '').toLowerCase();
const schemes = yes(env.CALLFS_SERVER__TLS_SELF_SIGNED) || protocol === 'https' ? ['https'] : protocol === 'http' ? ['http'] : ['https', 'http'];
const deadline = Date.now() + 3000;

/** 'up', 'down' (answered, not 200) or 'unreachable' (no HTTP answer in this scheme). */
function probe(scheme) {
  return new Promise((resolve) => {
    const get = scheme === 'https' ? httpsGet : httpGet;
    const options = { host: '127.0.0.1', port, path: '/health', timeout: Math.max(100, deadline - Date.now()), ...(scheme === 'https' ? { rejectUnauthorized: false } : {}) };
    const request = get(options, (response) => {
      response.resume();
      resolve(response.statusCode === 200 ? 'up' : 'down');
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve('unreachable'));
  });
}

let verdict = 'unreachable';
for (const scheme of schemes) {
  verdict = await probe(scheme);
  if (verdict !== 'unreachable' || Date.now() >= deadline) break;
}
process.exit(verdict === 'up' ? 0 : 1);
