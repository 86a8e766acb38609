/**
 * Protocol errors as values. Every way a peer can break RFC 6455 has a stable string code,
 * and one table maps it to the close status that "fails the WebSocket connection"
 * (RFC 6455 7.1.7) with. Nothing in src/protocol throws on bad network input; it returns
 * or reports one of these instead.
 *
 * RFC 6455 sections: 7.1.7 (failing the connection), 7.4.1 (which status means what).
 */
import { CloseCode } from './constants.js';

/** The one table: each violation and the close code it fails the connection with. */
export const ViolationCloseCode = {
  // RFC 6455 7.4.1: 1002 "indicates that an endpoint is terminating the connection due to a protocol error".
  RESERVED_BITS_SET: CloseCode.ProtocolError,
  RESERVED_OPCODE: CloseCode.ProtocolError,
  CONTROL_FRAME_FRAGMENTED: CloseCode.ProtocolError,
  CONTROL_FRAME_TOO_LONG: CloseCode.ProtocolError,
  UNMASKED_CLIENT_FRAME: CloseCode.ProtocolError,
  MASKED_SERVER_FRAME: CloseCode.ProtocolError,
  LENGTH_TOP_BIT_SET: CloseCode.ProtocolError,
  UNEXPECTED_CONTINUATION: CloseCode.ProtocolError,
  EXPECTED_CONTINUATION: CloseCode.ProtocolError,
  CLOSE_PAYLOAD_ONE_BYTE: CloseCode.ProtocolError,
  INVALID_CLOSE_CODE: CloseCode.ProtocolError,
  // RFC 6455 7.4.1: 1007 "data within a message that was not consistent with the type of the message".
  INVALID_UTF8: CloseCode.InvalidPayload,
  INVALID_CLOSE_REASON_UTF8: CloseCode.InvalidPayload,
  INVALID_COMPRESSED_DATA: CloseCode.InvalidPayload,
  // RFC 6455 7.4.1: 1008 a message "that violates its policy".
  POLICY_VIOLATION: CloseCode.PolicyViolation,
  // Pings sent on and on while the peer does not read the Pongs (a receiver's policy, RFC 6455 5.5.3).
  PING_FLOOD: CloseCode.PolicyViolation,
  // RFC 6455 7.4.1: 1009 "a message that is too big for it to process".
  MESSAGE_TOO_BIG: CloseCode.MessageTooBig,
  // A message in more frames than the receiver processes (ProtocolDefaults.maxFragmentsPerMessage):
  // too big in frames rather than in bytes, and the sender can fix it the same way (fewer,
  // larger fragments), so the same 1009. 1008 would say "your behaviour", not "this message".
  TOO_MANY_FRAGMENTS: CloseCode.MessageTooBig,
  // RFC 6455 7.4.1: 1011 "an unexpected condition that prevented it from fulfilling the request".
  INTERNAL_ERROR: CloseCode.InternalError,
} as const;

/** A stable, machine-readable name for a protocol violation, e.g. `INVALID_UTF8`. */
export type ViolationCode = keyof typeof ViolationCloseCode;

/** A protocol violation: what went wrong, the close code to fail with, and a reason for people. */
export interface ProtocolError {
  readonly code: ViolationCode;
  readonly closeCode: number;
  readonly reason: string;
}

/** Builds the error value for a violation, looking its close code up in the one table. */
export function protocolError(code: ViolationCode, reason: string): ProtocolError {
  return { code, closeCode: ViolationCloseCode[code], reason };
}
