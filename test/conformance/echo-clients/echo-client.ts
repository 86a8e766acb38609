/**
 * What the echo clients of client mode share: how they are started as a script (the URL last,
 * an optional --max-message-size before it) and the handle tests start them in process with.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** framecast's default message limit, which the suite assumes unless told otherwise. */
export const DEFAULT_ECHO_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** An echo client running in this process. */
export interface EchoClient {
  /** Resolves once the connection has closed (after a failed handshake too), saying how. */
  readonly closed: Promise<string>;
  /** Ends it early (the case is over). */
  stop(): void;
}

export type StartEchoClient = (url: string, maxMessageSize: number, log?: (line: string) => void) => EchoClient;

/** When `moduleUrl` is the script Node was started with: reads the arguments, runs the client, exits once it closed. */
export function runAsScript(moduleUrl: string, start: StartEchoClient): void {
  const script = process.argv[1];
  if (script === undefined || pathToFileURL(realpathSync(script)).href !== moduleUrl) return;
  const args = process.argv.slice(2);
  let maxMessageSize = DEFAULT_ECHO_MAX_MESSAGE_SIZE;
  const sizeAt = args.indexOf('--max-message-size');
  if (sizeAt !== -1) {
    maxMessageSize = Number(args[sizeAt + 1]);
    args.splice(sizeAt, 2);
  }
  const url = args[0];
  if (url === undefined || !Number.isSafeInteger(maxMessageSize)) {
    console.error('usage: echo-client [--max-message-size BYTES] ws://host:port/path');
    process.exit(2);
  }
  void start(url, maxMessageSize, (line) => console.error(line)).closed.then((how) => {
    console.log(how);
    process.exit(0);
  });
}
