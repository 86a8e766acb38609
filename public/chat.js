// The framecast chat page: one WebSocket to /chat?channel=NAME, reconnecting by itself.
//
// Message format. The chat server relays the bytes each member sends, unchanged, to every
// member of the channel, the sender included, in one order for all; it adds nothing. So the
// page defines its own format: each chat message is a text message holding the JSON object
//   {"type":"chat","id":"<random>","nick":"<nickname>","text":"<message>","sentAt":<ms since 1970>}
// Anything received that is not such an object (a POST /push body, binary data, another
// program's format) is shown as a push from the server. Times shown are when the message
// arrived here; the sender's clock (sentAt) is in the tooltip.
//
// Delivery. A message appears in the log when the server relays it back, so every page shows
// the same order. Until then it waits in the outbox below the log, visibly: "queued" while
// offline (sent on reconnect), "sending" once written, and "not confirmed" if the connection
// dropped before the server relayed it (Send again / Discard). Nothing is dropped silently.
//
// URL parameters: `channel` (default lobby); for tests and experiments, `backoff` (first
// reconnect delay in ms, default 1000) and `backoffMax` (cap in ms, default 30000).
//
// Every change of the status line is also kept in `window.framecastStatusHistory` (see
// state-history.js), so a test sees a countdown however briefly it was on screen.

import { stateHistory } from './state-history.js';

const DEFAULT_CHANNEL = 'lobby';
const CHANNEL_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_NICK_LENGTH = 32;
/** Longest message the page sends, in characters. */
const MAX_TEXT_LENGTH = 4000;
/** Messages the outbox holds while offline; beyond that, sending is refused visibly. */
const MAX_OUTBOX = 100;
/** Messages kept in the log; older ones are removed. */
const MAX_LOG_ENTRIES = 500;
const DEFAULT_BACKOFF_MS = 1000;
const DEFAULT_BACKOFF_MAX_MS = 30_000;
const BACKOFF_FACTOR = 2;
const SECOND_MS = 1000;
/** Pixels from the bottom within which the log keeps following new messages. */
const FOLLOW_SLACK_PX = 40;
const NICK_STORAGE_KEY = 'framecast.nick';
const PREVIEW_BYTES = 32;
/** Where the status line's changes are published, for tests and for the console. */
const STATUS_HISTORY_NAME = 'framecastStatusHistory';

/** What close codes mean (RFC 6455 7.4.1), for the status line. */
const CLOSE_MEANINGS = new Map([
  [1000, 'normal closure'],
  [1001, 'going away'],
  [1002, 'protocol error'],
  [1003, 'unsupported data'],
  [1005, 'no status code'],
  [1006, 'connection lost without a Close frame'],
  [1007, 'invalid data'],
  [1008, 'policy violation'],
  [1009, 'message too big'],
  [1011, 'server error'],
  [1013, 'try again later'],
]);

const $ = (id) => document.getElementById(id);
const elements = {
  status: $('status'),
  statusText: $('status-text'),
  reconnectNow: $('reconnect-now'),
  settings: $('settings'),
  settingsNote: $('settings-note'),
  nick: $('nick'),
  channel: $('channel'),
  channelName: $('channel-name'),
  log: $('log'),
  outbox: $('outbox'),
  composer: $('composer'),
  message: $('message'),
  composerNote: $('composer-note'),
};

const params = new URLSearchParams(location.search);
const backoffInitial = positiveNumber(params.get('backoff'), DEFAULT_BACKOFF_MS);
const backoffMax = positiveNumber(params.get('backoffMax'), DEFAULT_BACKOFF_MAX_MS);

let channel = CHANNEL_PATTERN.test(params.get('channel') ?? '') ? params.get('channel') : DEFAULT_CHANNEL;
let nick = loadNick();
/** The current socket; a socket that is not this one is ignored (it was replaced). */
let socket = null;
/** Reconnect attempts since the last successful open. */
let attempt = 0;
let reconnectTimer = 0;
let countdownTimer = 0;
const statusHistory = stateHistory(STATUS_HISTORY_NAME);
/** Messages typed here and not yet relayed back: id -> { id, text, channel, state, element, reason }. */
const outbox = new Map();

function positiveNumber(value, fallback) {
  const number = Number(value);
  return value !== null && Number.isFinite(number) && number > 0 ? number : fallback;
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function loadNick() {
  const saved = sessionStorage.getItem(NICK_STORAGE_KEY);
  if (saved !== null && saved.trim() !== '') return saved;
  const adjectives = ['quiet', 'brisk', 'sunny', 'clever', 'gentle', 'bold', 'lucky', 'calm'];
  const animals = ['otter', 'heron', 'lynx', 'wren', 'fox', 'seal', 'moth', 'ibex'];
  const [a, b, c] = crypto.getRandomValues(new Uint8Array(3));
  const generated = `${adjectives[a % adjectives.length]}-${animals[b % animals.length]}-${c % 100}`;
  sessionStorage.setItem(NICK_STORAGE_KEY, generated);
  return generated;
}

// --- Connection state ---------------------------------------------------------------------

function setStatus(state, text) {
  elements.status.dataset.state = state;
  elements.statusText.textContent = text;
  elements.reconnectNow.hidden = state !== 'reconnecting';
  statusHistory.record(state, text);
}

function describeClose(code, reason) {
  const meaning = CLOSE_MEANINGS.get(code);
  let text = `closed (${code}${meaning ? ` ${meaning}` : ''}`;
  if (reason) text += `: ${reason}`;
  return `${text})`;
}

function connect() {
  clearTimeout(reconnectTimer);
  clearInterval(countdownTimer);
  const url = new URL('/chat', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('channel', channel);
  setStatus('connecting', `connecting to #${channel}…`);
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  socket = ws;
  ws.addEventListener('open', () => {
    if (ws !== socket) return;
    attempt = 0;
    setStatus('open', `open: #${channel} as ${nick}`);
    addSystemEntry(`connected to #${channel}`);
    flushOutbox();
  });
  ws.addEventListener('message', (event) => {
    if (ws === socket) receive(event.data);
  });
  ws.addEventListener('close', (event) => {
    if (ws !== socket) return;
    socket = null;
    holdUnconfirmed('the connection closed before the server relayed it');
    addSystemEntry(`connection ${describeClose(event.code, event.reason)}`);
    scheduleReconnect(describeClose(event.code, event.reason));
  });
}

/** Exponential backoff with "equal jitter": half the step fixed, half random, so clients spread out. */
function reconnectDelay() {
  const step = Math.min(backoffMax, backoffInitial * BACKOFF_FACTOR ** attempt);
  attempt++;
  return step / 2 + Math.random() * (step / 2);
}

function scheduleReconnect(closedText) {
  const delay = reconnectDelay();
  const due = Date.now() + delay;
  const show = () => {
    const seconds = Math.max(1, Math.ceil((due - Date.now()) / SECOND_MS));
    setStatus('reconnecting', `${closedText}; reconnecting in ${seconds} s`);
  };
  show();
  countdownTimer = setInterval(show, SECOND_MS / 4);
  reconnectTimer = setTimeout(connect, delay);
}

/** Leaves the current socket (it is ignored from now on) and connects again at once. */
function reconnectNow() {
  const old = socket;
  socket = null;
  if (old !== null) old.close(1000, 'changing channel');
  attempt = 0;
  connect();
}

// --- Receiving ------------------------------------------------------------------------------

/** A chat message in this page's format, or null for anything else (shown as a server push). */
function parseChat(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || value.type !== 'chat') return null;
  if (typeof value.id !== 'string' || typeof value.nick !== 'string' || typeof value.text !== 'string') return null;
  return value;
}

function receive(data) {
  if (typeof data !== 'string') {
    const bytes = new Uint8Array(data);
    const preview = Array.from(bytes.subarray(0, PREVIEW_BYTES), (b) => b.toString(16).padStart(2, '0')).join(' ');
    addEntry({ kind: 'push', nick: 'server push', text: `binary message, ${bytes.length} bytes: ${preview}${bytes.length > PREVIEW_BYTES ? ' …' : ''}` });
    return;
  }
  const chat = parseChat(data);
  if (chat === null) {
    addEntry({ kind: 'push', nick: 'server push', text: data });
    return;
  }
  const mine = outbox.has(chat.id);
  if (mine) removeFromOutbox(chat.id);
  addEntry({ kind: 'chat', nick: chat.nick.slice(0, MAX_NICK_LENGTH), text: chat.text, id: chat.id, mine, sentAt: chat.sentAt });
}

// --- The log ----------------------------------------------------------------------------------

function isFollowing() {
  const log = elements.log;
  return log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOW_SLACK_PX;
}

function appendToLog(item) {
  const follow = isFollowing();
  elements.log.append(item);
  while (elements.log.children.length > MAX_LOG_ENTRIES) elements.log.firstElementChild.remove();
  if (follow) elements.log.scrollTop = elements.log.scrollHeight;
}

function timeElement(date) {
  const time = document.createElement('time');
  time.dateTime = date.toISOString();
  time.textContent = date.toLocaleTimeString();
  return time;
}

/** One message in the log. Every piece of text goes in with textContent: never parsed as HTML. */
function addEntry({ kind, nick: who, text, id, mine = false, sentAt }) {
  const item = document.createElement('li');
  item.className = `entry ${kind}${mine ? ' mine' : ''}`;
  item.dataset.kind = kind;
  if (id !== undefined) item.dataset.id = id;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const name = document.createElement('span');
  name.className = 'nick';
  name.textContent = who;
  meta.append(name);
  if (mine) {
    const you = document.createElement('span');
    you.className = 'badge';
    you.textContent = 'you';
    meta.append(you);
  }
  if (kind === 'push') {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'from the server';
    meta.append(badge);
  }
  const time = timeElement(new Date());
  if (typeof sentAt === 'number' && Number.isFinite(sentAt)) time.title = `sent at ${new Date(sentAt).toLocaleString()} by the sender's clock`;
  meta.append(time);
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = text;
  item.append(meta, body);
  appendToLog(item);
}

function addSystemEntry(text) {
  const item = document.createElement('li');
  item.className = 'entry system';
  item.dataset.kind = 'system';
  item.append(timeElement(new Date()), ` ${text}`);
  appendToLog(item);
}

// --- Sending and the outbox -------------------------------------------------------------------

function note(element, text) {
  element.textContent = text;
}

function send(text) {
  if (text.trim() === '') return false;
  if (text.length > MAX_TEXT_LENGTH) {
    note(elements.composerNote, `Not sent: messages are at most ${MAX_TEXT_LENGTH} characters (this one has ${text.length}).`);
    return false;
  }
  if (outbox.size >= MAX_OUTBOX) {
    note(elements.composerNote, `Not sent: ${MAX_OUTBOX} messages are already waiting for the connection.`);
    return false;
  }
  note(elements.composerNote, '');
  const item = { id: randomId(), text, channel, state: 'queued', element: null, reason: '' };
  outbox.set(item.id, item);
  if (isOpen()) transmit(item);
  renderOutboxItem(item);
  return true;
}

function isOpen() {
  return socket !== null && socket.readyState === WebSocket.OPEN;
}

function transmit(item) {
  socket.send(JSON.stringify({ type: 'chat', id: item.id, nick, text: item.text, sentAt: Date.now() }));
  item.state = 'sending';
}

/** On open: send what was queued for this channel, in the order it was typed. */
function flushOutbox() {
  for (const item of outbox.values()) {
    if (item.state === 'queued' && item.channel === channel && isOpen()) {
      transmit(item);
      renderOutboxItem(item);
    }
  }
}

/** Messages written but not relayed back when the connection ended: the user decides. */
function holdUnconfirmed(reason) {
  for (const item of outbox.values()) {
    if (item.state === 'sending') {
      item.state = 'held';
      item.reason = reason;
      renderOutboxItem(item);
    }
  }
}

function removeFromOutbox(id) {
  const item = outbox.get(id);
  if (item === undefined) return;
  outbox.delete(id);
  item.element?.remove();
}

const STATE_LABELS = { queued: 'queued: sent when the connection is open', sending: 'sending…', held: 'not confirmed' };

function renderOutboxItem(item) {
  if (item.element === null) {
    item.element = document.createElement('li');
    item.element.dataset.id = item.id;
    elements.outbox.append(item.element);
  }
  const element = item.element;
  element.className = `pending ${item.state}`;
  element.dataset.state = item.state;
  element.replaceChildren();
  const label = document.createElement('span');
  label.className = 'state';
  label.textContent = item.state === 'held' ? `${STATE_LABELS.held}: ${item.reason}` : STATE_LABELS[item.state];
  if (item.channel !== channel) label.textContent += ` (typed in #${item.channel})`;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = item.text;
  element.append(label, text);
  if (item.state === 'held') {
    element.append(outboxButton('Send again', () => {
      item.state = 'queued';
      item.channel = channel;
      if (isOpen()) transmit(item);
      renderOutboxItem(item);
    }), outboxButton('Discard', () => removeFromOutbox(item.id)));
  }
}

function outboxButton(text, action) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'small';
  button.textContent = text;
  button.addEventListener('click', action);
  return button;
}

// --- Controls ---------------------------------------------------------------------------------

elements.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  if (send(elements.message.value)) elements.message.value = '';
  elements.message.focus();
});

// Enter sends; Shift+Enter inserts a new line; Enter while an input method composes is left alone.
elements.message.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    elements.composer.requestSubmit();
  }
});

elements.settings.addEventListener('submit', (event) => {
  event.preventDefault();
  const newNick = elements.nick.value.trim();
  const newChannel = elements.channel.value.trim();
  if (newNick === '' || newNick.length > MAX_NICK_LENGTH) {
    note(elements.settingsNote, `A nickname has 1 to ${MAX_NICK_LENGTH} characters.`);
    return;
  }
  if (!CHANNEL_PATTERN.test(newChannel)) {
    note(elements.settingsNote, "A channel name has 1 to 64 letters, digits, '.', '_' or '-'.");
    return;
  }
  note(elements.settingsNote, '');
  nick = newNick;
  sessionStorage.setItem(NICK_STORAGE_KEY, nick);
  if (newChannel !== channel) {
    channel = newChannel;
    const url = new URL(location.href);
    url.searchParams.set('channel', channel);
    history.replaceState(null, '', url);
    showChannel();
    for (const item of outbox.values()) {
      if (item.state !== 'held') {
        item.state = 'held';
        item.reason = 'you changed channel before it was delivered';
        renderOutboxItem(item);
      }
    }
    reconnectNow();
  } else if (isOpen()) {
    setStatus('open', `open: #${channel} as ${nick}`);
  }
});

elements.reconnectNow.addEventListener('click', reconnectNow);

function showChannel() {
  elements.channelName.textContent = `#${channel}`;
  document.title = `#${channel} · framecast chat`;
}

elements.nick.value = nick;
elements.channel.value = channel;
showChannel();
connect();
