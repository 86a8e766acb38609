/**
 * `framecast/client`: the clients of framecast. One export line per piece, so that pieces
 * written apart merge as a union of lines.
 */
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
