/**
 * Measuring the server's memory during an attack. The server runs in the test's process, so
 * `process.memoryUsage()` is its memory; the attacking clients keep theirs small and allocated
 * before the baseline is taken. Buffers (payloads, socket reads, send queues) count in
 * `arrayBuffers`; objects such as a list of 100,000 fragments would count in `heapUsed`.
 *
 * Two measures: `MemorySampler` records the peak growth while an attack runs (garbage
 * included, so bounds are generous), `retainedBytes` what is still held after a full garbage
 * collection (exact, for "what does the server keep for this").
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A garbage collector to call, so that "retained" means held by the server, not garbage not yet collected.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Heap plus Buffer memory still reachable after a full collection, in bytes. */
export function retainedBytes(): number {
  collectGarbage();
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

export interface MemoryReport {
  /** Peak growth over the baseline while sampling, in bytes. */
  arrayBuffers: number;
  heapUsed: number;
  rss: number;
}

const SAMPLE_INTERVAL_MS = 2;
const MIB = 1024 * 1024;

/** Samples memory from `start` until `stop`, keeping the peak growth of each measure. */
export class MemorySampler {
  private readonly baseline = process.memoryUsage();
  private readonly peak: MemoryReport = { arrayBuffers: 0, heapUsed: 0, rss: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  /** Takes a sample now (also call it at points of interest, such as right after a burst). */
  sample(): void {
    const now = process.memoryUsage();
    this.peak.arrayBuffers = Math.max(this.peak.arrayBuffers, now.arrayBuffers - this.baseline.arrayBuffers);
    this.peak.heapUsed = Math.max(this.peak.heapUsed, now.heapUsed - this.baseline.heapUsed);
    this.peak.rss = Math.max(this.peak.rss, now.rss - this.baseline.rss);
  }

  /** Stops sampling and returns the peaks; logs them under `label` so runs record what they measured. */
  stop(label: string): MemoryReport {
    this.sample();
    clearInterval(this.timer);
    const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
    console.log(`[memory] ${label}: peak growth arrayBuffers ${mib(this.peak.arrayBuffers)}, heapUsed ${mib(this.peak.heapUsed)}, rss ${mib(this.peak.rss)}`);
    return { ...this.peak };
  }
}

export { MIB };
