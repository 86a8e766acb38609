/**
 * Test helpers that speak HTTP and WebSocket by hand over `node:net`, to send what no
 * well-behaved client would: bad handshakes, unmasked frames, lying lengths, garbage.
 *
 * Frames are built and read here on their own (RFC 6455 5.2), not with src/protocol, so a bug
 * there cannot hide itself in the tests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEAD_END = '\r\n\r\n';

/** An HTTP response read off a raw socket. */
export interface RawResponse {
  status: number;
  /** Lower-cased header names. */
  headers: Map<string, string>;
  body: string;
}

/** Opens a TCP connection to 127.0.0.1:port. */
export function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function parseHead(text: string): { status: number; headers: Map<string, string> } {
  const lines = text.split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, headers };
}

/**
 * Sends `request` as-is and reads one response: up to its Content-Length, or until the server
 * closes the connection when it has none. A 101 answer resolves at the end of its head. The
 * socket is destroyed afterwards.
 */
export async function rawRequest(port: number, request: string | Buffer): Promise<RawResponse> {
  const socket = await rawConnect(port);
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let settled = false;
    /** Resolves when a complete response is in `received`; `atClose` accepts a body cut by the close. */
    const tryResolve = (atClose: boolean): void => {
      if (settled) return;
      const end = received.indexOf(HEAD_END);
      if (end === -1) {
        if (atClose) {
          settled = true;
          reject(new Error(`no complete response head in ${JSON.stringify(received.toString('latin1', 0, 200))}`));
        }
        return;
      }
      const { status, headers } = parseHead(received.toString('latin1', 0, end));
      const body = received.subarray(end + HEAD_END.length);
      const declared = headers.get('content-length');
      const chunked = headers.get('transfer-encoding')?.toLowerCase() === 'chunked';
      const decoded = chunked ? decodeChunked(body) : undefined;
      const complete = status === 101 || (declared !== undefined && body.length >= Number(declared)) || decoded !== undefined;
      if (!complete && !atClose) return;
      settled = true;
      socket.destroy();
      resolve({ status, headers, body: (decoded ?? body).toString('utf8') });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      tryResolve(false);
    });
    socket.once('error', (error) => {
      if (!settled) reject(error);
    });
    socket.once('close', () => tryResolve(true));
    socket.write(request);
  });
}

/** The body of a complete chunked transfer coding (RFC 9112 7.1), or undefined while incomplete. */
function decodeChunked(bytes: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', offset);
    if (lineEnd === -1) return undefined;
    const size = parseInt(bytes.toString('latin1', offset, lineEnd), 16);
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (bytes.length < start + size + 2) return undefined;
    parts.push(bytes.subarray(start, start + size));
    offset = start + size + 2;
  }
}

/** A valid upgrade request for `path`, with header lines overridden (`undefined` drops one). */
export function upgradeRequest(
  port: number,
  path: string,
  overrides: Record<string, string | undefined> = {},
  method = 'GET',
): string {
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...overrides,
  };
  let text = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) text += `${name}: ${value}\r\n`;
  return text + '\r\n';
}

/** A frame the server sent, as read by `RawWebSocket`. */
export interface ServerFrame {
  fin: boolean;
  /** RSV1: set on the first frame of a compressed message (RFC 7692 6.1). */
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/** Close code and reason of a Close frame's payload (RFC 6455 5.5.1); code 1005 when empty. */
export function closePayload(payload: Buffer): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/**
 * A client frame, masked as RFC 6455 5.3 requires unless `mask: false`. `length` overrides the
 * declared payload length (to lie about it); `rsv` sets RSV bits in the first byte.
 */
export function clientFrame(
  opcode: number,
  payload: Buffer | string = Buffer.alloc(0),
  options: { fin?: boolean; mask?: boolean; length?: bigint; rsv?: number } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = options.mask ?? true;
  const declared = options.length ?? BigInt(data.length);
  const first = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv ?? 0) | opcode;
  let lengthBytes: Buffer;
  if (declared <= 125n) lengthBytes = Buffer.from([Number(declared)]);
  else if (declared <= 0xffffn) {
    lengthBytes = Buffer.alloc(3);
    lengthBytes[0] = 126;
    lengthBytes.writeUInt16BE(Number(declared), 1);
  } else {
    lengthBytes = Buffer.alloc(9);
    lengthBytes[0] = 127;
    lengthBytes.writeBigUInt64BE(declared, 1);
  }
  if (mask) lengthBytes[0] |= 0x80;
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(data);
  if (mask) for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
  return Buffer.concat([Buffer.from([first]), lengthBytes, key, body]);
}

/**
 * A WebSocket client on a raw socket: it does the handshake, then lets the test write any
 * bytes and read the server's frames one by one. It never answers pings or closes by itself.
 */
export class RawWebSocket<S extends Duplex = Socket> {
  /** The TCP socket, or the HTTP/2 stream of an RFC 8441 WebSocket (see `fromStream`). */
  readonly socket: S;
  /** Every frame received so far, in order. */
  readonly frames: ServerFrame[] = [];
  /** Resolves when the TCP connection is closed (by either side). */
  readonly closedPromise: Promise<void>;
  /** True once the server ended its side (FIN) or the socket closed. */
  ended = false;
  private buffer: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  /** Reads frames from a stream already past its handshake (an HTTP/2 stream after the 200 of RFC 8441). */
  static fromStream<T extends Duplex>(stream: T): RawWebSocket<T> {
    return new RawWebSocket(stream, Buffer.alloc(0));
  }

  private constructor(socket: S, leftover: Buffer) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {
      // ECONNRESET when the server destroys the socket: 'close' follows.
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.wake();
      resolve();
    }));
    if (leftover.length > 0) this.onData(leftover);
  }

  /** Connects, sends a valid upgrade request and waits for the 101. */
  static async open(port: number, path = '/ws', headers: Record<string, string | undefined> = {}): Promise<RawWebSocket> {
    const socket = await rawConnect(port);
    const key = randomBytes(16).toString('base64');
    socket.write(upgradeRequest(port, path, { 'Sec-WebSocket-Key': key, ...headers }));
    const { head, rest } = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
      let received = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf(HEAD_END);
        if (end === -1) return;
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve({ head: received.subarray(0, end).toString('latin1'), rest: received.subarray(end + HEAD_END.length) });
      };
      const onClose = (): void => reject(new Error('closed during the handshake'));
      socket.on('data', onData);
      socket.once('close', onClose);
    });
    const { status, headers: responseHeaders } = parseHead(head);
    const expected = createHash('sha1').update(key + GUID).digest('base64');
    if (status !== 101 || responseHeaders.get('sec-websocket-accept') !== expected) {
      socket.destroy();
      throw new Error(`handshake failed: ${head.split('\r\n')[0]}`);
    }
    return new RawWebSocket(socket, rest);
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits until at least `count` frames have arrived (or the connection ended) and returns them all. */
  async waitForFrames(count: number, timeoutMs = 5_000): Promise<ServerFrame[]> {
    await this.waitFor(() => this.frames.length >= count || this.ended, timeoutMs);
    return this.frames;
  }

  /** Waits for a Close frame; resolves with its code and reason. */
  async waitForClose(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    await this.waitFor(() => this.frames.some((frame) => frame.opcode === 0x8) || this.ended, timeoutMs);
    // A Close frame written just before FIN arrives in the same read or one before it.
    const frame = this.frames.find((candidate) => candidate.opcode === 0x8);
    if (frame === undefined) throw new Error('connection ended without a Close frame');
    return closePayload(frame.payload);
  }

  /** Waits for the TCP connection to close, failing after `timeoutMs`. */
  async waitForSocketClose(timeoutMs = 5_000): Promise<void> {
    await this.waitFor(() => this.socket.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        reject(new Error(`timed out after ${timeoutMs} ms (frames: ${this.frames.map((f) => f.opcode).join(',')})`));
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Reads server frames (never masked, RFC 6455 5.1) out of the received bytes. */
  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) break;
      const first = this.buffer[0];
      const second = this.buffer[1];
      if ((second & 0x80) !== 0) throw new Error('server sent a masked frame');
      let length = second & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) break;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) break;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) break;
      this.frames.push({
        fin: (first & 0x80) !== 0,
        rsv1: (first & 0x40) !== 0,
        opcode: first & 0x0f,
        payload: Buffer.from(this.buffer.subarray(offset, offset + length)),
      });
      this.buffer = this.buffer.subarray(offset + length);
    }
    this.wake();
  }
}
