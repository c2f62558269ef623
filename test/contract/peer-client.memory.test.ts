import { MemoryPeerClient, MemoryPeerNetwork } from '../../app/adapters/peers/memory.js';
import { describePeerClientContract } from './peer-client.contract.js';

describePeerClientContract('in-process memory', async (handler) => {
  const network = new MemoryPeerNetwork();
  const endpoint = 'http://peer.memory';
  network.connect(endpoint, handler);
  const client = new MemoryPeerClient({ network, endpointOf: (id) => (id === 'peer' ? endpoint : undefined) });
  return { client, peerId: 'peer', stopPeer: async () => network.disconnect(endpoint), close: () => client.close() };
});
