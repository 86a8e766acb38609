#!/usr/bin/env node
/**
 * `framecast`: runs the service until SIGINT or SIGTERM, then shuts down gracefully (every
 * WebSocket closed with 1001, up to 5 s to finish) and exits 0; a second signal, unless it is
 * the first one delivered twice, exits 1 at once. Bad options exit 2.
 */
import { readFileSync } from 'node:fs';
import { createFramecast, type FramecastOptions, type TlsCredentials } from './app.js';
import { parseCli, usage } from './cli-options.js';
import { ServerDefaults } from './config.js';
import { createLogger, describeError, type Logger } from './log.js';

/** The Redis hub's constructor, loaded only when --redis asks for it: a single node never pays for the client. */
async function redisHubFactory(url: string, nodeTimeout: number, logger: Logger): Promise<NonNullable<FramecastOptions['createHub']>> {
  const { RedisHub } = await import('./hub/redis-hub.js');
  return (_everyone, context) => new RedisHub(context, { url, nodeTimeout, logger });
}

/** Reads the certificate and key files (at start, and again on SIGHUP). */
function readCredentials(certFile: string, keyFile: string): TlsCredentials {
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

async function main(): Promise<void> {
  const parsed = parseCli(process.argv.slice(2), process.env);
  if ('error' in parsed) {
    process.stderr.write(`framecast: ${parsed.error} (see --help)\n`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(usage());
    return;
  }
  const options = parsed.options;
  const logger = createLogger(options.logLevel);
  // The hub is chosen here, once: Redis pub/sub with --redis, else the in-process default.
  const createHub = options.redis === undefined ? undefined : await redisHubFactory(options.redis, options.nodeTimeout, logger);
  let tls: TlsCredentials | undefined;
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    try {
      tls = readCredentials(options.tlsCert, options.tlsKey);
    } catch (error) {
      process.stderr.write(`framecast: cannot read the TLS certificate or key: ${describeError(error)}\n`);
      process.exit(2);
    }
  }
  let framecast;
  try {
    framecast = createFramecast({
      tls,
      h2c: options.h2c,
      pushToken: options.pushToken,
      allowOrigins: options.allowOrigins,
      maxMessageSize: options.maxMessageSize,
      heartbeatInterval: options.heartbeatInterval,
      maxConnections: options.maxConnections,
      perMessageDeflate: options.deflate,
      historySize: options.historySize,
      historyTtl: options.historyTtl,
      historyMemory: options.historyMemory,
      clientPublish: options.clientPublish,
      logger,
      createHub,
    });
  } catch (error) {
    process.stderr.write(`framecast: cannot start: ${describeError(error)}\n`);
    process.exit(2);
  }
  let address;
  try {
    address = await framecast.listen(options.port, options.host);
  } catch (error) {
    process.stderr.write(`framecast: cannot listen on port ${options.port}: ${describeError(error)}\n`);
    process.exit(1);
  }
  const shownHost = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const scheme = tls === undefined ? 'http' : 'https';
  logger.info(`framecast listening on ${scheme}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}/ (chat at /, echo at /ws, framecast.v1 at /pubsub, push at POST /push)`);

  /** When the first stop signal came (performance.now()), undefined while running. */
  let stoppingSince: number | undefined;
  const stop = (signal: string): void => {
    if (stoppingSince !== undefined) {
      if (performance.now() - stoppingSince < ServerDefaults.repeatedSignalWindow) {
        logger.debug(`${signal} again at once: the same stop delivered twice (npm forwards the terminal's), still shutting down`);
        return;
      }
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stoppingSince = performance.now();
    logger.info(`${signal}: closing every connection with 1001 and shutting down`);
    framecast.close().then(
      () => {
        logger.info('shut down cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error(`shutdown failed: ${describeError(error)}`);
        process.exit(1);
      },
    );
  };
  const { tlsCert, tlsKey } = options;
  if (tlsCert !== undefined && tlsKey !== undefined) {
    // SIGHUP: reread the certificate (renewed on disk) for new connections; open ones keep theirs.
    process.on('SIGHUP', () => {
      try {
        framecast.setCertificate(readCredentials(tlsCert, tlsKey));
        logger.info(`SIGHUP: certificate reread from ${tlsCert}; new connections get it`);
      } catch (error) {
        logger.error(`SIGHUP: certificate not reloaded, the previous one stays: ${describeError(error)}`);
      }
    });
  }
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
