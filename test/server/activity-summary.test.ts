/**
 * What the log holds (src/server/activity-summary.ts, websocket-server.ts): at the default level
 * (info), a number of lines that does not grow with the number of connections, plus a periodic
 * one-line summary whose counts add up to what happened; at debug, each connection's open and
 * close. The summary's timer is unref'd and stopped by close().
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { createLogger, type LogLevel } from '../../src/server/log.js';
import { closed, nextMessages, openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { waitUntil } from '../helpers/wait.js';

/** Long enough that no summary falls within a test that does not wait for one. */
const NO_SUMMARY_DURING_TEST_MS = 3_600_000;
const SHORT_SUMMARY_INTERVAL_MS = 50;

let running: RunningFramecast | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
  vi.restoreAllMocks();
});

/** A framecast whose log lines are collected (without their timestamps). */
async function loggedFramecast(level: LogLevel, summaryInterval: number): Promise<{ app: RunningFramecast; lines: string[] }> {
  const lines: string[] = [];
  const logger = createLogger(level, (line) => lines.push(line.slice(line.indexOf(' ') + 1).trimEnd()));
  running = await startFramecast({ logger, summaryInterval, heartbeatInterval: 0 });
  return { app: running, lines };
}

/** Opens `count` echo connections, sends one message on each and waits for its echo, then closes them all. */
async function openUseAndClose(app: RunningFramecast, count: number): Promise<void> {
  const clients: WebSocket[] = await Promise.all(Array.from({ length: count }, () => openClient(`${app.wsUrl}/ws`)));
  await Promise.all(
    clients.map(async (client) => {
      const echo = nextMessages(client, 1);
      client.send('ping me back');
      await echo;
    }),
  );
  await Promise.all(
    clients.map((client) => {
      const done = closed(client);
      client.close(1000);
      return done;
    }),
  );
  await waitUntil(() => app.framecast.metrics.connectionsOpen === 0, 5_000, 'every connection to close on the server');
}

describe('the log at the default level (info)', () => {
  it('holds as many lines for 40 connections as for 1: none per connection', async () => {
    const counts: number[] = [];
    for (const connections of [1, 40]) {
      const { app, lines } = await loggedFramecast('info', NO_SUMMARY_DURING_TEST_MS);
      await openUseAndClose(app, connections);
      expect(lines.filter((line) => /\bid=\d+/.test(line))).toEqual([]);
      counts.push(lines.length);
      await app.close();
      running = undefined;
    }
    expect(counts[1]).toBe(counts[0]);
  });

  it('summarises each interval in which something happened in one line, and says nothing for a quiet one', async () => {
    const { app, lines } = await loggedFramecast('info', SHORT_SUMMARY_INTERVAL_MS);
    const summaries = (): Array<Record<string, number>> =>
      lines
        .filter((line) => line.startsWith('info  summary: '))
        .map((line) => {
          const match = /summary: (\d+) open; in the last \d+ s: (\d+) opened, (\d+) closed, (\d+) messages in, (\d+) out, (\d+) pushes$/.exec(line);
          if (match === null) throw new Error(`not a summary line: ${line}`);
          const [open, opened, closedCount, messagesIn, messagesOut, pushes] = match.slice(1).map(Number);
          return { open, opened, closed: closedCount, messagesIn, messagesOut, pushes };
        });
    const total = (field: string): number => summaries().reduce((sum, summary) => sum + summary[field], 0);

    await openUseAndClose(app, 7);
    await fetch(`${app.httpUrl}/push?channel=nobody`, { method: 'POST', body: 'x' });
    // However the intervals fell, the summaries add up to what happened.
    await waitUntil(() => total('opened') === 7 && total('closed') === 7 && total('pushes') === 1, 10_000, 'the summaries to count everything');
    expect(total('messagesIn')).toBe(7);
    expect(total('messagesOut')).toBe(7);
    expect(summaries().at(-1)?.open).toBe(0);
    // Quiet from now on: several intervals pass (timers never fire early) without a line.
    const before = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 5 * SHORT_SUMMARY_INTERVAL_MS));
    expect(lines.slice(before)).toEqual([]);
  });

  it('runs the summary on an unref\'d timer that close() clears', async () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    const { app } = await loggedFramecast('info', SHORT_SUMMARY_INTERVAL_MS);
    const summaryTimers = setIntervalSpy.mock.calls.flatMap((call, i) => (call[1] === SHORT_SUMMARY_INTERVAL_MS ? [setIntervalSpy.mock.results[i].value as NodeJS.Timeout] : []));
    expect(summaryTimers).toHaveLength(1);
    expect(summaryTimers[0].hasRef()).toBe(false);
    await app.close();
    running = undefined;
    expect(clearIntervalSpy.mock.calls.some((call) => call[0] === summaryTimers[0])).toBe(true);
  });
});

describe('the log at debug', () => {
  it('has an open and a close line for every connection', async () => {
    const { app, lines } = await loggedFramecast('debug', NO_SUMMARY_DURING_TEST_MS);
    await openUseAndClose(app, 5);
    expect(lines.filter((line) => /^debug open id=\d+ path=\/ws remote=127\.0\.0\.1$/.test(line))).toHaveLength(5);
    expect(lines.filter((line) => /^debug close id=\d+ code=1000$/.test(line))).toHaveLength(5);
  });
});
