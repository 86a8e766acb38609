/**
 * The attackers' connections, and what they got back. A WebSocket attacker opens with the
 * load generator's client (bench/client.ts: framecast's protocol core in the client role) and
 * watches the server's frames for a Close; an HTTP attacker reads the status line of whatever
 * answer comes. Each connection ends up with one verdict (see `AttackOutcome.tally`).
 */
import { connect, type Socket } from 'node:net';
import { type FrameHandler, type FrameHeader, Opcode, parseClosePayload, type ProtocolError } from '../../src/protocol/index.js';
import { connectWebSocket } from '../client.js';
import type { AttackOutcome } from './plan.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `condition` holds or `deadline` (a Date.now() value) passes; polls every few ms. */
export async function until(condition: () => boolean, deadline: number): Promise<void> {
  const POLL_MS = 10;
  while (!condition() && Date.now() < deadline) await sleep(POLL_MS);
}

/** Watches one connection for the server's answer: a Close frame, an HTTP status, or the TCP close. */
export class Watch {
  readonly startedAt = Date.now();
  answeredAt: number | undefined;
  closeCode: number | undefined;
  status: number | undefined;
  tcpClosed = false;
  reset = false;
  /** The connection never opened (refused, or the handshake failed). */
  refused = false;
  /** Payload bytes of data frames received (discarded). */
  dataBytes = 0;
  /** The attacker closed the connection itself (see `close`): its end is no answer of the server's. */
  private closedByUs = false;

  /** The one verdict of this connection, as `AttackOutcome.tally` names them. */
  verdict(): string {
    if (this.refused) return this.status === undefined ? 'refused' : `HTTP ${this.status}`;
    if (this.closeCode !== undefined) return `close ${this.closeCode}`;
    if (this.status !== undefined) return `HTTP ${this.status}`;
    if (this.tcpClosed) return this.reset ? 'reset' : 'dropped';
    return 'open';
  }

  get answered(): boolean {
    return this.closeCode !== undefined || this.status !== undefined || this.tcpClosed;
  }

  answer(): void {
    this.answeredAt ??= Date.now();
  }

  /** Follows the TCP connection's end. */
  follow(socket: Socket): void {
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') this.reset = true;
    });
    socket.on('close', () => {
      if (this.closedByUs) return;
      this.tcpClosed = true;
      this.answer();
    });
  }

  /** The attacker is done with the connection: destroys it, which is not the server's answer. */
  close(socket: Socket | undefined): void {
    this.closedByUs = true;
    socket?.destroy();
  }

  /** A frame handler that records the first Close frame and discards the rest. */
  frameHandler(): FrameHandler {
    return {
      onFrame: (header: FrameHeader, payload: Buffer): void => {
        if (header.opcode === Opcode.Close && this.closeCode === undefined) {
          const info = parseClosePayload(payload);
          this.closeCode = 'closeCode' in info ? -1 : info.code;
          this.answer();
        } else if (header.opcode < Opcode.Close) {
          this.dataBytes += header.payloadLength;
        }
      },
      onFrameError: (error: ProtocolError): void => {
        // The server sent something no client may accept: say so in the verdict.
        this.closeCode ??= -error.closeCode;
        this.answer();
      },
    };
  }
}

/**
 * Opens a WebSocket to `path` whose frames `watch` reads (data payloads discarded). Resolves
 * with the socket, or undefined when the connection or its handshake failed (`watch.refused`).
 */
export async function openWatched(host: string, port: number, path: string, watch: Watch, deflate = false): Promise<Socket | undefined> {
  try {
    const socket = await connectWebSocket(host, port, path, watch.frameHandler(), undefined, {
      discardDataPayloads: true,
      onDeflate: deflate ? (): void => undefined : undefined,
    });
    watch.follow(socket);
    return socket;
  } catch {
    watch.refused = true;
    watch.answer();
    return undefined;
  }
}

/** Opens a TCP connection and records the status line of any HTTP answer in `watch`. */
export function openHttp(host: string, port: number, watch: Watch): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, noDelay: true });
    let head = '';
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => {
      if (socket.connecting) {
        watch.refused = true;
        watch.answer();
        resolve(undefined);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      if (watch.status !== undefined) return;
      head += chunk.toString('latin1', 0, Math.min(chunk.length, STATUS_LINE_BYTES));
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (match !== null) {
        watch.status = Number(match[1]);
        watch.answer();
      }
    });
    watch.follow(socket);
  });
}

const STATUS_LINE_BYTES = 64;

/** Sums verdicts and answer times of the watches into an outcome. */
export function outcomeOf(watches: readonly Watch[], detail: string, verdict: (watch: Watch) => string = (watch) => watch.verdict()): AttackOutcome {
  const tally: Record<string, number> = {};
  for (const watch of watches) {
    const key = verdict(watch);
    tally[key] = (tally[key] ?? 0) + 1;
  }
  const times = watches
    .filter((watch) => watch.answeredAt !== undefined)
    .map((watch) => (watch.answeredAt as number) - watch.startedAt)
    .sort((a, b) => a - b);
  const answerMs = times.length === 0 ? undefined : { median: times[times.length >> 1], max: times[times.length - 1] };
  return { tally, answerMs, detail };
}

/** Writes `bytes`, waiting for 'drain' when the socket's buffer is full; false once the socket is gone or `deadline` passed. */
export async function writeWithBackpressure(socket: Socket, bytes: Uint8Array, deadline: number): Promise<boolean> {
  if (socket.destroyed || !socket.writable) return false;
  if (socket.write(bytes)) return true;
  while (socket.writableNeedDrain && !socket.destroyed && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, Math.min(DRAIN_POLL_MS, deadline - Date.now())));
      socket.once('drain', done);
      socket.once('close', done);
    });
  }
  return !socket.destroyed && Date.now() < deadline;
}

const DRAIN_POLL_MS = 100;

/** Closes every socket at the end of an attack (`watches[i]` watches `sockets[i]`). */
export function closeAll(watches: readonly Watch[], sockets: readonly (Socket | undefined)[]): void {
  sockets.forEach((socket, i) => watches[i].close(socket));
}
