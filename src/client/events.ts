/**
 * The events a WebSocket dispatches that Node 20 has no global class for: `CloseEvent` (a global
 * from Node 23) and `ErrorEvent`. Messages use Node's global `MessageEvent`.
 */
import type { WebSocketError } from './errors.js';

export interface CloseEventInit extends EventInit {
  code?: number;
  reason?: string;
  wasClean?: boolean;
}

/**
 * The 'close' event (WHATWG CloseEvent): the close code and reason the server's Close frame
 * carried (RFC 6455 7.1.5, 7.1.6), 1005 when it had none, 1006 when the connection ended
 * without one (or was failed); `wasClean` when the closing handshake completed before TCP closed.
 */
export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

/**
 * The 'error' event. Browsers dispatch a bare Event and say nothing more; this one also carries
 * the reason (`message`) and a `WebSocketError` with a stable code (`error`), as Node's own
 * WebSocket (undici) does with ErrorEvent.
 */
export class ErrorEvent extends Event {
  readonly message: string;
  readonly error: WebSocketError;

  constructor(type: string, error: WebSocketError) {
    super(type);
    this.message = error.message;
    this.error = error;
  }
}
