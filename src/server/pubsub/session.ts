/**
 * One framecast.v1 connection (docs/pubsub.md): reads each text frame as a command, carries it
 * out through the hub, and answers it. Replies go out in the order of the commands, also when
 * a hub answers some of them asynchronously (a broker): each command takes a place in line,
 * and a reply waits until the ones before it have gone.
 */
import { CloseCode } from '../../protocol/index.js';
import { ReadyState, type WebSocketConnection } from '../websocket/connection.js';
import { type Hub, HubUnavailableError } from '../hub/hub.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { HistoryQuery, HistoryResult } from './history.js';
import { Subscription } from './subscription.js';
import {
  type Command,
  CommandError,
  ErrorCode,
  errorReply,
  historyReply,
  presenceReply,
  publishedReply,
  readFrame,
  subscribedReply,
  unsubscribedReply,
  type WireLimits,
} from './wire.js';

export interface SessionOptions {
  readonly hub: Hub;
  readonly wire: WireLimits;
  readonly clientPublish: boolean;
  readonly maxSubscriptions: number;
  readonly maxConsecutiveBadRequests: number;
  readonly maxPendingPushes: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** A reply's place in line: its text once known, and what to do right after sending it. */
interface ReplySlot {
  text: string | undefined;
  afterSend: (() => void) | undefined;
}

export class PubSubSession {
  private readonly subscriptions = new Map<string, Subscription>();
  /** Replies not yet sent because one before them is still being prepared; empty almost always. */
  private readonly line: ReplySlot[] = [];
  private badInARow = 0;

  constructor(
    private readonly connection: WebSocketConnection,
    /** The client id presence shows, the same for all this connection's subscriptions. */
    readonly client: string,
    private readonly options: SessionOptions,
  ) {}

  /** A message from the client. */
  receive(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      // RFC 6455 7.4.1: 1003 "received a type of data it cannot accept": framecast.v1 is text.
      this.connection.close(CloseCode.UnsupportedData, 'framecast.v1 frames are text frames holding JSON');
      return;
    }
    const read = readFrame(data.toString('utf8'), this.options.wire);
    if ('error' in read) {
      if (read.id === undefined && ++this.badInARow >= this.options.maxConsecutiveBadRequests) {
        this.connection.close(CloseCode.PolicyViolation, `${this.badInARow} frames in a row were not framecast.v1 commands`);
        return;
      }
      if (read.id !== undefined) this.badInARow = 0;
      this.countError(read.error.code);
      this.reply(errorReply(read.id, read.error));
      return;
    }
    this.badInARow = 0;
    this.carryOut(read);
  }

  /** The connection closed: leave every channel. */
  closed(): void {
    for (const subscription of this.subscriptions.values()) this.leave(subscription);
    this.subscriptions.clear();
    this.line.length = 0;
  }

  private carryOut(command: Command): void {
    switch (command.kind) {
      case 'subscribe':
        return this.subscribe(command.id, command.channel, command.query, command.infoJson);
      case 'unsubscribe':
        return this.unsubscribe(command.id, command.channel);
      case 'publish':
        return this.publish(command.id, command.channel, command.data, command.isBinary);
      case 'presence':
        return this.presence(command.id, command.channel);
      case 'history':
        return this.history(command.id, command.channel, command.query);
    }
  }

  private subscribe(id: number, channel: string, query: HistoryQuery, infoJson: string): void {
    if (this.subscriptions.has(channel)) return this.fail(id, ErrorCode.AlreadySubscribed, `already subscribed to "${channel}"`);
    if (this.subscriptions.size >= this.options.maxSubscriptions) {
      return this.fail(id, ErrorCode.TooManySubscriptions, `at most ${this.options.maxSubscriptions} subscriptions per connection`);
    }
    const subscription = new Subscription(this.connection, channel, this.client, infoJson, this.options.maxPendingPushes, this.overflowed);
    this.subscriptions.set(channel, subscription);
    this.options.metrics.subscriptionsOpen++;
    const slot = this.takePlace();
    this.options.hub.subscribe(subscription, query).then(
      (result: HistoryResult) => {
        if (this.subscriptions.get(channel) !== subscription) {
          // Unsubscribed (or closed) before the hub answered: the reply still comes, in line.
          this.fill(slot, subscribedReply(id, channel, result, this.client));
          return;
        }
        if (result.recovered !== undefined) this.options.metrics.countRecovery(result.recovered);
        this.fill(slot, subscribedReply(id, channel, result, this.client), () => subscription.activate(result.epoch, result.offset));
      },
      (error: unknown) => {
        if (this.subscriptions.get(channel) === subscription) {
          this.subscriptions.delete(channel);
          this.leave(subscription);
        }
        this.fill(slot, this.failure(id, error));
      },
    );
  }

  private unsubscribe(id: number, channel: string): void {
    const subscription = this.subscriptions.get(channel);
    if (subscription === undefined) return this.fail(id, ErrorCode.NotSubscribed, `not subscribed to "${channel}"`);
    this.subscriptions.delete(channel);
    this.leave(subscription);
    this.reply(unsubscribedReply(id, channel));
  }

  private publish(id: number, channel: string, data: string | Buffer, isBinary: boolean): void {
    if (!this.options.clientPublish) return this.fail(id, ErrorCode.PermissionDenied, 'this server does not accept publishes from clients');
    if (!this.subscriptions.has(channel)) return this.fail(id, ErrorCode.NotSubscribed, `subscribe to "${channel}" before publishing to it`);
    const slot = this.takePlace();
    this.options.hub.publishWithOffset(channel, data, isBinary).then(
      (result) => {
        if (result.position === undefined) this.fill(slot, this.failure(id, new HubUnavailableError('the hub numbers no publications')));
        else this.fill(slot, publishedReply(id, channel, result.position));
      },
      (error: unknown) => this.fill(slot, this.failure(id, error)),
    );
  }

  private presence(id: number, channel: string): void {
    if (!this.subscriptions.has(channel)) return this.fail(id, ErrorCode.NotSubscribed, `subscribe to "${channel}" to see its presence`);
    const slot = this.takePlace();
    this.options.hub.presence(channel).then(
      (clients) => this.fill(slot, presenceReply(id, channel, clients)),
      (error: unknown) => this.fill(slot, this.failure(id, error)),
    );
  }

  private history(id: number, channel: string, query: HistoryQuery): void {
    const slot = this.takePlace();
    this.options.hub.history(channel, query).then(
      (result) => this.fill(slot, historyReply(id, channel, result)),
      (error: unknown) => this.fill(slot, this.failure(id, error)),
    );
  }

  private leave(subscription: Subscription): void {
    this.options.hub.unsubscribe(subscription);
    this.options.metrics.subscriptionsOpen--;
  }

  /** More pushes waited for one subscription's reply than allowed: the client cannot be served now. */
  private readonly overflowed = (subscription: Subscription): void => {
    this.options.logger.warn(`pubsub: connection ${this.connection.id} held too many pushes for "${subscription.channel}" while subscribing`);
    if (this.connection.readyState === ReadyState.Open) this.connection.close(CloseCode.TryAgainLater, 'too many publications while subscribing; try again');
  };

  private fail(id: number, code: ErrorCode, message: string): void {
    this.countError(code);
    this.reply(errorReply(id, new CommandError(code, message)));
  }

  /** The error reply for a hub that failed: `unavailable` (nothing else can go wrong there). */
  private failure(id: number, error: unknown): string {
    this.options.logger.debug(`pubsub: command ${id} failed: ${error instanceof Error ? error.message : String(error)}`);
    this.countError(ErrorCode.Unavailable);
    return errorReply(id, new CommandError(ErrorCode.Unavailable, 'the service cannot do this now; try again later'));
  }

  private countError(code: ErrorCode): void {
    this.options.metrics.countPubSubError(code);
  }

  // --- Replies, in the order of the commands ------------------------------------------------

  /** A reply known at once: sent now, unless earlier replies are still being prepared. */
  private reply(text: string): void {
    if (this.line.length === 0) this.send(text);
    else this.line.push({ text, afterSend: undefined });
  }

  private takePlace(): ReplySlot {
    const slot: ReplySlot = { text: undefined, afterSend: undefined };
    this.line.push(slot);
    return slot;
  }

  /** A reply is ready: send it and every ready one after it, as long as none before is waiting. */
  private fill(slot: ReplySlot, text: string, afterSend?: () => void): void {
    slot.text = text;
    slot.afterSend = afterSend;
    const line = this.line;
    let sent = 0;
    while (sent < line.length && line[sent].text !== undefined) {
      const ready = line[sent++];
      this.send(ready.text!);
      ready.afterSend?.();
    }
    line.splice(0, sent);
  }

  private send(text: string): void {
    if (this.connection.readyState === ReadyState.Open) this.connection.send(text);
  }
}
