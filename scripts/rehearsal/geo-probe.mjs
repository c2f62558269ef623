// Runs inside a region's network namespace for `npm run bench:geo`: timed HTTP requests from a
// client in that region, one keep-alive connection, sequential. Prints one JSON line.
//   get URL KEY COUNT [TOKEN]   → { ms: [...], status, headers }      (headers of the last answer)
//   put URL KEY BYTES           → { ms, status, token }
const [mode, url, key, arg, token] = process.argv.slice(2);
const auth = { Authorization: `Bearer ${key}` };
const pick = (headers) => Object.fromEntries([...headers].filter(([name]) => name.startsWith('x-callfs-')));

if (mode === 'get') {
  const ms = [];
  let last = null;
  for (let i = 0; i < Number(arg); i++) {
    const started = performance.now();
    const res = await fetch(url, { headers: token ? { ...auth, 'X-CallFS-Consistency-Token': token } : auth, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    ms.push(performance.now() - started);
    last = res;
  }
  process.stdout.write(JSON.stringify({ ms, status: last?.status, headers: last ? pick(last.headers) : {} }) + '\n');
} else if (mode === 'put') {
  const started = performance.now();
  const res = await fetch(url, { method: 'PUT', headers: auth, body: Buffer.alloc(Number(arg), 7), signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  process.stdout.write(JSON.stringify({ ms: performance.now() - started, status: res.status, token: res.headers.get('x-callfs-consistency-token') }) + '\n');
} else {
  process.stderr.write('usage: geo-probe.mjs get URL KEY COUNT [TOKEN] | put URL KEY BYTES\n');
  process.exit(2);
}
