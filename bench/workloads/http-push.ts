/** HTTP push, load generator side: autocannon POSTs a fixed body over keep-alive connections. */
import autocannon from 'autocannon';
import type { HttpJob, HttpResult } from '../jobs.js';
import { cpuSeconds, type WorkloadEvents } from './events.js';

const MS_PER_SECOND = 1000;

export async function runHttp(job: HttpJob, events: WorkloadEvents): Promise<HttpResult> {
  const options = {
    url: `http://${job.host}:${job.port}${job.path}`,
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'p'.repeat(job.bodyBytes),
    connections: job.connections,
    pipelining: 1,
  };
  await autocannon({ ...options, duration: job.warmupMs / MS_PER_SECOND });
  const cpuStart = cpuSeconds();
  const wallStart = performance.now();
  events.measureStart();
  const result = await autocannon({ ...options, duration: job.measureMs / MS_PER_SECOND });
  events.measureEnd();
  const seconds = (performance.now() - wallStart) / MS_PER_SECOND;
  const cpu = cpuSeconds() - cpuStart;
  const ok = result['2xx'];
  if (ok === 0) throw new Error(`no 2xx answer (non-2xx ${result.non2xx}, errors ${result.errors})`);
  return {
    kind: 'http',
    requests: ok,
    requestsPerSecond: ok / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    loadgenCpu: cpu / seconds,
  };
}
