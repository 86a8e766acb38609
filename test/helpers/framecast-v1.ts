/**
 * A framecast.v1 client for tests, on the `ws` package and written from docs/pubsub.md alone:
 * commands with ids, replies matched by id, and every push kept in order.
 */
import WebSocket from 'ws';

/** One JSON object as the server sent it. */
export type Frame = Record<string, any>;

export class V1Client {
  /** Every push (a frame without `id`), in arrival order. */
  readonly pushes: Frame[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Frame) => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) throw new Error('framecast.v1 sent a binary frame');
      const frame = JSON.parse(data.toString()) as Frame;
      if (typeof frame.id === 'number') {
        const resolve = this.waiting.get(frame.id);
        this.waiting.delete(frame.id);
        resolve?.(frame);
      } else {
        this.pushes.push(frame);
      }
    });
  }

  /** Opens `ws://.../pubsub` offering framecast.v1. */
  static open(wsUrl: string): Promise<V1Client> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${wsUrl}/pubsub`, 'framecast.v1');
      socket.once('open', () => resolve(new V1Client(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends `{"id":N,"<name>":args}` and resolves with its reply. */
  command(name: string, args: Frame): Promise<Frame> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ id, [name]: args }));
    });
  }

  /** Subscribes and resolves with the `subscribed` result, failing on an error reply. */
  async subscribe(channel: string, options: Frame = {}): Promise<Frame> {
    const reply = await this.command('subscribe', { channel, ...options });
    if (reply.subscribed === undefined) throw new Error(`subscribe ${channel} failed: ${JSON.stringify(reply)}`);
    return reply.subscribed;
  }

  /** The `pub` pushes of `channel`, in order. */
  pubs(channel: string): Frame[] {
    return this.pushes.filter((push) => push.pub !== undefined && push.pub.channel === channel).map((push) => push.pub);
  }

  /** The pushes of `channel` that are publications or losses, in order: `{pub}` or `{lost}`. */
  sequence(channel: string): Frame[] {
    return this.pushes.filter((push) => (push.pub ?? push.lost)?.channel === channel);
  }

  /** The `join` or `leave` pushes of `channel`. */
  presenceEvents(channel: string): Frame[] {
    return this.pushes.filter((push) => (push.join ?? push.leave)?.channel === channel);
  }

  terminate(): void {
    this.socket.terminate();
  }
}
