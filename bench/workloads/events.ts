/** How a workload, running in the load generator, tells the runner where it is. */
export interface WorkloadEvents {
  /** Counting starts now (the runner samples the server's CPU time). */
  measureStart(): void;
  /** Counting stopped. */
  measureEnd(): void;
  /** (Memory) every connection is open. */
  opened(): void;
  /** (Memory) resolves when the runner has read the server's memory. */
  released(): Promise<void>;
}

/** The load generator's own CPU time (user + system), in seconds. */
export function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `task` for each of `count` items with at most `concurrency` at once; bounded by `count`. */
export async function forEachLimited(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}
