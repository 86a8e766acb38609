/**
 * A small framecast.v1 server for the client's tests, written from docs/pubsub.md alone on the
 * `ws` package (an independent peer: none of framecast's server code). It keeps what the spec
 * says a server keeps: per channel an epoch, the latest offset, a bounded history and the
 * subscribers with their info; it answers every command of the spec with its reply or error
 * and sends `pub`, `join` and `leave` pushes. Tests also use it to see what the client sent.
 */
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';

const CHANNEL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const SUBPROTOCOL = 'framecast.v1';

interface StoredPublication {
  offset: number;
  text?: string;
  binary?: string;
}

interface Channel {
  epoch: string;
  offset: number;
  history: StoredPublication[];
  subscribers: Map<WebSocket, unknown>;
}

export interface FakePubSubOptions {
  /** Publications kept per channel (docs/pubsub.md "Limits"); 100 by default. */
  historySize?: number;
}

export interface FakePubSub {
  readonly port: number;
  /** ws://127.0.0.1:PORT/pubsub */
  readonly url: string;
  /** Every command received, parsed, in order. */
  readonly commands: Array<Record<string, unknown>>;
  /** Connections open now. */
  readonly connections: number;
  /** A publication from outside (like POST /push?channel=): returns its offset and epoch. */
  publish(channel: string, text: string): { offset: number; epoch: string };
  /** A push to every connection (POST /push without a channel). */
  pushToAll(text: string): void;
  /** Forgets every channel, as a restarted server would: next publications start new epochs. */
  forgetChannels(): void;
  /** While true, subscribe and history answer `unavailable` (a broker away). */
  unavailable: boolean;
  close(): Promise<void>;
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export async function startFakePubSub(options: FakePubSubOptions = {}): Promise<FakePubSub> {
  const historySize = options.historySize ?? 100;
  const channels = new Map<string, Channel>();
  const clientIds = new Map<WebSocket, string>();
  const subscriptionsOf = new Map<WebSocket, Set<string>>();
  const commands: Array<Record<string, unknown>> = [];
  const state = { unavailable: false };

  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/pubsub',
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));

  function channelOf(name: string): Channel {
    let channel = channels.get(name);
    if (channel === undefined) {
      channel = { epoch: newEpoch(), offset: 0, history: [], subscribers: new Map() };
      channels.set(name, channel);
    }
    return channel;
  }

  function send(socket: WebSocket, message: object): void {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  }

  function append(name: string, payload: { text: string } | { binary: string }): StoredPublication {
    const channel = channelOf(name);
    const publication: StoredPublication = { offset: ++channel.offset, ...payload };
    if (historySize > 0) {
      channel.history.push(publication);
      if (channel.history.length > historySize) channel.history.shift();
    }
    for (const subscriber of channel.subscribers.keys()) send(subscriber, { pub: { channel: name, ...publication } });
    return publication;
  }

  /** `publications` and `recovered` for `since` (docs/pubsub.md "subscribe"). */
  function since(channel: Channel, position: { epoch: string; offset: number }): { publications: StoredPublication[]; recovered: boolean } {
    if (position.epoch !== channel.epoch) return { publications: [...channel.history], recovered: false };
    const publications = channel.history.filter((publication) => publication.offset > position.offset);
    const oldestKept = channel.history[0]?.offset ?? channel.offset + 1;
    const recovered = position.offset >= channel.offset || oldestKept <= position.offset + 1;
    return { publications, recovered };
  }

  function isPosition(value: unknown): value is { epoch: string; offset: number } {
    const position = value as { epoch?: unknown; offset?: unknown } | null;
    return typeof position === 'object' && position !== null && typeof position.epoch === 'string' && Number.isSafeInteger(position.offset);
  }

  function handle(socket: WebSocket, id: number, name: string, argument: Record<string, unknown>): object {
    const fail = (code: string, message: string): object => ({ id, error: { code, message } });
    const channelName = argument.channel;
    if (typeof channelName !== 'string' || !CHANNEL_NAME.test(channelName)) return fail('invalid_channel', 'bad channel name');
    const mine = subscriptionsOf.get(socket) as Set<string>;
    switch (name) {
      case 'subscribe': {
        if (mine.has(channelName)) return fail('already_subscribed', 'already');
        if (state.unavailable) return fail('unavailable', 'try again later');
        const channel = channelOf(channelName);
        const info = argument.info ?? null;
        let publications: StoredPublication[] = [];
        let recovered: boolean | undefined;
        if (argument.since !== undefined) {
          if (!isPosition(argument.since)) return fail('bad_request', 'since');
          ({ publications, recovered } = since(channel, argument.since));
        } else if (argument.history !== undefined) {
          if (!Number.isSafeInteger(argument.history) || (argument.history as number) < 0) return fail('bad_request', 'history');
          publications = (argument.history as number) === 0 ? [] : channel.history.slice(-(argument.history as number));
        }
        for (const other of channel.subscribers.keys()) send(other, { join: { channel: channelName, client: clientIds.get(socket), info } });
        channel.subscribers.set(socket, info);
        mine.add(channelName);
        const reply: Record<string, unknown> = { channel: channelName, epoch: channel.epoch, offset: channel.offset, publications, client: clientIds.get(socket) };
        if (recovered !== undefined) reply.recovered = recovered;
        return { id, subscribed: reply };
      }
      case 'unsubscribe': {
        if (!mine.has(channelName)) return fail('not_subscribed', 'not subscribed');
        leave(socket, channelName);
        return { id, unsubscribed: { channel: channelName } };
      }
      case 'publish': {
        if (!mine.has(channelName)) return fail('not_subscribed', 'subscribe first');
        const hasText = typeof argument.text === 'string';
        const hasBinary = typeof argument.binary === 'string';
        if (hasText === hasBinary) return fail('bad_request', 'text or binary');
        const publication = append(channelName, hasText ? { text: argument.text as string } : { binary: argument.binary as string });
        return { id, published: { channel: channelName, offset: publication.offset, epoch: channelOf(channelName).epoch } };
      }
      case 'presence': {
        if (!mine.has(channelName)) return fail('not_subscribed', 'subscribe first');
        const clients = [...channelOf(channelName).subscribers].map(([subscriber, info]) => ({ client: clientIds.get(subscriber), info }));
        return { id, presence: { channel: channelName, clients } };
      }
      case 'history': {
        if (state.unavailable) return fail('unavailable', 'try again later');
        const channel = channelOf(channelName);
        const reply: Record<string, unknown> = { channel: channelName, epoch: channel.epoch, offset: channel.offset };
        if (argument.since !== undefined && isPosition(argument.since)) {
          const recovered = since(channel, argument.since);
          reply.publications = recovered.publications;
          reply.recovered = recovered.recovered;
        } else {
          const limit = argument.limit === undefined ? channel.history.length : (argument.limit as number);
          reply.publications = limit === 0 ? [] : channel.history.slice(-limit);
        }
        return { id, history: reply };
      }
      default:
        return fail('unknown_command', name);
    }
  }

  function leave(socket: WebSocket, name: string): void {
    const channel = channels.get(name);
    subscriptionsOf.get(socket)?.delete(name);
    if (channel === undefined) return;
    const info = channel.subscribers.get(socket) ?? null;
    channel.subscribers.delete(socket);
    for (const other of channel.subscribers.keys()) send(other, { leave: { channel: name, client: clientIds.get(socket), info } });
  }

  wss.on('connection', (socket: WebSocket) => {
    clientIds.set(socket, `c-${randomBytes(6).toString('base64url')}`);
    subscriptionsOf.set(socket, new Set());
    socket.on('message', (data, isBinary) => {
      if (isBinary) return socket.close(1003, 'binary');
      let command: Record<string, unknown>;
      try {
        command = JSON.parse(data.toString());
      } catch {
        return send(socket, { error: { code: 'bad_request', message: 'not JSON' } });
      }
      commands.push(command);
      const { id, ...rest } = command;
      const names = Object.keys(rest);
      if (!Number.isSafeInteger(id) || (id as number) < 1 || names.length !== 1) {
        return send(socket, { error: { code: 'bad_request', message: 'a command has an id and one key' } });
      }
      send(socket, handle(socket, id as number, names[0], (rest[names[0]] ?? {}) as Record<string, unknown>));
    });
    socket.on('close', () => {
      for (const name of [...(subscriptionsOf.get(socket) ?? [])]) leave(socket, name);
      subscriptionsOf.delete(socket);
      clientIds.delete(socket);
    });
  });

  const port = (wss.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/pubsub`,
    commands,
    get connections() {
      return wss.clients.size;
    },
    publish(channel, text) {
      const publication = append(channel, { text });
      return { offset: publication.offset, epoch: channelOf(channel).epoch };
    },
    pushToAll(text) {
      for (const socket of wss.clients) send(socket, { pub: { text } });
    },
    forgetChannels() {
      for (const [name, channel] of channels) {
        channels.delete(name);
        // Subscribers stay subscribed to a channel that starts again (as after a restart they would resubscribe).
        if (channel.subscribers.size > 0) channels.set(name, { epoch: newEpoch(), offset: 0, history: [], subscribers: channel.subscribers });
      }
    },
    get unavailable() {
      return state.unavailable;
    },
    set unavailable(value: boolean) {
      state.unavailable = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of wss.clients) socket.terminate();
        wss.close(() => resolve());
      }),
  };
}
