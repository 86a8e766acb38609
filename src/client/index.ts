/**
 * `framecast/client`: the clients of framecast. One export line per piece, so that pieces
 * written apart merge as a union of lines: a WebSocket for Node with the browser's API, on the
 * protocol core in the client role, and FramecastClient, the framecast.v1 client (browsers and Node).
 */
export { type BinaryType, type PerMessageDeflateOptions, WebSocket, type WebSocketOptions } from './websocket.js';
export { CloseEvent, type CloseEventInit, ErrorEvent } from './events.js';
export { WebSocketError, type WebSocketErrorCode } from './errors.js';
export { ClientDefaults } from './config.js';
export { FramecastClient } from './framecast-client.js';
export type {
  ConnectionState,
  ConnectionStateEvent,
  FramecastClientOptions,
  FramecastEvents,
  History,
  HistoryOptions,
  Position,
  PresenceChangeEvent,
  PresenceEntry,
  Publication,
  PublicationEvent,
  Published,
  PushEvent,
  SubscribeOptions,
  Subscribed,
  SubscribedEvent,
  UnsubscribedEvent,
  WebSocketConstructor,
  WebSocketLike,
} from './framecast-client.js';
export { FramecastClientDefaults } from './framecast-defaults.js';
export { ClientErrorCode, FramecastError } from './framecast-error.js';
