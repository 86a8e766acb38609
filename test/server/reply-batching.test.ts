/**
 * How replies to one socket read leave the server: together in one write, except that the
 * first read of a turn of the event loop (every read of a server that is not busy) sends its
 * first reply at once, so the peer can work on it while the others are made.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Opcode } from '../../src/protocol/index.js';
import { WebSocketConnection } from '../../src/server/websocket/connection.js';
import { clientFrame } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';

interface Pair {
  server: Server;
  client: Socket;
  /** The server's end, which the connection owns. */
  socket: Socket;
  connection: WebSocketConnection;
  /** For each write of the connection's socket: was the socket corked (held back) then? */
  writesCorked: boolean[];
  /** Bytes the client has received. */
  received: Buffer[];
}

let pair: Pair;

/** A WebSocket connection on the server end of a loopback TCP pair, echoing each message. */
async function openPair(): Promise<Pair> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const { port } = server.address() as { port: number };
  const client = connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  const socket = await accepted;
  const writesCorked: boolean[] = [];
  const write = socket.write.bind(socket) as (chunk: Uint8Array, callback?: () => void) => boolean;
  socket.write = ((chunk: Uint8Array, callback?: () => void) => {
    writesCorked.push(socket.writableCorked > 0);
    return write(chunk, callback);
  }) as typeof socket.write;
  const connection = new WebSocketConnection(socket, Buffer.alloc(0));
  connection.on('message', (data: Buffer, isBinary: boolean) => connection.send(data, isBinary));
  return { server, client, socket, connection, writesCorked, received };
}

/** Three masked text frames in one chunk, as one socket read would bring them. */
function threeMessages(): Buffer {
  return Buffer.concat(['one', 'two', 'three'].map((text) => clientFrame(Opcode.Text, text)));
}

/** The server's three echoes, unmasked (RFC 6455 5.1: a server never masks). */
const threeEchoes = Buffer.concat(['one', 'two', 'three'].map((text) => Buffer.concat([Buffer.from([0x81, text.length]), Buffer.from(text)])));

/** Waits for a turn of the event loop of its own, so the next read is the first of its turn. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

beforeEach(async () => {
  pair = await openPair();
});

afterEach(async () => {
  pair.client.destroy();
  pair.connection.terminate();
  await new Promise<void>((resolve) => pair.server.close(() => resolve()));
});

describe('replies to one read leave together, but the first read of a turn sends its first reply at once', () => {
  it('first read of a turn: the first echo is written uncorked, the other two corked and flushed together', async () => {
    await nextTurn();
    pair.connection.receive(threeMessages());
    expect(pair.writesCorked).toEqual([false, true, true]);
    await waitUntil(() => Buffer.concat(pair.received).length >= threeEchoes.length);
    expect(Buffer.concat(pair.received)).toEqual(threeEchoes);
  });

  it('a later read in the same turn (a busy server): every echo waits for the one write at the end', async () => {
    await nextTurn();
    pair.connection.receive(clientFrame(Opcode.Ping, ''));
    pair.writesCorked.length = 0;
    pair.connection.receive(threeMessages());
    expect(pair.writesCorked).toEqual([true, true, true]);
    await waitUntil(() => Buffer.concat(pair.received).length >= 2 + threeEchoes.length);
    // The Pong (RFC 6455 5.5.2) to the first read, then the three echoes in order.
    expect(Buffer.concat(pair.received)).toEqual(Buffer.concat([Buffer.from([0x8a, 0x00]), threeEchoes]));
  });

  it('a listener that throws leaves the socket uncorked, and the replies written before it leave', async () => {
    await nextTurn();
    pair.connection.receive(clientFrame(Opcode.Ping, ''));
    let messages = 0;
    pair.connection.on('message', () => {
      if (++messages === 2) throw new Error('listener failed');
    });
    expect(() => pair.connection.receive(threeMessages())).toThrow('listener failed');
    expect(pair.socket.writableCorked).toBe(0);
    // The Pong, then the echoes of 'one' and 'two' (each echo listener ran before the thrower).
    const expected = Buffer.concat([Buffer.from([0x8a, 0x00]), threeEchoes.subarray(0, 2 + 3 + 2 + 3)]);
    await waitUntil(() => Buffer.concat(pair.received).length >= expected.length);
    expect(Buffer.concat(pair.received)).toEqual(expected);
  });

  it('a read that produces no reply leaves the socket uncorked', async () => {
    await nextTurn();
    pair.connection.receive(clientFrame(Opcode.Text, 'par', { fin: false }));
    expect(pair.writesCorked).toEqual([]);
    expect(pair.socket.writableCorked).toBe(0);
    pair.connection.receive(clientFrame(Opcode.Continuation, 'tial'));
    expect(pair.writesCorked).toEqual([true]);
    expect(pair.socket.writableCorked).toBe(0);
  });
});
