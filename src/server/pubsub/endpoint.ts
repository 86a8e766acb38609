/**
 * The `/pubsub` endpoint: a WebSocketServer that accepts only the `framecast.v1` subprotocol
 * (RFC 6455 1.9, 4.2.2) and gives each connection a session (session.ts).
 */
import { randomBytes } from 'node:crypto';
import { PubSubDefaults, ServerDefaults } from '../config.js';
import type { WebSocketConnection } from '../websocket/connection.js';
import type { Hub } from '../hub/hub.js';
import { silentLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { isValidChannelName } from '../push.js';
import { WebSocketServer, type WebSocketServerOptions } from '../websocket/websocket-server.js';
import { PubSubSession, type SessionOptions } from './session.js';

/** What `/pubsub` may be told besides the WebSocket options. */
export interface PubSubOptions {
  /** Whether clients may publish (default true; false answers `permission_denied`). */
  clientPublish?: boolean;
  /** Most subscriptions per connection (default 128). */
  maxSubscriptions?: number;
}

/** Random bytes in a client id: 72 bits, so ids do not collide across nodes either. */
const CLIENT_ID_BYTES = 9;

/** A new client id, e.g. `c-7GfT2pQr9WbZ`. */
function newClientId(): string {
  return `c-${randomBytes(CLIENT_ID_BYTES).toString('base64url')}`;
}

const sessions = new WeakMap<WebSocketConnection, PubSubSession>();

/** One listener for all connections, rather than a closure each. */
function onMessage(this: WebSocketConnection, data: Buffer, isBinary: boolean): void {
  sessions.get(this)?.receive(data, isBinary);
}

function onClose(this: WebSocketConnection): void {
  sessions.get(this)?.closed();
  sessions.delete(this);
}

/** Builds the framecast.v1 WebSocketServer; attach it where it should answer (`/pubsub`). */
export function createPubSubServer(hub: Hub, websocket: WebSocketServerOptions, options: PubSubOptions = {}): WebSocketServer {
  const server = new WebSocketServer({ ...websocket, protocols: [PubSubDefaults.subprotocol], requireProtocol: true });
  const sessionOptions: SessionOptions = {
    hub,
    wire: { maxChannelNameLength: ServerDefaults.maxChannelNameLength, maxPresenceInfoBytes: PubSubDefaults.maxPresenceInfoBytes, isValidChannelName },
    clientPublish: options.clientPublish ?? PubSubDefaults.clientPublish,
    maxSubscriptions: options.maxSubscriptions ?? PubSubDefaults.maxSubscriptionsPerConnection,
    maxConsecutiveBadRequests: PubSubDefaults.maxConsecutiveBadRequests,
    maxPendingPushes: PubSubDefaults.maxPendingPushes,
    metrics: websocket.metrics ?? new Metrics(),
    logger: websocket.logger ?? silentLogger,
  };
  server.on('connection', (connection: WebSocketConnection) => {
    sessions.set(connection, new PubSubSession(connection, newClientId(), sessionOptions));
    connection.on('message', onMessage);
    connection.on('close', onClose);
  });
  return server;
}
