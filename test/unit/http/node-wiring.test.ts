/**
 * A memory node is wired as node.ts wires a real one: its store carries the cluster's marker
 * (and a store of another cluster keeps it from starting), and writes carry the fencing epoch,
 * so a fenced database refuses them while reads go on.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CLUSTER_MARKER_KEY, readClusterMarker } from '../../../app/services/storage-identity.js';
import { MemoryCluster, startMemoryNode } from '../../support/memory-node.js';
import { api } from '../../support/test-node.js';

describe('a memory node as node.ts wires it', () => {
  it("marks its empty store with the cluster's identity, and refuses a store of another cluster", async () => {
    const cluster = new MemoryCluster();
    const node = await startMemoryNode({ cluster, backend: 's3' });
    expect(await readClusterMarker(cluster.bucket)).toBe(cluster.database.clusterId);
    await node.close();

    const other = new MemoryCluster();
    const marker = JSON.stringify({ cluster_id: 'someone-elses-cluster' });
    await other.bucket.write(CLUSTER_MARKER_KEY, Readable.from([Buffer.from(marker)]), { exclusive: true });
    await expect(startMemoryNode({ cluster: other, backend: 's3', instanceId: 'stranger' })).rejects.toThrow(/belongs to cluster someone-elses-cluster/);
  });

  it('refuses writes with 503 FENCED once the database is fenced, and keeps serving reads', async () => {
    const node = await startMemoryNode();
    const owner = api(node.url);
    expect((await owner('/v1/files/fenced/a.txt', { method: 'PUT', body: 'before' })).status).toBe(201);
    node.cluster.database.setEpoch({ fenced: true });
    const refused = await owner('/v1/files/fenced/a.txt', { method: 'PUT', body: 'after' });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'FENCED' });
    const read = await owner('/v1/files/fenced/a.txt');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('before');
    await node.close();
  });
});
