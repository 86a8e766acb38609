/**
 * framecast as a library: the WebSocket server pieces, the whole service, and the protocol core.
 */
export { createFramecast, type Framecast, type FramecastOptions } from './server/app.js';
export { ServerDefaults } from './server/config.js';
export {
  type ConnectionOptions,
  type PreparedMessage,
  prepareMessage,
  ReadyState,
  WebSocketConnection,
} from './server/websocket/connection.js';
export { type Hub, InProcessHub, LocalChannels } from './server/hub/hub.js';
export { createLogger, type Logger, type LogLevel } from './server/log.js';
export { Metrics } from './server/metrics.js';
export { isOriginAllowed } from './server/websocket/origin.js';
export { type AuthenticationResult, WebSocketServer, type WebSocketServerOptions } from './server/websocket/websocket-server.js';
export * as protocol from './protocol/index.js';
