/**
 * Counters for `GET /metrics`, rendered in the Prometheus text exposition format (version 0.0.4).
 * Plain numbers on one object: incrementing one on the hot path costs an addition.
 */

export class Metrics {
  connectionsOpen = 0;
  connectionsOpened = 0;
  /** Of `connectionsOpened`, those over HTTP/2 streams (RFC 8441); the rest came by HTTP/1.1 Upgrade. */
  connectionsOpenedHttp2 = 0;
  messagesReceived = 0;
  bytesReceived = 0;
  messagesSent = 0;
  bytesSent = 0;
  pushes = 0;
  slowConsumersDropped = 0;
  /** Closes by close code (1006 when the connection ended without a Close frame). */
  readonly closesByCode = new Map<number, number>();
  /** Protocol violations by their stable code, e.g. `INVALID_UTF8`. */
  readonly protocolErrorsByCode = new Map<string, number>();
  /** Refused opening handshakes by HTTP status. */
  readonly handshakesRejectedByStatus = new Map<number, number>();
  /** framecast.v1 subscriptions open now (docs/pubsub.md). */
  subscriptionsOpen = 0;
  /** framecast.v1 subscribes with `since`, by whether everything missed was still there. */
  readonly recoveriesByOutcome = new Map<string, number>([
    ['recovered', 0],
    ['not_recovered', 0],
  ]);
  /** framecast.v1 error replies by their code, e.g. `not_subscribed`. */
  readonly pubsubErrorsByCode = new Map<string, number>();

  countClose(code: number): void {
    this.closesByCode.set(code, (this.closesByCode.get(code) ?? 0) + 1);
  }

  countProtocolError(code: string): void {
    this.protocolErrorsByCode.set(code, (this.protocolErrorsByCode.get(code) ?? 0) + 1);
  }

  countRejectedHandshake(status: number): void {
    this.handshakesRejectedByStatus.set(status, (this.handshakesRejectedByStatus.get(status) ?? 0) + 1);
  }

  countRecovery(recovered: boolean): void {
    const outcome = recovered ? 'recovered' : 'not_recovered';
    this.recoveriesByOutcome.set(outcome, this.recoveriesByOutcome.get(outcome)! + 1);
  }

  countPubSubError(code: string): void {
    this.pubsubErrorsByCode.set(code, (this.pubsubErrorsByCode.get(code) ?? 0) + 1);
  }

  /** The Prometheus text format. `extra` lines (already formatted) are appended, e.g. broker state. */
  render(extra: readonly string[] = []): string {
    const lines: string[] = [];
    const single = (name: string, type: 'counter' | 'gauge', help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    const labelled = (name: string, help: string, label: string, values: ReadonlyMap<string | number, number>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [key, value] of [...values].sort(([a], [b]) => String(a).localeCompare(String(b)))) {
        lines.push(`${name}{${label}="${String(key)}"} ${value}`);
      }
    };
    single('framecast_connections_open', 'gauge', 'WebSocket connections open now.', this.connectionsOpen);
    single('framecast_connections_opened_total', 'counter', 'WebSocket connections accepted.', this.connectionsOpened);
    labelled(
      'framecast_connections_by_transport_total',
      'WebSocket connections accepted, by transport: http1 (Upgrade, RFC 6455) or http2 (extended CONNECT, RFC 8441).',
      'transport',
      new Map([
        ['http1', this.connectionsOpened - this.connectionsOpenedHttp2],
        ['http2', this.connectionsOpenedHttp2],
      ]),
    );
    single('framecast_messages_received_total', 'counter', 'WebSocket messages received.', this.messagesReceived);
    single('framecast_bytes_received_total', 'counter', 'WebSocket message payload bytes received.', this.bytesReceived);
    single('framecast_messages_sent_total', 'counter', 'WebSocket messages sent (a broadcast counts once per recipient).', this.messagesSent);
    single('framecast_bytes_sent_total', 'counter', 'WebSocket message payload bytes sent.', this.bytesSent);
    single('framecast_pushes_total', 'counter', 'Accepted POST /push requests.', this.pushes);
    single('framecast_slow_consumers_dropped_total', 'counter', 'Connections closed because their send buffer overflowed.', this.slowConsumersDropped);
    labelled('framecast_closes_total', 'Closed WebSocket connections by close code.', 'code', this.closesByCode);
    labelled('framecast_protocol_errors_total', 'Connections failed for a protocol violation, by violation.', 'violation', this.protocolErrorsByCode);
    labelled('framecast_handshakes_rejected_total', 'Refused opening handshakes by HTTP status.', 'status', this.handshakesRejectedByStatus);
    single('framecast_pubsub_subscriptions', 'gauge', 'framecast.v1 subscriptions open now.', this.subscriptionsOpen);
    labelled('framecast_pubsub_recoveries_total', 'framecast.v1 subscribes with since, by outcome.', 'outcome', this.recoveriesByOutcome);
    labelled('framecast_pubsub_errors_total', 'framecast.v1 error replies, by code.', 'code', this.pubsubErrorsByCode);
    return lines.concat(extra).join('\n') + '\n';
  }
}
