// The image's HEALTHCHECK: GET /health (liveness: the process answers) on the port the node
// listens on (CALLFS_SERVER__LISTEN_ADDR, e.g. ":8080"), within 3 seconds. Exit 0 healthy, 1 not.
const listen = process.env.CALLFS_SERVER__LISTEN_ADDR ?? ':8443';
const port = /:(\d+)$/.exec(listen)?.[1] ?? '8443';
fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
