/**
 * The well-behaved neighbour: a process of its own, a `ws` client on the server's echo
 * endpoint that sends a 32-byte text message every 20 ms while an attack runs, and times each
 * echo. Each message carries its sequence number, so an echo that comes back wrong, out of
 * order or not at all counts as lost. One connection per attack: `start`, then `stop`, which
 * is answered with the report.
 */
import WebSocket from 'ws';
import { Histogram } from '../stats.js';
import { NEIGHBOUR_INTERVAL_MS, NEIGHBOUR_MESSAGE_BYTES, type NeighbourCommand, type NeighbourMessage, type NeighbourReport } from './plan.js';

const STALL_MS = 500;

function send(message: NeighbourMessage): void {
  process.send?.(message);
}

/** One connection's run. */
class Run {
  private readonly histogram = new Histogram();
  /** Send times of the messages not echoed yet, by sequence number. */
  private readonly pending = new Map<number, number>();
  private next = 0;
  private expected = 0;
  private wrong = 0;
  private maxMs = 0;
  private stalls = 0;
  private closedWith: number | undefined;
  private error: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly client: WebSocket) {
    client.on('message', (data: Buffer) => this.echoed(data));
    client.on('close', (code: number) => {
      this.closedWith = code;
    });
    client.on('error', (error: Error) => {
      this.error ??= error.message;
    });
    this.timer = setInterval(() => this.tick(), NEIGHBOUR_INTERVAL_MS);
  }

  private tick(): void {
    if (this.client.readyState !== WebSocket.OPEN) return;
    const sequence = this.next++;
    this.pending.set(sequence, performance.now());
    this.client.send(String(sequence).padStart(NEIGHBOUR_MESSAGE_BYTES, '0'));
  }

  private echoed(data: Buffer): void {
    const sequence = Number(data.toString());
    const sentAt = this.pending.get(sequence);
    // Intact and the next one expected; anything else is data lost.
    if (data.length !== NEIGHBOUR_MESSAGE_BYTES || sentAt === undefined || sequence !== this.expected) {
      this.wrong++;
      return;
    }
    this.expected++;
    this.pending.delete(sequence);
    const ms = performance.now() - sentAt;
    this.histogram.recordMs(ms);
    this.maxMs = Math.max(this.maxMs, ms);
    if (ms > STALL_MS) this.stalls++;
  }

  async stop(lossWaitMs: number): Promise<NeighbourReport> {
    clearInterval(this.timer);
    const deadline = Date.now() + lossWaitMs;
    while (this.pending.size > 0 && this.client.readyState === WebSocket.OPEN && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const now = performance.now();
    for (const sentAt of this.pending.values()) this.maxMs = Math.max(this.maxMs, now - sentAt);
    this.client.close();
    return {
      sent: this.next,
      received: this.histogram.count,
      lost: this.pending.size + this.wrong,
      p50Ms: this.histogram.quantileMs(0.5),
      p99Ms: this.histogram.quantileMs(0.99),
      maxMs: this.maxMs,
      stalls: this.stalls + [...this.pending.values()].filter((sentAt) => now - sentAt > STALL_MS).length,
      closedWith: this.closedWith,
      error: this.error,
    };
  }
}

let run: Run | undefined;

if (process.send === undefined) {
  process.stderr.write('bench/abuse/neighbour: run me from bench/abuse/run.js (I take commands over IPC)\n');
  process.exit(2);
}

process.on('message', (command: NeighbourCommand) => {
  if (command.type === 'start') {
    const client = new WebSocket(command.url, { perMessageDeflate: false });
    client.once('open', () => {
      run = new Run(client);
      send({ type: 'started' });
    });
    client.once('error', (error) => {
      if (run === undefined) send({ type: 'error', message: `neighbour could not connect: ${error.message}` });
    });
    return;
  }
  const current = run;
  run = undefined;
  if (current === undefined) return send({ type: 'error', message: 'stop without a run' });
  current.stop(command.lossWaitMs).then((report) => send({ type: 'report', report }));
});
process.on('disconnect', () => process.exit(0));
