/**
 * framecast's client side, `import ... from 'framecast/client'`: a WebSocket for Node with the
 * browser's API, on the protocol core in the client role.
 */
export { type BinaryType, type PerMessageDeflateOptions, WebSocket, type WebSocketOptions } from './websocket.js';
export { CloseEvent, type CloseEventInit, ErrorEvent } from './events.js';
export { WebSocketError, type WebSocketErrorCode } from './errors.js';
export { ClientDefaults } from './config.js';
