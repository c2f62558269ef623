// Runs inside a region's network namespace for `npm run bench:geo`: timed HTTP requests from a
// client in that region, one keep-alive connection, sequential. Prints one JSON line. Timed
// series (get without a token, puts) first send WARMUP untimed requests on the same connection:
// the first requests of a fresh client process pay its own start-up (connection, compiling its
// HTTP code), 40-70 ms that would otherwise sit in every series' slowest 1 %.
//   get URL KEY COUNT [TOKEN]   → { ms: [...], status, headers }      (headers of the last answer;
//                                  with a TOKEN no warm-up: the first read is the one measured)
//   put URL KEY BYTES           → { ms, status, token }
//   puts URL KEY COUNT          → { ms: [...], timing: [...], status } (4 KiB replaced COUNT times;
//                                  timing: each answer's Server-Timing as { store, commit, handler })
//   lockwait URL KEY            → { sum, count }   (the node's write-lock waits, from /metrics)
const [mode, url, key, arg, token] = process.argv.slice(2);
const auth = { Authorization: `Bearer ${key}` };
const WARMUP = 10;
const pick = (headers) => Object.fromEntries([...headers].filter(([name]) => name.startsWith('x-callfs-')));

if (mode === 'get') {
  const ms = [];
  let last = null;
  for (let i = token ? 0 : -WARMUP; i < Number(arg); i++) {
    const started = performance.now();
    const res = await fetch(url, { headers: token ? { ...auth, 'X-CallFS-Consistency-Token': token } : auth, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (i >= 0) ms.push(performance.now() - started);
    last = res;
  }
  process.stdout.write(JSON.stringify({ ms, status: last?.status, headers: last ? pick(last.headers) : {} }) + '\n');
} else if (mode === 'put') {
  const started = performance.now();
  const res = await fetch(url, { method: 'PUT', headers: auth, body: Buffer.alloc(Number(arg), 7), signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  process.stdout.write(JSON.stringify({ ms: performance.now() - started, status: res.status, token: res.headers.get('x-callfs-consistency-token') }) + '\n');
} else if (mode === 'puts') {
  const ms = [];
  const timing = [];
  let status = 0;
  for (let i = -WARMUP; i < Number(arg); i++) {
    const started = performance.now();
    const res = await fetch(url, { method: 'PUT', headers: auth, body: Buffer.alloc(4096, (i + 251) % 251), signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (i < 0) continue;
    ms.push(performance.now() - started);
    timing.push(Object.fromEntries((res.headers.get('server-timing') ?? '').split(',').map((part) => part.trim().split(';dur=')).filter(([, dur]) => dur !== undefined).map(([name, dur]) => [name, Number(dur)])));
    status = res.status;
  }
  process.stdout.write(JSON.stringify({ ms, timing, status }) + '\n');
} else if (mode === 'lockwait') {
  const text = await (await fetch(`${url}/metrics`, { headers: auth, signal: AbortSignal.timeout(10_000) })).text();
  const value = (suffix) => text.split('\n').filter((l) => l.startsWith(`callfs_lock_operation_duration_seconds_${suffix}{`) && l.includes('operation="write"')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  process.stdout.write(JSON.stringify({ sum: value('sum'), count: value('count') }) + '\n');
} else {
  process.stderr.write('usage: geo-probe.mjs get URL KEY COUNT [TOKEN] | put URL KEY BYTES | puts URL KEY COUNT | lockwait URL KEY\n');
  process.exit(2);
}
