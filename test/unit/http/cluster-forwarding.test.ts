/**
 * Several nodes sharing one metadata store, lock manager and bucket (in-process memory twins):
 * files held by another node are forwarded to it with the caller's identity, S3 files are served
 * by any node, a node without S3 reaches S3 files through the node that created them, and
 * `GET /v1/cluster` shows where members listen only to admin keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCluster, memoryUrl, startMemoryNode } from '../../support/memory-node.js';
import { api, call, KEYS, type TestNode } from '../../support/test-node.js';

let n1: TestNode;
let n2: TestNode;
let s3a: TestNode;
let s3b: TestNode;
const cluster = new MemoryCluster();

beforeAll(async () => {
  n1 = await startMemoryNode({ cluster, instanceId: 'node1', peers: { node2: memoryUrl('node2') } });
  n2 = await startMemoryNode({ cluster, instanceId: 'node2', peers: { node1: memoryUrl('node1') } });
  s3a = await startMemoryNode({ cluster, instanceId: 's3a', backend: 's3' });
  s3b = await startMemoryNode({ cluster, instanceId: 's3b', backend: 's3' });
});

afterAll(async () => {
  await Promise.all([n1.close(), n2.close(), s3a.close(), s3b.close()]);
});

describe('S3 files', () => {
  it('serves S3 files from any node with S3, with no instance id', async () => {
    await api(s3a.url)('/v1/files/s3/shared.bin', { method: 'PUT', body: 'from a' });
    const res = await api(s3b.url)('/v1/files/s3/shared.bin');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-callfs-instance-id')).toBeNull();
    expect(await res.text()).toBe('from a');
  });
});

describe('forwarding to the node that holds a local-disk file', () => {
  it('GET, Range, PUT, PATCH and DELETE through the other node reach the holder', async () => {
    const one = api(n1.url);
    const two = api(n2.url);
    expect((await one('/v1/files/held/a.txt', { method: 'POST', body: 'held by node1' })).status).toBe(201);
    const read = await two('/v1/files/held/a.txt');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('held by node1');
    expect(read.headers.get('x-callfs-served-by')).toBe('node1; region=test');
    expect(read.headers.get('x-callfs-region-hops')).toBe('0');
    const part = await two('/v1/files/held/a.txt', { headers: { Range: 'bytes=0-3' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('held');
    expect((await two('/v1/files/held/a.txt', { method: 'PUT', body: 'updated via node2' })).status).toBe(200);
    expect(await (await one('/v1/files/held/a.txt')).text()).toBe('updated via node2');
    expect((await two('/v1/files/held/a.txt', { method: 'PATCH', body: JSON.stringify({ name: 'b.txt' }) })).status).toBe(200);
    expect(await (await two('/v1/files/held/b.txt')).text()).toBe('updated via node2');
    expect((await two('/v1/files/held/b.txt', { method: 'DELETE' })).status).toBe(204);
    expect((await one('/v1/files/held/b.txt')).status).toBe(404);
  });

  it("applies the caller's own permissions on the holder", async () => {
    await api(n1.url)('/v1/files/held/owned.txt', { method: 'PUT', body: 'mine' });
    const denied = await api(n2.url, KEYS.alice)('/v1/files/held/owned.txt', { method: 'PUT', body: 'hers' });
    expect(denied.status).toBe(403);
    expect(await (await api(n1.url)('/v1/files/held/owned.txt')).text()).toBe('mine');
  });

  it('answers POST of a path held elsewhere with the CallFS cross-server 409', async () => {
    await api(n1.url)('/v1/files/held/conflict.txt', { method: 'POST', body: '1' });
    const res = await api(n2.url)('/v1/files/held/conflict.txt', { method: 'POST', body: '2' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({
      error: 'Resource exists on another server',
      existing_path: '/held/conflict.txt',
      instance_id: 'node1',
      backend_type: 'localfs',
      update_url: `${n1.url}/v1/files/held/conflict.txt`,
    });
  });

  it('produces exactly one 201 when two nodes race to create one path', async () => {
    const results = await Promise.all([
      api(n1.url)('/v1/files/held/race.txt', { method: 'POST', body: 'one' }),
      api(n2.url)('/v1/files/held/race.txt', { method: 'POST', body: 'two' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  it('redeems a link on a node that does not hold the file', async () => {
    await api(n1.url)('/v1/files/held/linked.txt', { method: 'PUT', body: 'via link' });
    const { token } = (await (await api(n1.url)('/v1/links/generate', { method: 'POST', body: JSON.stringify({ path: '/held/linked.txt', expiry_seconds: 60 }) })).json()) as { token: string };
    const res = await call(`${n2.url}/download/${token}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('via link');
  });

  it('refuses forged internal requests', async () => {
    const res = await call(`${n1.url}/v1/files/held/linked.txt`, {
      headers: { 'x-callfs-peer-caller': 'root', 'x-callfs-peer-time': String(Date.now()), 'x-callfs-peer-nonce': 'n', 'x-callfs-peer-hop': '1', 'x-callfs-peer-from': 'node2', 'x-callfs-peer-signature': 'deadbeef' },
    });
    expect(res.status).toBe(401);
  });
});

describe('a node without S3 reaches S3 files through the node that created them', () => {
  let local: TestNode;
  beforeAll(async () => {
    // A local-disk-only node that knows the S3 node as a peer (the 3 × localfs + 1 × S3 layout).
    local = await startMemoryNode({ cluster, instanceId: 'local-only', peers: { s3a: s3a.url } });
  });
  afterAll(() => local.close());

  it('reads, replaces and deletes an S3 file via the local-disk node', async () => {
    const viaS3 = api(s3a.url);
    const viaLocal = api(local.url);
    expect((await viaS3('/v1/files/s3only/doc.txt', { method: 'PUT', body: 'in the bucket' })).status).toBe(201);
    const read = await viaLocal('/v1/files/s3only/doc.txt');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('in the bucket');
    expect((await viaLocal('/v1/files/s3only/doc.txt', { method: 'PUT', body: 'replaced' })).status).toBe(200);
    expect(await (await viaS3('/v1/files/s3only/doc.txt')).text()).toBe('replaced');
    expect((await viaLocal('/v1/files/s3only/doc.txt', { method: 'DELETE' })).status).toBe(204);
    expect((await viaS3('/v1/files/s3only/doc.txt')).status).toBe(404);
  });
});

describe('GET /v1/cluster', () => {
  it("shows members' internal URLs only to keys listed in auth.admin_api_keys", async () => {
    const asAdmin = await (await api(n1.url)('/v1/cluster')).json();
    const asUser = await api(n1.url, KEYS.alice)('/v1/cluster');
    expect(asUser.status).toBe(200);
    const userView = await asUser.json();
    const peer = (view: { members: Array<Record<string, unknown>> }) => view.members.find((m) => m['instance_id'] === 'node2');
    expect(peer(asAdmin)).toMatchObject({ internal_url: n2.url, region: 'test', static: true });
    expect(peer(userView)).toMatchObject({ instance_id: 'node2', region: 'test', static: true });
    expect(JSON.stringify(userView)).not.toContain('internal_url');
    expect(JSON.stringify(userView)).not.toContain(n2.url);
  });
});
