/**
 * The periodic one-line summary of what the service did, logged at `info`. Each connection's
 * open and close is logged at `debug` only (a busy server opens thousands), so at the default
 * level the log holds start, stop, warnings, errors and this line: once an interval, and only
 * when something happened in it.
 *
 *   summary: 12 open; in the last 60 s: 30 opened, 25 closed, 1200 messages in, 5400 out, 3 pushes
 *
 * Read from the counters `GET /metrics` reports; the timer is unref'd (it never keeps the
 * process alive) and stopped by the function `startActivitySummary` returns.
 */
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

const MS_PER_SECOND = 1000;

/** The counters the summary reports the change of. */
interface Counts {
  opened: number;
  closed: number;
  messagesIn: number;
  messagesOut: number;
  pushes: number;
}

function countsOf(metrics: Metrics): Counts {
  let closed = 0;
  for (const count of metrics.closesByCode.values()) closed += count;
  return { opened: metrics.connectionsOpened, closed, messagesIn: metrics.messagesReceived, messagesOut: metrics.messagesSent, pushes: metrics.pushes };
}

/**
 * Logs a summary of `metrics` at info every `intervalMs` in which anything happened. Returns
 * the function that stops it. Does nothing (and returns a no-op) when `intervalMs` is 0 or
 * info is not logged.
 */
export function startActivitySummary(metrics: Metrics, logger: Logger, intervalMs: number): () => void {
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs) || !logger.enabled('info')) return () => undefined;
  let last = countsOf(metrics);
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const now = countsOf(metrics);
    const nowAt = performance.now();
    const opened = now.opened - last.opened;
    const closed = now.closed - last.closed;
    const messagesIn = now.messagesIn - last.messagesIn;
    const messagesOut = now.messagesOut - last.messagesOut;
    const pushes = now.pushes - last.pushes;
    const seconds = Math.round((nowAt - lastAt) / MS_PER_SECOND);
    last = now;
    lastAt = nowAt;
    if (opened === 0 && closed === 0 && messagesIn === 0 && messagesOut === 0 && pushes === 0) return;
    logger.info(
      `summary: ${metrics.connectionsOpen} open; in the last ${seconds} s: ${opened} opened, ${closed} closed, ` +
        `${messagesIn} messages in, ${messagesOut} out, ${pushes} pushes`,
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
