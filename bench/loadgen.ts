/**
 * The load generator: a process of its own (pinned to its own core by the runner), given one
 * job over IPC. It reports when counting starts and stops, so the runner can sample the
 * server's CPU over the same window, then sends its result and exits.
 */
import type { Job, JobResult, LoadgenMessage, RunnerMessage } from './jobs.js';
import { runEcho } from './workloads/echo.js';
import type { WorkloadEvents } from './workloads/events.js';
import { runFanout } from './workloads/fanout.js';
import { runHttp } from './workloads/http-push.js';
import { runMemory } from './workloads/memory.js';

function send(message: LoadgenMessage): void {
  process.send?.(message);
}

let release: (() => void) | undefined;
const released = new Promise<void>((resolve) => {
  release = resolve;
});

const events: WorkloadEvents = {
  measureStart: () => send({ type: 'measure-start' }),
  measureEnd: () => send({ type: 'measure-end' }),
  opened: () => send({ type: 'opened' }),
  released: () => released,
};

function run(job: Job): Promise<JobResult> {
  switch (job.kind) {
    case 'echo':
      return runEcho(job, events);
    case 'fanout':
      return runFanout(job, events);
    case 'http':
      return runHttp(job, events);
    case 'memory':
      return runMemory(job, events);
  }
}

function finish(message: LoadgenMessage): void {
  // Exit once the message is handed to the channel: open sockets must not keep us alive.
  if (process.send === undefined) process.exit(1);
  process.send(message, () => process.exit(message.type === 'result' ? 0 : 1));
}

if (process.send === undefined) {
  process.stderr.write('bench/loadgen: run me from bench/run.js (I take jobs over IPC)\n');
  process.exit(2);
}

process.on('uncaughtException', (error) => finish({ type: 'error', message: error.stack ?? error.message }));
process.on('message', (message: RunnerMessage) => {
  if (message.type === 'release') {
    release?.();
    return;
  }
  run(message.job).then(
    (result) => finish({ type: 'result', result }),
    (error: unknown) => finish({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
