/**
 * framecast's RFC 6455 core, sans-I/O: bytes in, frames, messages and errors out; no
 * sockets, timers or events. src/server wraps it around node:http; anyone can wrap it
 * around something else.
 *
 * Reading order for someone learning the protocol:
 * 1. handshake.ts: the opening handshake (RFC 6455 section 4).
 * 2. frame-parser.ts: the frame layout, byte by byte (5.2), with mask.ts (5.3).
 * 3. receiver.ts: fragmentation and control frames (5.4, 5.5), with utf8.ts (8.1) and close.ts (5.5.1, 7.4).
 * 4. frame-serializer.ts: the same frames, written (into memory from frame-buffer.ts, a matter
 *    of speed rather than of the RFC).
 */
export {
  CloseCode,
  FIN_BIT,
  isControlOpcode,
  LENGTH_16_MARKER,
  LENGTH_64_MARKER,
  MASK_BIT,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD,
  MAX_MESSAGE_SIZE_LIMIT,
  Opcode,
  OPCODE_MASK,
  PAYLOAD_LENGTH_MASK,
  ProtocolDefaults,
  RSV1_BIT,
  RSV2_BIT,
  RSV3_BIT,
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
} from './constants.js';
export { type ProtocolError, protocolError, type ViolationCode, ViolationCloseCode } from './errors.js';
export { applyMask, applyMaskReference } from './mask.js';
export { isValidUtf8, isValidUtf8Reference, Utf8Validator } from './utf8.js';
export { type CloseInfo, encodeClosePayload, isValidCloseCode, parseClosePayload, truncateUtf8 } from './close.js';
export {
  checkedMaxMessageSize,
  type FrameHandler,
  type FrameHeader,
  FrameParser,
  type FrameParserOptions,
  type Role,
} from './frame-parser.js';
export { Receiver, type ReceiverHandler, type ReceiverOptions } from './receiver.js';
export {
  encodeCloseFrame,
  encodeFragmentedMessage,
  encodeFrame,
  encodeFrameHeader,
  encodeTextFrame,
  type FrameOptions,
  frameHeaderLength,
} from './frame-serializer.js';
export { type ExtensionOffer, isToken, parseExtensionOffers, parseTokenList, tokenListIncludes, upgradeOffers } from './http-tokens.js';
export {
  type AcceptOptions,
  buildAcceptResponse,
  buildClientRequest,
  buildRejectResponse,
  type ClientRequestOptions,
  computeAcceptKey,
  generateClientKey,
  type HandshakeAccepted,
  type HandshakeRejected,
  type HandshakeResult,
  type ExtendedConnectResult,
  type NegotiatedOffers,
  validateExtendedConnect,
  verifyExtendedConnectResponse,
  type HeaderMap,
  headerMapFromRaw,
  isValidClientKey,
  MAX_RESPONSE_HEAD_BYTES,
  parseResponseHead,
  type ResponseHead,
  type ServerHandshake,
  type UpgradeRequest,
  validateUpgradeRequest,
  verifyServerResponse,
} from './handshake.js';
export { MessageDeflater, MessageInflater } from './message-compression.js';
export {
  acceptDeflateResponse,
  buildDeflateOffer,
  canDeflateWithWindow,
  DeflateDefaults,
  type DeflateOfferOptions,
  type DeflateParameters,
  type DeflateServerOptions,
  negotiateDeflate,
  PERMESSAGE_DEFLATE,
} from './permessage-deflate.js';
