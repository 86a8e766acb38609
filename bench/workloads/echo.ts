/**
 * Echo workloads, load generator side: `connections` connections, each with `inflight`
 * messages outstanding. Every echo that comes back is counted, its declared length checked
 * (the payload is dropped unread), timed against its send (echo keeps order, so a FIFO of send
 * times per connection suffices) and replaced by a new message, so the pipeline stays full.
 * Replies are batched per received chunk.
 */
import type { Socket } from 'node:net';
import type { FrameHandler, FrameHeader, ProtocolError } from '../../src/protocol/index.js';
import { buildFrameRing, connectTcp, connectWebSocket } from '../client.js';
import type { EchoJob, EchoResult } from '../jobs.js';
import { Histogram } from '../stats.js';
import { cpuSeconds, forEachLimited, sleep, type WorkloadEvents } from './events.js';

/** Distinct pre-masked frames in the send ring (see `buildFrameRing`), at most this many bytes. */
const RING_MAX_BYTES = 4 * 1024 * 1024;
const RING_MAX_FRAMES = 1024;
/** Handshakes in flight at once while connecting. */
const CONNECT_CONCURRENCY = 64;
/** A text payload of `length` printable ASCII bytes. */
function textPayload(length: number): Buffer {
  const payload = Buffer.alloc(length);
  for (let i = 0; i < length; i++) payload[i] = 0x61 + (i % 26);
  return payload;
}

/** What every connection of one job shares: the counters and the send ring. */
class EchoTotals {
  completed = 0;
  wrongSize = 0;
  running = true;
  readonly latency = new Histogram();
  constructor(
    readonly ring: Buffer,
    readonly ringFrames: number,
    readonly frameBytes: number,
  ) {}
}

/** One connection's pipeline. */
class EchoStream implements FrameHandler {
  socket: Socket | undefined;
  private readonly sentAt: Float64Array;
  private sentHead = 0;
  private sentCount = 0;
  private toSend = 0;
  private ringIndex: number;
  /** Raw TCP: bytes of a message received so far. */
  private partialBytes = 0;

  constructor(
    private readonly totals: EchoTotals,
    private readonly inflight: number,
    private readonly payloadBytes: number,
    start: number,
  ) {
    this.sentAt = new Float64Array(inflight);
    this.ringIndex = start % totals.ringFrames;
  }

  start(): void {
    this.toSend = this.inflight;
    this.flush();
  }

  /** FrameHandler: one echoed frame, its payload dropped unread (only its length is checked). */
  onFrame(header: FrameHeader): void {
    if (header.payloadLength !== this.payloadBytes) this.totals.wrongSize++;
    this.completeOne(performance.now());
  }

  onFrameError(error: ProtocolError): void {
    throw new Error(`server sent a bad frame: ${error.reason}`);
  }

  /** Raw TCP: count whole messages' worth of bytes. */
  onTcpData(chunk: Buffer): void {
    const now = performance.now();
    let bytes = this.partialBytes + chunk.length;
    while (bytes >= this.payloadBytes) {
      bytes -= this.payloadBytes;
      this.completeOne(now);
    }
    this.partialBytes = bytes;
    this.flush();
  }

  private completeOne(now: number): void {
    const totals = this.totals;
    totals.completed++;
    totals.latency.recordMs(now - this.sentAt[this.sentHead]);
    this.sentHead = (this.sentHead + 1) % this.inflight;
    this.sentCount--;
    this.toSend++;
  }

  /** Sends the replacements for what came back in this chunk, as few writes as the ring allows. */
  flush(): void {
    const totals = this.totals;
    if (!totals.running || this.toSend === 0 || this.socket === undefined) return;
    const now = performance.now();
    let count = this.toSend;
    this.toSend = 0;
    while (count > 0) {
      const frames = Math.min(count, totals.ringFrames - this.ringIndex);
      const start = this.ringIndex * totals.frameBytes;
      this.socket.write(totals.ring.subarray(start, start + frames * totals.frameBytes));
      for (let i = 0; i < frames; i++) {
        this.sentAt[(this.sentHead + this.sentCount) % this.inflight] = now;
        this.sentCount++;
      }
      this.ringIndex = (this.ringIndex + frames) % totals.ringFrames;
      count -= frames;
    }
  }
}

export async function runEcho(job: EchoJob, events: WorkloadEvents): Promise<EchoResult> {
  const payload = job.binary ? Buffer.alloc(job.payloadBytes, 0x5a) : textPayload(job.payloadBytes);
  const ringFrames = Math.max(1, Math.min(RING_MAX_FRAMES, Math.floor(RING_MAX_BYTES / (job.payloadBytes + 14))));
  let ring: Buffer;
  let frameBytes: number;
  if (job.transport === 'websocket') {
    ({ ring, frameBytes } = buildFrameRing(payload, job.binary, ringFrames));
  } else {
    ring = Buffer.concat(Array.from({ length: ringFrames }, () => payload));
    frameBytes = job.payloadBytes;
  }
  const totals = new EchoTotals(ring, ringFrames, frameBytes);
  const streams: EchoStream[] = [];
  for (let i = 0; i < job.connections; i++) streams.push(new EchoStream(totals, job.inflight, job.payloadBytes, i * 7));

  await forEachLimited(job.connections, CONNECT_CONCURRENCY, async (i) => {
    const stream = streams[i];
    if (job.transport === 'websocket') {
      // Echoes are counted and sized, never read: gathering 64 KiB payloads took about 30 % of
      // the load generator's busy time (--cpu-prof), which made it, as much as the server, the limit.
      stream.socket = await connectWebSocket(job.host, job.port, job.path, stream, () => stream.flush(), { discardDataPayloads: true });
    } else {
      const socket = await connectTcp(job.host, job.port);
      socket.on('data', (chunk: Buffer) => stream.onTcpData(chunk));
      stream.socket = socket;
    }
    stream.socket.on('error', () => {
      totals.running = false;
    });
  });
  for (const stream of streams) stream.start();

  await sleep(job.warmupMs);
  totals.completed = 0;
  totals.latency.reset();
  const cpuStart = cpuSeconds();
  const wallStart = performance.now();
  events.measureStart();
  await sleep(job.measureMs);
  events.measureEnd();
  const seconds = (performance.now() - wallStart) / 1000;
  const cpu = cpuSeconds() - cpuStart;
  const messages = totals.completed;
  const p50Ms = totals.latency.quantileMs(0.5);
  const p99Ms = totals.latency.quantileMs(0.99);
  totals.running = false;
  for (const stream of streams) stream.socket?.destroy();
  if (totals.wrongSize > 0) throw new Error(`${totals.wrongSize} echoed messages had the wrong size`);
  if (messages === 0) throw new Error('no message came back during the measured window');
  return {
    kind: 'echo',
    messages,
    seconds,
    messagesPerSecond: messages / seconds,
    megabytesPerSecond: (messages * job.payloadBytes) / seconds / 1e6,
    p50Ms,
    p99Ms,
    loadgenCpu: cpu / seconds,
  };
}
