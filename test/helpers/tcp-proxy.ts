/**
 * A TCP proxy on 127.0.0.1 that a test controls: it forwards to a server until told to `cut`
 * (every connection through it is destroyed and new ones are refused, as when a phone loses
 * its network), or to `stall` (connections stay open but nothing crosses: a dead path that no
 * side is told about), and `letThrough` restores it. The server behind it keeps running, so
 * whatever it keeps (a channel's history) survives the cut.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export type ProxyMode = 'through' | 'cut' | 'stall';

export interface TcpProxy {
  readonly port: number;
  /** What the proxy does now. */
  readonly mode: ProxyMode;
  /** Connections accepted so far, refused ones included. */
  readonly accepted: number;
  /** Connections being forwarded now. */
  readonly open: number;
  /** Destroys every connection through the proxy and refuses new ones (accepted, then destroyed at once). */
  cut(): void;
  /** Keeps connections but forwards nothing, either way, until `letThrough` (then they are destroyed: their bytes are lost). */
  stall(): void;
  /** Forwards again (new connections). */
  letThrough(): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  const refused = new Set<Socket>();
  let mode: ProxyMode = 'through';
  let accepted = 0;

  const destroy = (pair: Pair): void => {
    pair.client.destroy();
    pair.upstream.destroy();
    pairs.delete(pair);
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (mode === 'cut') {
      client.on('error', () => undefined);
      client.destroy();
      return;
    }
    if (mode === 'stall') {
      // Held open, answered never; destroyed when the proxy lets through again or closes.
      refused.add(client);
      client.on('error', () => undefined).on('close', () => refused.delete(client));
      client.resume(); // read and drop
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    // Forwarded by hand rather than piped, so that a stall can drop bytes in both directions.
    client.on('data', (chunk: Buffer) => {
      if (mode === 'through') upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'through') client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    const forget = (): void => destroy(pair);
    client.on('close', forget).on('error', forget);
    upstream.on('close', forget).on('error', forget);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    cut() {
      mode = 'cut';
      for (const pair of [...pairs]) destroy(pair);
    },
    stall() {
      mode = 'stall';
    },
    letThrough() {
      if (mode === 'stall') {
        for (const pair of [...pairs]) destroy(pair);
        for (const socket of refused) socket.destroy();
      }
      mode = 'through';
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of [...pairs]) destroy(pair);
        for (const socket of refused) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
