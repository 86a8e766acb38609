/**
 * A framecast.v1 client for tests, written from docs/pubsub.md alone on the `ws` package (an
 * independent WebSocket implementation): commands with ids, replies matched by id, and every
 * push kept in arrival order.
 */
import WebSocket from 'ws';
import { waitUntil } from './wait.js';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Everything the server sent, in order, parsed. */
export class PubSubTestClient {
  readonly frames: Json[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Json) => void>();
  closeCode: number | undefined;
  closeReason = '';

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) throw new Error('framecast.v1 servers send text frames only');
      const frame = JSON.parse(data.toString()) as Json;
      this.frames.push(frame);
      if (typeof frame.id === 'number') this.waiting.get(frame.id)?.(frame);
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  /** Connects to `wsUrl`/pubsub offering framecast.v1. */
  static open(wsUrl: string, path = '/pubsub'): Promise<PubSubTestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${wsUrl}${path}`, 'framecast.v1');
      socket.once('open', () => resolve(new PubSubTestClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends `{"id":N, name: args}` and resolves with its reply. */
  command(name: string, args: unknown): Promise<Json> {
    const id = this.nextId++;
    return this.sendWithId(id, { id, [name]: args });
  }

  /** Sends a whole command object (its id chosen by the caller) and resolves with the reply to that id. */
  sendWithId(id: number, command: unknown): Promise<Json> {
    const reply = new Promise<Json>((resolve) => this.waiting.set(id, resolve));
    this.socket.send(JSON.stringify(command));
    return reply.finally(() => this.waiting.delete(id));
  }

  /** Sends a raw text frame. */
  sendText(text: string): void {
    this.socket.send(text);
  }

  /** The `pub` pushes received so far (optionally of one channel), in order. */
  pubs(channel?: string): Json[] {
    return this.frames.filter((frame) => frame.pub !== undefined && (channel === undefined || frame.pub.channel === channel)).map((frame) => frame.pub);
  }

  /** Pushes of one kind (`join`, `leave`, ...). */
  pushes(kind: string): Json[] {
    return this.frames.filter((frame) => frame[kind] !== undefined && frame.id === undefined).map((frame) => frame[kind]);
  }

  /** Waits until `count` pubs of `channel` have arrived. */
  async waitForPubs(channel: string | undefined, count: number, timeoutMs = 10_000): Promise<Json[]> {
    await waitUntil(() => this.pubs(channel).length >= count, timeoutMs, `${count} pubs of ${channel ?? '(everyone)'}`);
    return this.pubs(channel);
  }

  /** Waits for the connection to close; resolves with the code. */
  async closed(timeoutMs = 10_000): Promise<number> {
    await waitUntil(() => this.closeCode !== undefined, timeoutMs, 'the close');
    return this.closeCode!;
  }

  close(): void {
    this.socket.close();
  }

  terminate(): void {
    this.socket.terminate();
  }
}
