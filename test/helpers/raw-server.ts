/**
 * A WebSocket server spoken by hand over `node:net`, for testing clients: it reads the client's
 * request, answers however a test wants (a valid 101, a wrong key, a redirect, nothing), writes
 * server frames it builds itself, and reads the client's frames with their masking keys.
 *
 * Frames and the handshake are built and read here on their own (RFC 6455 4.2.2, 5.2), not with
 * src/protocol, so a bug there cannot hide itself in the tests.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEAD_END = '\r\n\r\n';

/** Sec-WebSocket-Accept for a key (RFC 6455 4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** The client's request as the server read it. */
export interface RawRequest {
  method: string;
  /** The request target, e.g. `/chat?room=1`. */
  path: string;
  httpVersion: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Names as sent, in order. */
  rawNames: string[];
}

/** A frame from the client, unmasked. */
export interface ClientFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** The masking key (4 bytes), when masked. */
  maskKey: Buffer | undefined;
  payload: Buffer;
}

/** One client connection to a raw server. */
export class RawPeer {
  readonly frames: ClientFrame[] = [];
  /** Set once the client half-closed (FIN) or the socket closed. */
  clientEnded = false;
  closed = false;
  private buffer: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  constructor(
    readonly socket: Socket,
    readonly request: RawRequest,
    rest: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.clientEnded = true;
      this.wake();
    });
    socket.on('close', () => {
      this.clientEnded = true;
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
    if (rest.length > 0) this.onData(rest);
  }

  /** The request's Sec-WebSocket-Key. */
  get key(): string {
    return this.request.headers.get('sec-websocket-key') ?? '';
  }

  /** Writes the 101 answer, with `extraLines` (e.g. `Sec-WebSocket-Protocol: chat`) and an accept key (the right one by default). */
  accept(extraLines: readonly string[] = [], accept = acceptKey(this.key)): void {
    this.socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`, ...extraLines].join('\r\n') + HEAD_END);
  }

  write(bytes: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** A server frame: unmasked unless `mask` (which servers must not do). */
  frame(opcode: number, payload: string | Buffer = Buffer.alloc(0), options: { fin?: boolean; rsv?: number; mask?: boolean } = {}): Buffer {
    const body = Buffer.from(payload);
    const length = body.length;
    const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
    const header = Buffer.alloc(2 + lengthBytes + (options.mask ? 4 : 0));
    header[0] = (options.fin === false ? 0 : 0x80) | ((options.rsv ?? 0) << 4) | opcode;
    const maskBit = options.mask ? 0x80 : 0;
    if (lengthBytes === 0) header[1] = maskBit | length;
    else if (lengthBytes === 2) {
      header[1] = maskBit | 126;
      header.writeUInt16BE(length, 2);
    } else {
      header[1] = maskBit | 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    if (options.mask) {
      const key = Buffer.from([1, 2, 3, 4]);
      key.copy(header, 2 + lengthBytes);
      for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
    }
    return Buffer.concat([header, body]);
  }

  /** Writes a server frame. */
  send(opcode: number, payload: string | Buffer = Buffer.alloc(0), options: { fin?: boolean; rsv?: number; mask?: boolean } = {}): void {
    this.write(this.frame(opcode, payload, options));
  }

  /** A Close frame's payload: the code, then the reason. */
  static closePayload(code: number, reason = ''): Buffer {
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    return payload;
  }

  /** Resolves with the `index`-th frame from the client (0-based), or rejects after `timeoutMs`. */
  async frameAt(index: number, timeoutMs = 2_000): Promise<ClientFrame> {
    await this.until(() => this.frames.length > index, timeoutMs, `frame ${index} from the client`);
    return this.frames[index];
  }

  /** Waits until `condition` holds, re-checked whenever something arrives; rejects after `timeoutMs`. */
  async until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Reads client frames (RFC 6455 5.2) as they complete. */
  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const bytes = this.buffer;
      if (bytes.length < 2) break;
      const masked = (bytes[1] & 0x80) !== 0;
      let length = bytes[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (bytes.length < 4) break;
        length = bytes.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (bytes.length < 10) break;
        length = Number(bytes.readBigUInt64BE(2));
        offset = 10;
      }
      const keyLength = masked ? 4 : 0;
      if (bytes.length < offset + keyLength + length) break;
      const maskKey = masked ? Buffer.from(bytes.subarray(offset, offset + 4)) : undefined;
      const payload = Buffer.from(bytes.subarray(offset + keyLength, offset + keyLength + length));
      if (maskKey !== undefined) for (let i = 0; i < payload.length; i++) payload[i] ^= maskKey[i & 3];
      this.frames.push({ fin: (bytes[0] & 0x80) !== 0, rsv: (bytes[0] >> 4) & 0x7, opcode: bytes[0] & 0x0f, masked, maskKey, payload });
      this.buffer = bytes.subarray(offset + keyLength + length);
    }
    this.wake();
  }
}

/** A raw server: `onPeer` gets each client once its request head has been read. */
export interface RawServer {
  readonly port: number;
  /** ws://127.0.0.1:PORT */
  readonly url: string;
  /** Every request head received, in order. */
  readonly requests: RawRequest[];
  close(): Promise<void>;
}

function parseRequest(head: string): RawRequest {
  const lines = head.split('\r\n');
  const [method, path, version] = lines[0].split(' ');
  const headers = new Map<string, string>();
  const rawNames: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    rawNames.push(name);
    const lower = name.toLowerCase();
    const previous = headers.get(lower);
    headers.set(lower, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { method, path, httpVersion: (version ?? '').replace('HTTP/', ''), headers, rawNames };
}

/** Starts a raw server on 127.0.0.1 and a free port. */
export async function startRawServer(onPeer: (peer: RawPeer) => void): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const requests: RawRequest[] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end === -1) return;
      socket.off('data', onData);
      const request = parseRequest(head.subarray(0, end).toString('latin1'));
      requests.push(request);
      onPeer(new RawPeer(socket, request, head.subarray(end + HEAD_END.length)));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
