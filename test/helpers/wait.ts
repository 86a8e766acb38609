/** Test helpers: polling for a condition, and reading /metrics as numbers. */

/** Polls `condition` every few ms until it holds; rejects after `timeoutMs` with `what`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const POLL_MS = 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Sample lines of a Prometheus text page, e.g. `framecast_closes_total{code="1000"}` to 2. */
export async function fetchMetrics(httpUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${httpUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** A sample of a metrics page, 0 when absent (a labelled counter appears at its first count). */
export function sample(metrics: Map<string, number>, name: string): number {
  return metrics.get(name) ?? 0;
}
