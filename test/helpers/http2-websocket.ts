/**
 * RFC 8441 by hand with Node's own http2 client, the independent peer of the HTTP/2 tests: an
 * extended CONNECT sent once the server's SETTINGS allow it, and the answer's status and headers.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect, type IncomingHttpHeaders } from 'node:http2';

/** Connects (https: with `ca`, or http: for h2c prior knowledge) and waits for the server's SETTINGS. */
export function connectHttp2(url: string, ca?: Buffer): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(url, ca === undefined ? {} : { ca, servername: 'localhost' });
    session.once('error', reject);
    session.once('remoteSettings', () => {
      session.off('error', reject);
      session.on('error', () => undefined); // a reset session: the tests look at the streams
      resolve(session);
    });
  });
}

export interface ConnectAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly stream: ClientHttp2Stream;
  /** The body of a refusal (empty for a 200: the stream then carries frames). */
  body(): Promise<string>;
}

/**
 * Sends `:method CONNECT` with `:protocol websocket` (unless `headers` overrides or removes
 * pseudo-headers: a value of null drops one) and resolves with the server's answer.
 */
export function extendedConnect(session: ClientHttp2Session, path: string, headers: Record<string, string | null> = {}): Promise<ConnectAnswer> {
  const request: Record<string, string> = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': session.encrypted ? 'https' : 'http',
    ':path': path,
    ':authority': `localhost:${session.socket.remotePort}`,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(headers)) {
    if (value === null) delete request[name];
    else request[name] = value;
  }
  return new Promise((resolve, reject) => {
    const stream = session.request(request, { endStream: false });
    stream.once('error', reject);
    stream.once('response', (answer) => {
      stream.off('error', reject);
      stream.on('error', () => undefined);
      resolve({
        status: Number(answer[':status']),
        headers: answer,
        stream,
        body: () =>
          new Promise((done) => {
            const chunks: Buffer[] = [];
            stream.on('data', (chunk: Buffer) => chunks.push(chunk));
            stream.once('end', () => done(Buffer.concat(chunks).toString()));
          }),
      });
    });
  });
}
