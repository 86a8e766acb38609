// The protocol inspector: sends messages on a WebSocket to /inspect and renders the server's
// JSON description of the frames that carried them (src/server/inspector.ts describes the
// format), and the opening handshake's Sec-WebSocket-Key / Sec-WebSocket-Accept computation.
//
// Each frame report has `parsed` (the parser's values as read) and `derived` (computed from
// them for display: the header bytes rebuilt, the masked payload recomputed as payload XOR key).
//
// With "Negotiate permessage-deflate" ticked the page connects to /inspect?deflate=on: the
// server accepts the browser's permessage-deflate offer (RFC 7692), so each message the browser
// sends is DEFLATE data with RSV1 set on its first frame, and the report adds the inflated message.

import { sha1Bytes } from './sha1.js';

/** Payload bytes drawn in the hex dumps (the server sends up to 256). */
const DUMP_PAYLOAD_BYTES = 64;
/** Bytes per hex dump row: 16, or 8 on a narrow (phone) screen. */
const BYTES_PER_ROW = matchMedia('(max-width: 40em)').matches ? 8 : 16;
/** Payload bytes worked through in the XOR table. */
const XOR_EXAMPLE_BYTES = 8;
const MASK_KEY_BYTES = 4;
const MAX_REPORTS = 40;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 15_000;
const PRESET_SOURCE = 'The quick brown fox jumps over the lazy dog. ';

const $ = (id) => document.getElementById(id);
const statusBox = $('status');
const statusText = $('status-text');
const handshakeBox = $('handshake');
const reportsBox = $('reports');
const form = $('send-form');
const payloadInput = $('payload');
const kindSelect = $('kind');
const payloadSize = $('payload-size');
const sendNote = $('send-note');
const deflateToggle = $('deflate');

let socket = null;
let reconnectDelay = RECONNECT_MIN_MS;
let reconnectTimer = null;
let reportCount = 0;
/** The extensions the server agreed to on this connection ('' for none), from its handshake report. */
let extensionsInUse = '';
/** What this page sent, oldest first: reports come back in the same order. */
const sentQueue = [];

const OPCODES = new Map([
  [0x0, 'continuation'],
  [0x1, 'text'],
  [0x2, 'binary'],
  [0x8, 'close'],
  [0x9, 'ping'],
  [0xa, 'pong'],
]);

// --- Small helpers ----------------------------------------------------------------------------

/** Creates an element; children are nodes or strings (strings become text, never HTML). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

const hex2 = (byte) => byte.toString(16).padStart(2, '0');
const bits8 = (byte) => byte.toString(2).padStart(8, '0');
const spacedHex = (bytes) => Array.from(bytes, hex2).join(' ');

function bytesToBase64(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function printable(byte) {
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '·';
}

// --- SHA-1 -------------------------------------------------------------------------------------

/**
 * SHA-1 of some bytes: with crypto.subtle where the page is a secure context (https, localhost),
 * else with the small implementation in sha1.js, so the steps show on any address.
 */
async function sha1(bytes) {
  if (globalThis.crypto?.subtle !== undefined) {
    return { digest: new Uint8Array(await crypto.subtle.digest('SHA-1', bytes)), how: 'crypto.subtle.digest("SHA-1") in this browser' };
  }
  return { digest: sha1Bytes(bytes), how: 'a JavaScript SHA-1 in this page (crypto.subtle needs https or localhost)' };
}

// --- Connection ---------------------------------------------------------------------------------

function setStatus(state, text) {
  statusBox.dataset.state = state;
  statusText.textContent = text;
}

/** The endpoint: /inspect, or /inspect?deflate=on to have permessage-deflate negotiated. */
function endpoint() {
  return deflateToggle.checked ? '/inspect?deflate=on' : '/inspect';
}

function connect() {
  reconnectTimer = null;
  const path = endpoint();
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  setStatus('connecting', `connecting to ${path}…`);
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  socket = ws;
  ws.addEventListener('open', () => {
    reconnectDelay = RECONNECT_MIN_MS;
    setStatus('open', `open: ${path}${ws.extensions ? ` (extensions: ${ws.extensions})` : ''}`);
  });
  ws.addEventListener('message', (event) => {
    if (typeof event.data === 'string') onReport(JSON.parse(event.data));
  });
  ws.addEventListener('close', (event) => {
    if (socket !== ws) return; // replaced on purpose (the compression toggle): nothing to report
    socket = null;
    sentQueue.length = 0;
    const seconds = Math.round(reconnectDelay / 1000);
    setStatus('reconnecting', `closed (${event.code}${event.reason ? `: ${event.reason}` : ''}); reconnecting in ${seconds} s`);
    reconnectTimer = setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(RECONNECT_MAX_MS, reconnectDelay * 2);
  });
}

/** The compression toggle: remember it in the address, and connect again with or without it. */
function onDeflateToggle() {
  const address = new URL(location.href);
  if (deflateToggle.checked) address.searchParams.set('deflate', 'on');
  else address.searchParams.delete('deflate');
  history.replaceState(null, '', address);
  if (reconnectTimer !== null) clearTimeout(reconnectTimer);
  const previous = socket;
  socket = null;
  sentQueue.length = 0;
  previous?.close(1000, 'reconnecting to change permessage-deflate');
  reconnectDelay = RECONNECT_MIN_MS;
  delete handshakeBox.dataset.key;
  handshakeBox.replaceChildren(h('p', { class: 'hint' }, 'Waiting for the server\'s report…'));
  connect();
}

function onReport(report) {
  if (report.type === 'handshake') renderHandshake(report);
  else if (report.type === 'message') renderMessage(report, sentQueue.shift());
  else if (report.type === 'control') renderControl(report);
}

// --- The handshake -------------------------------------------------------------------------------

async function renderHandshake(report) {
  handshakeBox.dataset.transport = report.transport;
  if (report.transport === 'http2') return renderHttp2Handshake(report);
  const keyBytes = Uint8Array.from(atob(report.key), (c) => c.charCodeAt(0));
  const concatenated = report.key + report.guid;
  const { digest, how } = await sha1(new TextEncoder().encode(concatenated));
  const computed = bytesToBase64(digest);
  const matches = computed === report.accept;

  const requestLines = [`${report.request.method} ${report.request.target} HTTP/${report.request.httpVersion}`];
  for (const [name, value] of report.request.headers) requestLines.push(`${name}: ${value}`);

  const step = (title, value, extra) => h('li', {}, title, h('span', { class: 'value' }, value), extra);
  handshakeBox.replaceChildren(
    transportNote(report),
    h('h3', {}, 'The request, as the server received it ', h('span', { class: 'rfc' }, 'RFC 6455 4.1, 4.2.1')),
    httpHead('request', requestLines),
    h('h3', {}, 'From Sec-WebSocket-Key to Sec-WebSocket-Accept ', h('span', { class: 'rfc' }, 'RFC 6455 1.3, 4.2.2 item 5.4')),
    h(
      'ol',
      { class: 'steps' },
      step('The browser picked 16 random bytes and sent them in base64 as Sec-WebSocket-Key (RFC 6455 4.1, item 7):', report.key, h('span', { class: 'value', 'data-part': 'key-bytes' }, `= ${keyBytes.length} bytes: ${spacedHex(keyBytes)}`)),
      step(`The server appends the fixed GUID ${report.guid} to the key, as text (RFC 6455 1.3):`, concatenated),
      step(`SHA-1 of those ${concatenated.length} ASCII bytes gives 20 bytes (computed here with ${how}):`, spacedHex(digest)),
      step('Those 20 bytes in base64:', computed),
      step(
        'The server answered with Sec-WebSocket-Accept:',
        report.accept,
        h(
          'span',
          { class: matches ? 'match-ok' : 'match-bad', 'data-part': 'accept-check' },
          matches
            ? '✓ matches the value computed in this page. The browser made the same check before opening the connection (RFC 6455 4.1: otherwise it MUST fail the connection).'
            : '✗ does not match the value computed in this page.',
        ),
      ),
    ),
    h('h3', {}, 'The response the server wrote ', h('span', { class: 'rfc' }, 'RFC 6455 4.2.2')),
    httpHead('response', report.response.trimEnd().split('\r\n').flatMap((line) => line.split('\n'))),
    extensionNote(report),
  );
  extensionsInUse = report.extensions ?? '';
  handshakeBox.dataset.key = report.key;
  handshakeBox.dataset.accept = report.accept;
  handshakeBox.dataset.computedAccept = computed;
}

/** Which transport this page's WebSocket used, as the server saw it. */
function transportNote(report) {
  const text =
    report.transport === 'http2'
      ? 'Transport: HTTP/2. This WebSocket is one stream of the HTTP/2 connection the page came over, opened by an extended CONNECT (RFC 8441).'
      : 'Transport: HTTP/1.1. This WebSocket has a TCP connection of its own, switched from HTTP by Upgrade (RFC 6455 4).';
  return h('p', { 'data-part': 'transport' }, text);
}

/** The RFC 8441 handshake: the CONNECT's fields and the 200; no key, no Accept to compute. */
function renderHttp2Handshake(report) {
  const requestLines = report.request.headers.map(([name, value]) => `${name}: ${value}`);
  handshakeBox.replaceChildren(
    transportNote(report),
    h('h3', {}, 'The extended CONNECT, as the server received it ', h('span', { class: 'rfc' }, 'RFC 8441 4, 5')),
    httpHead('request', requestLines),
    h(
      'p',
      { class: 'hint' },
      'No Sec-WebSocket-Key and no Sec-WebSocket-Accept over HTTP/2 (RFC 8441 5): the stream belongs to this request alone, so there is no answer to prove. :protocol websocket stands for Upgrade: websocket, and 200 for 101.',
    ),
    h('h3', {}, 'The answer the server sent ', h('span', { class: 'rfc' }, 'RFC 8441 5')),
    httpHead('response', report.response.trimEnd().split('\n')),
    extensionNote(report),
  );
  extensionsInUse = report.extensions ?? '';
  delete handshakeBox.dataset.key;
}

/** An HTTP head, one line per element so that a long header wraps under itself (style.css, pre.http). */
function httpHead(part, lines) {
  return h('pre', { class: 'http', 'data-part': part }, ...lines.map((line, i) => h('span', { class: 'line' }, i < lines.length - 1 ? `${line}\n` : line)));
}

/** What the answer's permessage-deflate parameters mean (RFC 7692 7.1). */
const DEFLATE_PARAMETERS = new Map([
  ['server_no_context_takeover', 'the server compresses each message on its own, keeping no LZ77 window between messages (RFC 7692 7.1.1.1)'],
  ['client_no_context_takeover', 'the browser must do the same, so each message it sends can be inflated by itself (RFC 7692 7.1.1.2)'],
  ['server_max_window_bits', 'the largest LZ77 window the server compresses with, as a power of two (RFC 7692 7.1.2.1)'],
  ['client_max_window_bits', 'the largest LZ77 window the browser may compress with (RFC 7692 7.1.2.2)'],
]);

/**
 * Browsers offer permessage-deflate. On /inspect the server accepts no extension, so none is in
 * use (RFC 6455 9.1); on /inspect?deflate=on it accepts permessage-deflate (RFC 7692 7.1).
 */
function extensionNote(report) {
  const offered = report.request.headers.find(([name]) => name.toLowerCase() === 'sec-websocket-extensions');
  if (offered === undefined) return null;
  if (report.extensions === '') {
    return h(
      'p',
      { class: 'hint', 'data-part': 'extensions' },
      `The browser offered the extensions "${offered[1]}"; the response names none, so no extension is in use and RSV1-3 stay 0 in every frame (RFC 6455 5.2, 9.1). Tick "Negotiate permessage-deflate" above to see compressed frames.`,
    );
  }
  const [, ...parameters] = report.extensions.split(';').map((part) => part.trim());
  return h(
    'div',
    { 'data-part': 'extensions' },
    h(
      'p',
      { class: 'hint' },
      `The browser offered "${offered[1]}" and the server answered Sec-WebSocket-Extensions: ${report.extensions}. ` +
        'permessage-deflate is in use (RFC 7692 5, 7.1): a compressed message has RSV1 set on its first frame (RFC 7692 6.1).',
    ),
    parameters.length === 0
      ? null
      : h('ul', { class: 'hint' }, ...parameters.map((parameter) => h('li', {}, h('code', {}, parameter), `: ${DEFLATE_PARAMETERS.get(parameter.split('=')[0]) ?? 'a parameter of RFC 7692 7.1'}`))),
  );
}

// --- Sending --------------------------------------------------------------------------------------

function encodeLength(length) {
  return length <= 125 ? '7-bit length' : length <= 0xffff ? '7+16-bit length (126, then 2 bytes)' : '7+64-bit length (127, then 8 bytes)';
}

function updateSize() {
  const bytes = new TextEncoder().encode(payloadInput.value).length;
  payloadSize.textContent = `${bytes} bytes as UTF-8: sent with a ${encodeLength(bytes)}.`;
}

function sendMessage() {
  sendNote.textContent = '';
  if (socket === null || socket.readyState !== WebSocket.OPEN) {
    sendNote.textContent = 'Not sent: the connection to /inspect is not open.';
    return;
  }
  const bytes = new TextEncoder().encode(payloadInput.value);
  const binary = kindSelect.value === 'binary';
  socket.send(binary ? bytes : payloadInput.value);
  sentQueue.push({ length: bytes.length, binary });
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  sendMessage();
});
payloadInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    sendMessage();
  }
});
payloadInput.addEventListener('input', updateSize);
for (const button of document.querySelectorAll('[data-preset]')) {
  button.addEventListener('click', () => {
    const length = Number(button.dataset.preset);
    payloadInput.value = PRESET_SOURCE.repeat(Math.ceil(length / PRESET_SOURCE.length)).slice(0, length);
    updateSize();
    payloadInput.focus();
  });
}

// --- Reports ---------------------------------------------------------------------------------------

function addReport(article) {
  $('no-reports')?.remove();
  reportsBox.prepend(article);
  while (reportsBox.children.length > MAX_REPORTS) reportsBox.lastElementChild.remove();
}

function renderMessage(report, sent) {
  reportCount++;
  const kind = report.isBinary ? 'binary' : 'text';
  const frames = report.frameCount === 1 ? '1 frame' : `${report.frameCount} frames`;
  let check = null;
  if (sent !== undefined) {
    const ok = sent.length === report.messageLength && sent.binary === report.isBinary;
    const received = report.compressed ? `${report.messageLength} once inflated` : String(report.messageLength);
    check = h(
      'p',
      { class: ok ? 'match-ok' : 'match-bad' },
      ok ? `✓ This page sent ${sent.length} bytes as ${kind}; the server received ${received}.` : `✗ This page sent ${sent.length} bytes as ${sent.binary ? 'binary' : 'text'}; the server reports ${received} as ${kind}.`,
    );
  }
  const article = h(
    'article',
    { class: 'report', 'data-report': String(reportCount), 'data-type': 'message' },
    h('h3', {}, `Message ${reportCount}: ${kind}, ${report.messageLength} bytes, ${frames}`),
    check,
    report.frameCount > 1 ? h('p', { class: 'hint' }, 'The message came in fragments: the first frame carries the opcode, the others are continuation frames (opcode 0x0), and only the last has FIN set (RFC 6455 5.4).') : null,
  );
  if (report.compressed) article.append(compressionNote(report));
  report.frames.forEach((frame, i) => article.append(renderFrame(frame, `Frame ${i + 1} of ${report.frameCount}`, report.compressed)));
  if (report.frames.length < report.frameCount) article.append(h('p', { class: 'hint' }, `… ${report.frameCount - report.frames.length} more frames not described.`));
  if (report.compressed) article.append(inflatedMessage(report));
  addReport(article);
}

/** A compressed message: what crossed the wire against what it inflates to (RFC 7692 6.1, 7.2). */
function compressionNote(report) {
  const percent = report.messageLength === 0 ? 0 : (report.wireLength / report.messageLength) * 100;
  return h(
    'p',
    { class: 'hint', 'data-part': 'compression', 'data-wire-length': String(report.wireLength), 'data-message-length': String(report.messageLength) },
    `Compressed with permessage-deflate (RSV1 = 1 on the first frame, RFC 7692 6.1): ${report.wireLength} payload bytes crossed the wire ` +
      `for a ${report.messageLength}-byte message (${percent.toFixed(1)}%). The payload below is DEFLATE data, not the message.`,
  );
}

/** The message after inflating: the sender removed the DEFLATE tail 00 00 ff ff; the server put it back and inflated (RFC 7692 7.2.2). */
function inflatedMessage(report) {
  const bytes = hexToBytes(report.messagePreviewHex).subarray(0, DUMP_PAYLOAD_BYTES);
  const more = bytes.length < report.messageLength ? ` (first ${bytes.length} of ${report.messageLength} bytes)` : '';
  return h(
    'div',
    { 'data-part': 'inflated' },
    h('p', { class: 'hint' }, `The message inflated by the server${more}: it appended the 4 bytes 00 00 ff ff that the sender removed and ran INFLATE (RFC 7692 7.2.2).`),
    dump([{ field: 'inflated', cls: 'f-inflated', bytes, offset: 0 }], 'Message inflated, in hex'),
    h('pre', { class: 'inflated-text' }, report.textPreview !== null ? report.textPreview.slice(0, DUMP_PAYLOAD_BYTES) : Array.from(bytes, printable).join('')),
  );
}

function renderControl(report) {
  const frame = report.frames[0];
  const name = frame.derived.opcodeName;
  const why = name === 'pong' ? 'the browser answering the server\'s heartbeat Ping, by itself (RFC 6455 5.5.3)' : 'a control frame (RFC 6455 5.5)';
  addReport(h('article', { class: 'report', 'data-type': 'control' }, h('h3', {}, `A ${name} frame: ${why}`), renderFrame(frame, null)));
}

/** The groups of bytes in a frame, in wire order, each with its colour class. */
function frameLayout(frame) {
  const header = hexToBytes(frame.derived.headerHex);
  const extLength = frame.derived.lengthEncoding === '7+64' ? 8 : frame.derived.lengthEncoding === '7+16' ? 2 : 0;
  const groups = [
    { field: 'b0', cls: 'f-b0', bytes: header.subarray(0, 1), offset: 0 },
    { field: 'b1', cls: 'f-b1', bytes: header.subarray(1, 2), offset: 1 },
  ];
  if (extLength > 0) groups.push({ field: 'ext', cls: 'f-ext', bytes: header.subarray(2, 2 + extLength), offset: 2 });
  if (frame.parsed.masked) groups.push({ field: 'key', cls: 'f-key', bytes: header.subarray(2 + extLength, 2 + extLength + MASK_KEY_BYTES), offset: 2 + extLength });
  const payload = hexToBytes(frame.derived.maskedPayloadHex).subarray(0, DUMP_PAYLOAD_BYTES);
  groups.push({ field: 'payload', cls: 'f-payload', bytes: payload, offset: header.length });
  return { header, groups, extLength };
}

/** A hex dump whose bytes carry their field, so a table row can light them up. */
function dump(groups, label) {
  const cells = [];
  for (const group of groups) {
    group.bytes.forEach((byte, i) => cells.push({ byte, cls: group.cls, field: group.field, offset: group.offset + i }));
  }
  const box = h('div', { class: 'dump', role: 'group', 'aria-label': label });
  for (let row = 0; row < cells.length; row += BYTES_PER_ROW) {
    const slice = cells.slice(row, row + BYTES_PER_ROW);
    box.append(
      h('span', { class: 'offset' }, slice[0].offset.toString(16).padStart(4, '0')),
      h('span', { class: 'bytes' }, ...slice.map((cell) => h('span', { class: `byte ${cell.cls}`, 'data-field': cell.field, title: `byte ${cell.offset}: ${bits8(cell.byte)}` }, hex2(cell.byte)))),
    );
  }
  return box;
}

function bitGrid(byte, captions, cls) {
  const grid = h('span', { class: 'bitgrid', 'aria-hidden': 'true' });
  bits8(byte).split('').forEach((bit) => grid.append(h('span', { class: cls }, bit)));
  captions.forEach((caption) => grid.append(h('span', { class: 'cap' }, caption)));
  return grid;
}

function renderFrame(frame, title, compressed = false) {
  const { parsed, derived } = frame;
  const { header, groups, extLength } = frameLayout(frame);
  const b0 = header[0];
  const b1 = header[1];
  const bit = (byte, index) => (byte >> (7 - index)) & 1;
  const keyOffset = 2 + extLength;
  const payloadOffset = parsed.headerLength;

  const rows = [
    ['fin', 'b0', 'FIN', 'byte 0, bit 0', String(bit(b0, 0)), parsed.fin ? '1: the final frame of its message' : '0: more fragments follow', '5.2, 5.4'],
    [
      'rsv1',
      'b0',
      'RSV1',
      'byte 0, bit 1',
      String(bit(b0, 1)),
      parsed.rsv1
        ? '1: permessage-deflate: this message is compressed (RFC 7692 6.1: "per-message compressed" bit, on the first frame only)'
        : compressed
          ? '0: a continuation of a compressed message (RFC 7692 6.1: RSV1 is set on the first frame only)'
          : extensionsInUse !== ''
            ? '0: this message was sent uncompressed (permessage-deflate lets the sender choose per message, RFC 7692 6)'
            : '0: no extension uses it',
      parsed.rsv1 || compressed ? '5.2; RFC 7692 6.1' : '5.2',
    ],
    ['rsv2', 'b0', 'RSV2', 'byte 0, bit 2', String(bit(b0, 2)), parsed.rsv2 ? '1: set by a negotiated extension' : '0', '5.2'],
    ['rsv3', 'b0', 'RSV3', 'byte 0, bit 3', String(bit(b0, 3)), parsed.rsv3 ? '1: set by a negotiated extension' : '0', '5.2'],
    ['opcode', 'b0', 'Opcode', 'byte 0, bits 4-7', bits8(b0).slice(4), `0x${parsed.opcode.toString(16)} ${OPCODES.get(parsed.opcode) ?? 'reserved'}`, '5.2, 11.8'],
    ['mask', 'b1', 'MASK', 'byte 1, bit 0', String(bit(b1, 0)), parsed.masked ? '1: the payload is masked, as every frame from a client must be' : '0: not masked', '5.1, 5.2'],
    [
      'length7',
      'b1',
      'Payload length (7 bits)',
      'byte 1, bits 1-7',
      bits8(b1).slice(1),
      derived.length7 === 126 ? '126: the length follows in the next 2 bytes' : derived.length7 === 127 ? '127: the length follows in the next 8 bytes' : `${derived.length7}: the payload length itself (0-125)`,
      '5.2',
    ],
  ];
  if (extLength > 0) {
    const ext = header.subarray(2, 2 + extLength);
    rows.push(['ext', 'ext', `Extended payload length (${extLength * 8} bits)`, `bytes 2-${1 + extLength}`, Array.from(ext, bits8).join(' '), `${parsed.payloadLength}, an unsigned integer in network byte order${extLength === 8 ? ' (its top bit must be 0)' : ''}`, '5.2']);
  }
  rows.push(['payload-length', extLength > 0 ? 'ext' : 'b1', 'Payload length', derived.lengthEncoding === '7' ? '7 bits' : `7+${extLength * 8} bits`, derived.lengthEncoding, `${parsed.payloadLength}`, '5.2']);
  if (parsed.masked) {
    const key = header.subarray(keyOffset, keyOffset + MASK_KEY_BYTES);
    rows.push(['masking-key', 'key', 'Masking key', `bytes ${keyOffset}-${keyOffset + 3}`, Array.from(key, bits8).join(' '), spacedHex(key), '5.3']);
  }
  rows.push([
    'payload',
    'payload',
    'Payload',
    `bytes ${payloadOffset}-${payloadOffset + parsed.payloadLength - 1}`,
    `${parsed.payloadLength} bytes`,
    (parsed.masked ? 'masked: byte i XOR masking key [i mod 4]' : 'not masked') + (compressed ? '; once unmasked, DEFLATE data (RFC 7692 7.2.1)' : ''),
    '5.3, 5.6',
  ]);

  const table = h(
    'table',
    { class: 'fields' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col', class: 'where' }, 'Where'), h('th', { scope: 'col' }, 'Bits'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'RFC 6455'))),
  );
  const body = h('tbody');
  for (const [field, group, name, where, bits, value, rfc] of rows) {
    const swatch = groups.find((g) => g.field === group)?.cls ?? '';
    body.append(
      h(
        'tr',
        { tabindex: '0', 'data-field': field, 'data-group': group },
        h('th', { scope: 'row' }, h('span', { class: `swatch ${swatch}`, 'aria-hidden': 'true' }), name),
        h('td', { class: 'where' }, where),
        h('td', { class: 'bits' }, bits),
        h('td', { class: 'value' }, value),
        h('td', { class: 'rfc-col' }, `§${rfc}`),
      ),
    );
  }
  table.append(body);

  const box = h('div', { class: 'frame' });
  if (title !== null) box.append(h('h4', {}, title));
  const shown = Math.min(derived.payloadBytesShown, DUMP_PAYLOAD_BYTES);
  box.append(
    h('p', { class: 'hint' }, `On the wire: ${parsed.headerLength} header bytes, then ${parsed.payloadLength} payload bytes${shown < parsed.payloadLength ? ` (the first ${shown} shown)` : ''}.`),
    dump(groups, 'Frame bytes as received, in hex'),
    h('p', { class: 'hint' }, 'The first two bytes, bit by bit:'),
    h('div', {}, bitGrid(b0, ['FIN', 'R1', 'R2', 'R3', 'op', 'op', 'op', 'op'], 'byte f-b0'), bitGrid(b1, ['MASK', 'len', 'len', 'len', 'len', 'len', 'len', 'len'], 'byte f-b1')),
    table,
  );
  if (parsed.masked && parsed.payloadLength > 0) box.append(xorTable(frame), unmaskedDump(frame, shown, compressed));
  linkHighlights(box);
  return box;
}

/** The unmasking of the first bytes, worked out (RFC 6455 5.3: j = i MOD 4, transformed-octet-i = original-octet-i XOR masking-key-octet-j). */
function xorTable(frame) {
  const key = hexToBytes(frame.parsed.maskingKeyHex);
  const masked = hexToBytes(frame.derived.maskedPayloadHex);
  const plain = hexToBytes(frame.parsed.unmaskedPayloadHex);
  const count = Math.min(XOR_EXAMPLE_BYTES, masked.length);
  const table = h(
    'table',
    { class: 'xor' },
    h('caption', { class: 'hint' }, 'Unmasking, byte by byte (RFC 6455 5.3): unmasked[i] = masked[i] XOR key[i mod 4]'),
    h('tr', {}, ...['i', 'masked', 'XOR key[i mod 4]', '= unmasked', 'char'].map((text) => h('th', { scope: 'col' }, text))),
  );
  for (let i = 0; i < count; i++) {
    table.append(
      h('tr', {}, h('td', {}, String(i)), h('td', {}, hex2(masked[i])), h('td', {}, `${hex2(key[i % MASK_KEY_BYTES])} (key[${i % MASK_KEY_BYTES}])`), h('td', {}, hex2(plain[i])), h('td', {}, printable(plain[i]))),
    );
  }
  const total = frame.parsed.payloadLength;
  if (count < total) {
    table.append(
      h(
        'tr',
        { class: 'more' },
        h('td', { colspan: '5', 'data-part': 'xor-cut' }, `… the first ${count} of ${total} payload bytes; every other byte is unmasked the same way, the key repeating every ${MASK_KEY_BYTES} bytes.`),
      ),
    );
  }
  return table;
}

function unmaskedDump(frame, shown, compressed) {
  const plain = hexToBytes(frame.parsed.unmaskedPayloadHex).subarray(0, shown);
  const text = Array.from(plain, printable).join('');
  const what = compressed ? 'compressed DEFLATE bytes, the message comes out of inflating them (below)' : 'as the parser delivered it';
  return h(
    'div',
    {},
    h('p', { class: 'hint' }, `The payload unmasked, ${what}${shown < frame.parsed.payloadLength ? ` (first ${shown} bytes)` : ''}:`),
    dump([{ field: 'plain', cls: 'f-plain', bytes: plain, offset: 0 }], 'Payload unmasked, in hex'),
    h('pre', { class: 'ascii' }, text),
  );
}

/** Hovering or focusing a field's row lights up its bytes in the dump. */
function linkHighlights(box) {
  for (const row of box.querySelectorAll('tr[data-group]')) {
    const light = (on) => {
      row.classList.toggle('lit', on);
      for (const byte of box.querySelectorAll(`.byte[data-field="${row.dataset.group}"]`)) byte.classList.toggle('lit', on);
    };
    row.addEventListener('mouseenter', () => light(true));
    row.addEventListener('mouseleave', () => light(false));
    row.addEventListener('focus', () => light(true));
    row.addEventListener('blur', () => light(false));
  }
}

deflateToggle.checked = new URLSearchParams(location.search).get('deflate') === 'on';
deflateToggle.addEventListener('change', onDeflateToggle);
updateSize();
connect();
