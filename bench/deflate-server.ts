/**
 * The server side of bench/deflate.ts: one framecast service on 127.0.0.1 and a free port,
 * with the permessage-deflate policy named on the command line, run in a child process so its
 * CPU time and memory are its own. It talks to its parent over the IPC channel:
 *
 * - sends `{ type: 'listening', port }` once it listens;
 * - answers `{ type: 'usage', gc }` with `{ type: 'usage', cpuMicros, rss, heapUsed, external,
 *   arrayBuffers, connections }`, after a full garbage collection when `gc` (start it with --expose-gc);
 * - exits on `{ type: 'stop' }` or when the parent goes away.
 *
 * Usage: node --expose-gc dist/bench/deflate-server.js off|default|takeover
 */
import { createFramecast, type FramecastOptions } from '../src/server/app.js';

/** The settings compared, by name. */
export const DEFLATE_POLICIES: Readonly<Record<string, FramecastOptions['perMessageDeflate']>> = {
  off: false,
  /** framecast's default: no context takeover either way (RFC 7692 7.1.1). */
  default: true,
  /** Context takeover both ways: each side keeps its LZ77 window between messages. */
  takeover: { serverNoContextTakeover: false, clientNoContextTakeover: false },
};

/** Room for the benchmark's connections (framecast's default limit is lower). */
const MAX_CONNECTIONS = 100_000;

/** The IPC messages the child understands and sends. */
/** `gc`: collect garbage first (for memory readings; left out of CPU readings, as it costs CPU). */
export type ParentMessage = { type: 'usage'; gc: boolean } | { type: 'stop' };
export type ChildMessage =
  | { type: 'listening'; port: number }
  | {
      type: 'usage';
      /** utime + stime of this process so far, in microseconds (process.cpuUsage()). */
      cpuMicros: number;
      rss: number;
      heapUsed: number;
      external: number;
      arrayBuffers: number;
      connections: number;
    };

async function main(): Promise<void> {
  const name = process.argv[2] ?? '';
  if (!(name in DEFLATE_POLICIES) || process.send === undefined) {
    console.error('usage (as a child with an IPC channel): deflate-server.js off|default|takeover');
    process.exit(2);
  }
  const framecast = createFramecast({
    perMessageDeflate: DEFLATE_POLICIES[name],
    heartbeatInterval: 0,
    maxConnections: MAX_CONNECTIONS,
  });
  const { port } = await framecast.listen(0, '127.0.0.1');
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'usage') {
      if (message.gc) (globalThis as { gc?: () => void }).gc?.();
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      send({
        type: 'usage',
        cpuMicros: cpu.user + cpu.system,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
        connections: framecast.metrics.connectionsOpen,
      });
    } else if (message.type === 'stop') {
      process.exit(0);
    }
  });
  // The parent went away: nothing is left to measure.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'listening', port });
}

void main();
