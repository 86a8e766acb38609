/** Memory, load generator side: opens idle WebSockets, says so, holds them until released. */
import type { Socket } from 'node:net';
import type { FrameHandler, ProtocolError } from '../../src/protocol/index.js';
import { connectWebSocket } from '../client.js';
import type { MemoryJob, MemoryResult } from '../jobs.js';
import { cpuSeconds, forEachLimited, type WorkloadEvents } from './events.js';

const IDLE: FrameHandler = {
  onFrame() {},
  onFrameError(error: ProtocolError) {
    throw new Error(`server sent a bad frame: ${error.reason}`);
  },
};

export async function runMemory(job: MemoryJob, events: WorkloadEvents): Promise<MemoryResult> {
  const sockets: Socket[] = [];
  const cpuStart = cpuSeconds();
  const start = performance.now();
  await forEachLimited(job.connections, job.concurrency, async () => {
    sockets.push(await connectWebSocket(job.host, job.port, job.path, IDLE));
  });
  const openMs = performance.now() - start;
  const cpu = cpuSeconds() - cpuStart;
  events.opened();
  await events.released();
  for (const socket of sockets) socket.destroy();
  return { kind: 'memory', connections: sockets.length, openMs, loadgenCpu: cpu / (openMs / 1000) };
}
