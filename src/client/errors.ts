/**
 * Why a client connection failed, as a value with a stable code: what an 'error' event carries
 * (`event.error`), for programs that need more than the browser's bare "error".
 */

/** A stable, machine-readable name for each way a connection can fail. */
export type WebSocketErrorCode =
  /** TCP or TLS could not be set up (refused, reset, DNS, certificate): `cause` is Node's error. */
  | 'CONNECT_FAILED'
  /** No 101 answer within `handshakeTimeout`. */
  | 'HANDSHAKE_TIMEOUT'
  /** The server answered with another status than 101 (`status`), e.g. 401 or 404 (RFC 6455 4.1). */
  | 'UNEXPECTED_STATUS'
  /** A 3xx answer while `followRedirects` is off (the default), or one that may not be followed. */
  | 'REDIRECT_REFUSED'
  /** More redirects than `maxRedirects`. */
  | 'TOO_MANY_REDIRECTS'
  /** A 101 answer the client MUST refuse (RFC 6455 4.1): a wrong Sec-WebSocket-Accept, an extension or subprotocol not offered, a malformed head. */
  | 'INVALID_HANDSHAKE'
  /** The server broke RFC 6455 or RFC 7692 after the handshake; `closeCode` is what the client closed with. */
  | 'PROTOCOL_ERROR'
  /** `close()` was called before the connection opened. */
  | 'CLOSED_BEFORE_OPEN';

/** The error of a failed connection. */
export class WebSocketError extends Error {
  override readonly name = 'WebSocketError';
  readonly code: WebSocketErrorCode;
  /** The HTTP status, for UNEXPECTED_STATUS and the redirect codes. */
  readonly status: number | undefined;
  /** The close code sent to the server, for PROTOCOL_ERROR (RFC 6455 7.4.1: 1002, 1007, 1009, ...). */
  readonly closeCode: number | undefined;

  constructor(code: WebSocketErrorCode, message: string, details: { status?: number; closeCode?: number; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.closeCode = details.closeCode;
  }
}
