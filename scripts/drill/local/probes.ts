/**
 * @module What the local provider asks the rehearsal's nodes, with curl from inside each region:
 * their readiness and epoch, a write and its read-back through the region's name (the consistency
 * token making a replica-backed read wait for it), and during a home outage a read that must
 * succeed and a write that must be refused cleanly.
 */
import { credentialsOf } from '../../local-credentials.js';
import { httpFrom } from '../../rehearsal/netns.js';
import type { NodeStatus } from '../provider.js';
import type { LocalRehearsal } from './rehearsal-access.js';

export async function nodeStatus(rh: LocalRehearsal): Promise<NodeStatus[]> {
  return Promise.all(
    rh.plan.regions.flatMap((region) =>
      region.nodes.map(async (node): Promise<NodeStatus> => {
        const [health, ready, readReady, writeReady] = await Promise.all(
          ['/health?details', '/ready', '/ready/read', '/ready/write'].map((path) => httpFrom(region.ns, { url: `${node.url}${path}`, timeoutMs: 3000 }).catch(() => null)),
        );
        let epoch: number | null = null;
        try {
          const body = health === null || health === undefined ? null : (JSON.parse(health.body.toString()) as { epoch?: unknown });
          epoch = typeof body?.epoch === 'number' ? body.epoch : null;
        } catch {
          epoch = null;
        }
        return { id: node.id, region: region.name, ready: ready?.status === 200, readReady: readReady?.status === 200, writeReady: writeReady?.status === 200, epoch };
      }),
    ),
  );
}

export async function probeWrite(rh: LocalRehearsal, region: string): Promise<string> {
  const r = rh.region(region);
  const key = credentialsOf(rh.options.dir).api_key;
  const path = `/v1/files/drill-probes/${region}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const url = `http://${r.hostname}:${rh.plan.options.nodePort}${path}`;
  const body = `probe from ${region} at ${new Date().toISOString()}\n`;
  const auth = { authorization: `Bearer ${key}` };
  const created = await httpFrom(r.ns, { method: 'POST', url, headers: { ...auth, 'content-type': 'application/octet-stream' }, body, timeoutMs: 15_000 });
  if (created.status !== 201 && created.status !== 200) throw new Error(`write through ${r.hostname} answered ${created.status}: ${created.body.toString().slice(0, 200)}`);
  // Read-your-writes: the write's consistency token makes a replica-backed read wait for it.
  const token = created.headers['x-callfs-consistency-token'];
  const read = await httpFrom(r.ns, { url, headers: token === undefined ? auth : { ...auth, 'X-CallFS-Consistency-Token': token }, timeoutMs: 15_000 });
  if (read.status !== 200 || read.body.toString() !== body) throw new Error(`read-back through ${r.hostname} answered ${read.status} with ${read.body.length} bytes`);
  await httpFrom(r.ns, { method: 'DELETE', url, headers: auth, timeoutMs: 15_000 }).catch(() => null);
  return `${region}: write + read-back ok via ${created.headers['x-callfs-served-by'] ?? '?'} in ${Math.round(created.ms + read.ms)} ms`;
}

export async function probeHomeOutage(rh: LocalRehearsal, region: string): Promise<string> {
  const r = rh.region(region);
  const key = credentialsOf(rh.options.dir).api_key;
  const base = `http://${r.hostname}:${rh.plan.options.nodePort}`;
  const auth = { authorization: `Bearer ${key}` };
  const read = await httpFrom(r.ns, { url: `${base}/v1/directories/`, headers: auth, timeoutMs: 10_000 });
  if (read.status !== 200) throw new Error(`a read (listing /) through ${r.hostname} answered ${read.status}: ${read.body.toString().slice(0, 200)}`);
  const path = `/v1/files/drill-probes/${region}-outage-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const write = await httpFrom(r.ns, { method: 'POST', url: `${base}${path}`, headers: { ...auth, 'content-type': 'application/octet-stream' }, body: 'must be refused\n', timeoutMs: 10_000 });
  let code: unknown = null;
  try {
    code = (JSON.parse(write.body.toString()) as { code?: unknown }).code ?? null;
  } catch {
    code = null;
  }
  const retryAfter = write.headers['retry-after'];
  if (write.status !== 503 || typeof code !== 'string' || retryAfter === undefined) {
    throw new Error(`a write through ${r.hostname} answered ${write.status} (code ${String(code)}, Retry-After ${retryAfter ?? 'none'}) instead of a clean refusal`);
  }
  return `${region}: read ok in ${Math.round(read.ms)} ms via ${read.headers['x-callfs-served-by'] ?? '?'}; write refused ${write.status} ${code} (Retry-After ${retryAfter}) in ${Math.round(write.ms)} ms`;
}
