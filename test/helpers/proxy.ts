// A TCP proxy in front of a server whose connections a test can cut at will:
// the network dropping out under a live subscriber.
import net from 'node:net';

export interface Proxy {
  url: string;
  /** Cuts every open connection (both directions, at once). */
  dropAll(): number;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<Proxy> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<() => void>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    const cut = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(cut);
    };
    pairs.add(cut);
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${own}`,
    dropAll() {
      const n = pairs.size;
      for (const cut of [...pairs]) cut();
      return n;
    },
    async close() {
      for (const cut of [...pairs]) cut();
      await new Promise((r) => server.close(r));
    },
  };
}
