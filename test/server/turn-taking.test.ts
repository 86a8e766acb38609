/**
 * Connections take turns at the event loop: one socket read full of tiny frames is handled a
 * slice of `ServerDefaults.framesPerTurn` frames at a time, the socket paused in between, so that
 * other connections' input is handled before the rest of it. The order is asserted by events,
 * not by timing: the neighbour's message is already waiting when the flood is handed over.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Opcode } from '../../src/protocol/index.js';
import { ServerDefaults } from '../../src/server/config.js';
import { WebSocketConnection } from '../../src/server/websocket/connection.js';
import { clientFrame } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';

interface Pair {
  client: Socket;
  /** The server's end, which the connection owns. */
  socket: Socket;
  connection: WebSocketConnection;
  /** Bytes the client has received. */
  received(): Buffer;
}

const servers: Server[] = [];
const pairs: Pair[] = [];

/** A WebSocket connection on the server end of a loopback TCP pair. */
async function openPair(): Promise<Pair> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const { port } = server.address() as { port: number };
  const client = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  const socket = await accepted;
  const pair = { client, socket, connection: new WebSocketConnection(socket, Buffer.alloc(0)), received: () => Buffer.concat(chunks) };
  pairs.push(pair);
  return pair;
}

afterEach(async () => {
  for (const pair of pairs.splice(0)) {
    pair.client.destroy();
    pair.connection.terminate();
  }
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A text message of `count` one-byte fragments, in one buffer: as a flooder sends it. */
function tinyFragments(count: number): Buffer {
  return Buffer.concat(
    Array.from({ length: count }, (_, i) => clientFrame(i === 0 ? Opcode.Text : Opcode.Continuation, 'a', { fin: i === count - 1 })),
  );
}

/**
 * A neighbour whose message has arrived but is not read yet: its socket is paused until the
 * bytes are in its read buffer. Resuming it hands them over on the next tick.
 */
async function neighbourWithMessageWaiting(log: string[]): Promise<Pair> {
  const neighbour = await openPair();
  neighbour.connection.on('message', (data: Buffer) => log.push(`neighbour ${data.toString()}`));
  neighbour.socket.pause();
  const frame = clientFrame(Opcode.Text, 'hello');
  neighbour.client.write(frame);
  await waitUntil(() => neighbour.socket.readableLength >= frame.length, 5_000, "the neighbour's message to arrive");
  return neighbour;
}

const FLOOD_FRAMES = 20 * ServerDefaults.framesPerTurn;

describe("a read full of tiny frames is handled in slices, other connections' input in between", () => {
  it("a neighbour's message is handled after the first slice of a 20-slice fragment flood, not after the whole of it", async () => {
    const log: string[] = [];
    const flooder = await openPair();
    flooder.connection.on('message', (data: Buffer) => log.push(`flooder message of ${data.length} bytes`));
    let pings = 0;
    flooder.connection.on('ping', () => log.push(`flooder ping ${pings++}`));
    const neighbour = await neighbourWithMessageWaiting(log);

    // A ping after every fragment marks how far the server has read the flood.
    const fragments = tinyFragments(FLOOD_FRAMES / 2);
    const FRAGMENT_BYTES = 7; // 2 of header, 4 of masking key, 1 of payload
    const ping = clientFrame(Opcode.Ping, '');
    const flood: Buffer[] = [];
    for (let i = 0; i < FLOOD_FRAMES / 2; i++) flood.push(fragments.subarray(i * FRAGMENT_BYTES, (i + 1) * FRAGMENT_BYTES), ping);

    neighbour.socket.resume();
    flooder.connection.receive(Buffer.concat(flood)); // one read, as a socket would bring it
    // The first slice is read at once; the flooder's socket waits for the next turn.
    expect(log).toHaveLength(ServerDefaults.framesPerTurn / 2);
    expect(flooder.socket.isPaused()).toBe(true);

    await waitUntil(() => pings === FLOOD_FRAMES / 2, 10_000, 'the whole flood to be read');
    const neighbourAt = log.indexOf('neighbour hello');
    expect(neighbourAt).toBe(ServerDefaults.framesPerTurn / 2);
    // Everything of the flood was read, in order, and the message is whole.
    const floodEvents = log.filter((entry) => entry !== 'neighbour hello');
    const pingsBefore = Array.from({ length: FLOOD_FRAMES / 2 - 1 }, (_, i) => `flooder ping ${i}`);
    expect(floodEvents).toEqual([...pingsBefore, `flooder message of ${FLOOD_FRAMES / 2} bytes`, `flooder ping ${FLOOD_FRAMES / 2 - 1}`]);
    expect(flooder.socket.isPaused()).toBe(false);
  });

  it('bytes that arrive on the socket while it waits are read after the rest of the flood, in order, and every ping is answered', async () => {
    const flooder = await openPair();
    const echoes: string[] = [];
    flooder.connection.on('message', (data: Buffer) => {
      echoes.push(data.toString());
      flooder.connection.send(data.toString());
    });
    const pings = Array.from({ length: FLOOD_FRAMES }, (_, i) => clientFrame(Opcode.Ping, String(i)));
    flooder.connection.receive(Buffer.concat(pings));
    expect(flooder.socket.isPaused()).toBe(true);
    flooder.client.write(clientFrame(Opcode.Text, 'after the flood'));

    // Every Pong, in order, then the echo.
    const expected = Buffer.concat([
      ...Array.from({ length: FLOOD_FRAMES }, (_, i) => Buffer.concat([Buffer.from([0x8a, String(i).length]), Buffer.from(String(i))])),
      Buffer.concat([Buffer.from([0x81, 'after the flood'.length]), Buffer.from('after the flood')]),
    ]);
    await waitUntil(() => flooder.received().length >= expected.length, 10_000, 'every pong and the echo');
    expect(flooder.received().equals(expected)).toBe(true);
    expect(echoes).toEqual(['after the flood']);
  });

  it("a read of fewer frames than a turn's budget is handled at once, and the socket keeps reading", async () => {
    const pair = await openPair();
    const messages: string[] = [];
    pair.connection.on('message', (data: Buffer) => messages.push(data.toString()));
    const count = ServerDefaults.framesPerTurn - 1;
    pair.connection.receive(Buffer.concat(Array.from({ length: count }, (_, i) => clientFrame(Opcode.Text, String(i)))));
    expect(messages).toHaveLength(count);
    expect(pair.socket.isPaused()).toBe(false);
  });

  it('the budget is per turn, over all reads in it: a second read in the same turn gets what the first left', async () => {
    const pair = await openPair();
    const messages: string[] = [];
    pair.connection.on('message', (data: Buffer) => messages.push(data.toString()));
    const read = (from: number, count: number): Buffer => Buffer.concat(Array.from({ length: count }, (_, i) => clientFrame(Opcode.Text, String(from + i))));
    const first = Math.floor((ServerDefaults.framesPerTurn * 3) / 4);
    await new Promise((resolve) => setImmediate(resolve)); // a turn of its own
    pair.connection.receive(read(0, first));
    expect(messages).toHaveLength(first);
    expect(pair.socket.isPaused()).toBe(false);
    pair.connection.receive(read(first, first)); // as the event loop's next read of this socket
    expect(messages).toHaveLength(ServerDefaults.framesPerTurn);
    expect(pair.socket.isPaused()).toBe(true);
    await waitUntil(() => messages.length === 2 * first, 5_000, 'the rest of the second read');
    expect(messages).toEqual(Array.from({ length: 2 * first }, (_, i) => String(i)));
    expect(pair.socket.isPaused()).toBe(false);
  });
});
