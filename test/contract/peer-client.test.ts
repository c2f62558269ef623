import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { UndiciPeerClient } from '../../app/adapters/peers/undici.js';
import { describePeerClientContract } from './peer-client.contract.js';

describePeerClientContract('undici over loopback HTTP', async (handler) => {
  const server = await new Promise<Server>((resolve) => {
    const started = serve({ fetch: handler, hostname: '127.0.0.1', port: 0 }, () => resolve(started as Server)) as Server;
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new UndiciPeerClient({ endpointOf: (id) => (id === 'peer' ? endpoint : undefined), connectTimeoutMs: 1000 });
  let stopped = false;
  const stopPeer = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { client, peerId: 'peer', stopPeer, close: async () => { await client.close(); await stopPeer(); } };
});
