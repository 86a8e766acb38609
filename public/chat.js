// The framecast chat page: one FramecastClient (/framecast.js) on /pubsub, the framecast.v1
// endpoint (docs/pubsub.md), subscribed to one channel.
//
// Message format. The server numbers and keeps each publication of the channel but adds
// nothing to it, so the page defines its own format: each chat message is a text publication
// holding the JSON object
//   {"type":"chat","id":"<random>","nick":"<nickname>","text":"<message>","sentAt":<ms since 1970>}
// Anything else of the channel (a POST /push body, binary data, another program's format), and
// a push to every connection, is shown as a push from the server. Chat messages show the time
// they were sent by the sender's clock (sentAt); pushes show when they arrived here.
//
// History and recovery. Joining a channel shows its last 50 messages. After a drop the client
// resubscribes with the last offset it saw, so every message sent meanwhile appears, once, in
// order; if the server no longer keeps all of them, the log says some are missing.
//
// Delivery. A message appears in the log when the server sends it back, so every page shows the
// same order. Until the server confirms it with its offset it waits in the outbox below the
// log, visibly: "queued" while offline (sent on reconnect), "sending" once written, then
// "delivered" until it shows in the log. If the connection drops after it was written and
// before the confirmation, the page looks for it in what the reconnect recovers: found, it was
// delivered; surely missing (the server recovered everything), it is sent again; otherwise the
// page cannot know, and asks (Send again / Discard). A message sent twice shows once: the page
// drops a chat message whose id it already shows.
//
// Presence. The panel lists the channel's subscribers by the nickname each subscribed with
// (presence `info`), updated as people join and leave.
//
// URL parameters: `channel` (default lobby); for tests and experiments, `backoff` (cap of the
// first reconnect wait in ms, default 1000) and `backoffMax` (cap of every wait, default
// 30000): waits are drawn at random below the cap, which doubles with each failed attempt.
//
// Every change of the status line is also kept in `window.framecastStatusHistory`, and every
// change of an outbox entry in `window.framecastOutboxHistory` (see state-history.js), so a test
// sees a countdown or a state however briefly it was on screen.

import { stateHistory } from './state-history.js';

const DEFAULT_CHANNEL = 'lobby';
const CHANNEL_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_NICK_LENGTH = 32;
/** Longest message the page sends, in characters. */
const MAX_TEXT_LENGTH = 4000;
/** Messages the outbox holds; beyond that, sending is refused visibly. Also the client's outbox bound. */
const MAX_OUTBOX = 100;
/** Messages kept in the log; older ones are removed. */
const MAX_LOG_ENTRIES = 500;
/** Earlier messages shown on joining a channel. */
const HISTORY_ON_JOIN = 50;
const DEFAULT_BACKOFF_MS = 1000;
const DEFAULT_BACKOFF_MAX_MS = 30_000;
const SECOND_MS = 1000;
/** Pixels from the bottom within which the log keeps following new messages. */
const FOLLOW_SLACK_PX = 40;
const NICK_STORAGE_KEY = 'framecast.nick';
const PREVIEW_BYTES = 32;
/** Where the status line's changes are published, for tests and for the console. */
const STATUS_HISTORY_NAME = 'framecastStatusHistory';
/** Where the outbox entries' changes are published. */
const OUTBOX_HISTORY_NAME = 'framecastOutboxHistory';

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
  presenceChannel: $('presence-channel'),
  presenceCount: $('presence-count'),
  presence: $('presence'),
  log: $('log'),
  outbox: $('outbox'),
  composer: $('composer'),
  message: $('message'),
  composerNote: $('composer-note'),
};

const params = new URLSearchParams(location.search);
const backoffInitial = positiveNumber(params.get('backoff'), DEFAULT_BACKOFF_MS);
const backoffMax = Math.max(backoffInitial, positiveNumber(params.get('backoffMax'), DEFAULT_BACKOFF_MAX_MS));

let channel = CHANNEL_PATTERN.test(params.get('channel') ?? '') ? params.get('channel') : DEFAULT_CHANNEL;
let nick = loadNick();
/** The FramecastClient, once /framecast.js has loaded. */
let client = null;
/** True while the current channel's subscription is confirmed on an open connection. */
let joined = false;
/** This connection's client id, as presence shows it. */
let myClient = '';
let countdownTimer = 0;
const statusHistory = stateHistory(STATUS_HISTORY_NAME);
const outboxHistory = stateHistory(OUTBOX_HISTORY_NAME);
/** Messages typed here and not yet shown back: id -> { id, text, channel, body, state, element, reason, offset }. */
const outbox = new Map();
/** Ids of the chat messages this page typed (bounded like the log), to mark them as "you". */
const ownIds = new Set();
/** The chat messages in the log by id: a message sent twice (see Delivery) shows once. */
const shownIds = new Map();
/** The channel's subscribers: client id -> info. */
const members = new Map();

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

function rememberOwn(id) {
  ownIds.add(id);
  if (ownIds.size > MAX_LOG_ENTRIES) ownIds.delete(ownIds.values().next().value);
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

function showOpen() {
  setStatus('open', `open: #${channel} as ${nick}`);
}

/** The client's connection state, on the status line. */
function onState(event) {
  clearInterval(countdownTimer);
  if (event.state !== 'open') joined = false;
  switch (event.state) {
    case 'connecting':
      setStatus('connecting', `connecting to #${channel}…`);
      return;
    case 'open':
      return; // the page shows "open" once the channel's subscription is confirmed (onSubscribed)
    case 'reconnecting': {
      const closedText = describeClose(event.code, event.reason);
      if (event.attempt === 0) addSystemEntry(`connection ${closedText}`);
      const due = Date.now() + event.delay;
      const show = () => {
        const seconds = Math.max(1, Math.ceil((due - Date.now()) / SECOND_MS));
        setStatus('reconnecting', `${closedText}; reconnecting in ${seconds} s`);
      };
      show();
      countdownTimer = setInterval(show, SECOND_MS / 4);
      return;
    }
    default:
      setStatus('closed', 'closed');
  }
}

// --- Joining a channel, and what comes back from it ---------------------------------------

/** Subscribes to the channel: from `since` (where the page is) or with the latest messages. */
function join(since) {
  const name = channel;
  client.subscribe(name, { ...(since === undefined ? { history: HISTORY_ON_JOIN } : { since }), info: { nick } }).catch((error) => {
    // not_subscribed: the page left the channel before the subscription was confirmed.
    if (error.code !== 'not_subscribed') addSystemEntry(`could not join #${name}: ${error.message} (${error.code})`);
  });
}

function onSubscribed(event) {
  if (event.channel !== channel) return;
  joined = true;
  myClient = event.client;
  showOpen();
  if (!event.resubscribed) {
    addSystemEntry(`joined #${channel} as ${nick}`);
  } else if (event.recovered === false) {
    addSystemEntry('reconnected, but some messages sent meanwhile are no longer kept by the server: they are missing here');
  } else {
    addSystemEntry('reconnected: the messages sent meanwhile are above');
  }
  for (const item of [...outbox.values()]) {
    if (item.channel !== channel) continue;
    // The client sent what was queued for the channel before telling the page.
    if (item.state === 'queued') setItemState(item, 'sending');
    // Confirmed, but its publication did not come back before the drop: it is delivered all the same.
    else if (item.state === 'delivered') removeFromOutbox(item);
  }
  settleUnconfirmed(event.recovered);
  refreshPresence();
}

/** A publication of the channel: a chat message of this page's format, or a push. */
function onPublication(event) {
  if (event.channel !== channel) return;
  if (typeof event.data !== 'string') return addBinaryPush(event.data, event.offset);
  const chat = parseChat(event.data);
  if (chat === null) return addEntry({ kind: 'push', nick: 'server push', text: event.data, offset: event.offset });
  if (shownIds.has(chat.id)) return; // sent twice (see Delivery): shown once
  const mine = ownIds.has(chat.id);
  addEntry({ kind: 'chat', nick: chat.nick.slice(0, MAX_NICK_LENGTH), text: chat.text, id: chat.id, mine, sentAt: chat.sentAt, offset: event.offset });
  const item = outbox.get(chat.id);
  if (item !== undefined && item.state === 'delivered') removeFromOutbox(item);
}

/** A push to every connection: not of any channel. */
function onPush(event) {
  if (typeof event.data !== 'string') return addBinaryPush(event.data, undefined);
  addEntry({ kind: 'push', nick: 'server push', text: event.data });
}

function addBinaryPush(bytes, offset) {
  const preview = Array.from(bytes.subarray(0, PREVIEW_BYTES), (b) => b.toString(16).padStart(2, '0')).join(' ');
  addEntry({ kind: 'push', nick: 'server push', text: `binary message, ${bytes.length} bytes: ${preview}${bytes.length > PREVIEW_BYTES ? ' …' : ''}`, offset });
}

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

// --- Presence ----------------------------------------------------------------------------------

/** Asks for the whole list; join and leave events keep it current from there. */
async function refreshPresence() {
  const asked = channel;
  let list;
  try {
    list = await client.presence(asked);
  } catch {
    return; // offline again: the next subscription asks again
  }
  if (asked !== channel) return;
  // The reply is newer than every join and leave that came before it: it replaces them.
  members.clear();
  for (const entry of list) members.set(entry.client, entry.info);
  renderPresence();
}

function onPresenceChange(event) {
  if (event.channel !== channel) return;
  if (event.type === 'join') members.set(event.client, event.info);
  else members.delete(event.client);
  renderPresence();
}

function nickOf(info, clientId) {
  const named = info !== null && typeof info === 'object' && typeof info.nick === 'string' && info.nick.trim() !== '';
  return named ? info.nick.slice(0, MAX_NICK_LENGTH) : `anonymous ${clientId.slice(-4)}`;
}

function renderPresence() {
  const items = [...members].map(([clientId, info]) => ({ clientId, name: nickOf(info, clientId), me: clientId === myClient }));
  items.sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name));
  elements.presence.replaceChildren(
    ...items.map(({ clientId, name, me }) => {
      const item = document.createElement('li');
      item.dataset.client = clientId;
      item.className = me ? 'me' : '';
      item.append(textSpan('nick', name));
      if (me) item.append(textSpan('badge', 'you'));
      return item;
    }),
  );
  elements.presenceCount.textContent = String(items.length);
}

// --- The log ----------------------------------------------------------------------------------

function isFollowing() {
  const log = elements.log;
  return log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOW_SLACK_PX;
}

function appendToLog(item) {
  const follow = isFollowing();
  elements.log.append(item);
  while (elements.log.children.length > MAX_LOG_ENTRIES) {
    const oldest = elements.log.firstElementChild;
    if (oldest.dataset.id !== undefined) shownIds.delete(oldest.dataset.id);
    oldest.remove();
  }
  if (follow) elements.log.scrollTop = elements.log.scrollHeight;
}

/** A span of text: set with textContent, so never parsed as HTML. */
function textSpan(className, text) {
  const span = document.createElement('span');
  span.className = className;
  span.textContent = text;
  return span;
}

function timeElement(date) {
  const time = document.createElement('time');
  time.dateTime = date.toISOString();
  time.textContent = date.toLocaleTimeString();
  return time;
}

/** One message in the log. Every piece of text goes in with textContent: never parsed as HTML. */
function addEntry({ kind, nick: who, text, id, mine = false, sentAt, offset }) {
  const item = document.createElement('li');
  item.className = `entry ${kind}${mine ? ' mine' : ''}`;
  item.dataset.kind = kind;
  if (id !== undefined) {
    item.dataset.id = id;
    shownIds.set(id, item);
  }
  if (offset !== undefined) item.dataset.offset = String(offset);
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.append(textSpan('nick', who));
  if (mine) meta.append(textSpan('badge', 'you'));
  const sent = typeof sentAt === 'number' && Number.isFinite(sentAt) ? new Date(sentAt) : null;
  const time = timeElement(sent ?? new Date());
  time.title = sent !== null ? "sent at this time by the sender's clock" : 'arrived here at this time';
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
  if (client === null) {
    note(elements.composerNote, 'Not sent: the page could not load its client (see the status line).');
    return false;
  }
  note(elements.composerNote, '');
  const id = randomId();
  const body = JSON.stringify({ type: 'chat', id, nick, text, sentAt: Date.now() });
  const item = { id, text, channel, body, state: 'queued', element: null, reason: '', offset: 0 };
  outbox.set(id, item);
  rememberOwn(id);
  publish(item);
  return true;
}

/** Hands the message to the client: sent now if the channel is joined, else queued in its outbox. */
function publish(item) {
  setItemState(item, joined && item.channel === channel ? 'sending' : 'queued');
  client.publish(item.channel, item.body).then(
    (published) => delivered(item, published.offset),
    (error) => notDelivered(item, error),
  );
}

function delivered(item, offset) {
  if (!outbox.has(item.id)) return;
  item.offset = offset;
  setItemState(item, 'delivered');
  if (shownIds.has(item.id)) removeFromOutbox(item);
}

function notDelivered(item, error) {
  if (!outbox.has(item.id)) return;
  if (error.code === 'unconfirmed') {
    // Written, but the connection ended before the confirmation: decided on resubscribing.
    return setItemState(item, 'unconfirmed');
  }
  if (error.code === 'not_subscribed' && item.channel === channel) {
    // Never sent: the page resubscribed (a new nickname) while it was queued. Queue it again.
    return publish(item);
  }
  const reason = error.code === 'not_subscribed' ? 'you changed channel before it was delivered' : `${error.message} (${error.code})`;
  hold(item, reason);
}

/**
 * After a resubscription: an unconfirmed message found in the log was delivered; one that is
 * not there although the server recovered everything was not, and goes again (a copy that
 * does get through twice shows once); otherwise nobody can tell, and the person decides.
 */
function settleUnconfirmed(recovered) {
  for (const item of [...outbox.values()]) {
    if (item.state !== 'unconfirmed' || item.channel !== channel) continue;
    if (shownIds.has(item.id)) removeFromOutbox(item);
    else if (recovered === true) publish(item);
    else hold(item, 'the connection dropped before the server confirmed it, and the server no longer keeps all messages of that time');
  }
}

function hold(item, reason) {
  item.reason = reason;
  setItemState(item, 'held');
}

function removeFromOutbox(item) {
  outbox.delete(item.id);
  item.element?.remove();
  item.element = null;
}

const STATE_LABELS = {
  queued: 'queued: sent when the connection is open',
  sending: 'sending…',
  delivered: 'delivered',
  unconfirmed: 'not confirmed yet: the connection dropped; checking when it is back',
  held: 'not confirmed',
};

function setItemState(item, state) {
  item.state = state;
  outboxHistory.record(state, state === 'delivered' ? `offset ${item.offset}: ${item.text}` : item.text);
  renderOutboxItem(item);
}

function renderOutboxItem(item) {
  if (item.element === null) {
    item.element = document.createElement('li');
    item.element.dataset.id = item.id;
    elements.outbox.append(item.element);
  }
  const element = item.element;
  element.className = `pending ${item.state}`;
  element.dataset.state = item.state;
  if (item.state === 'delivered') element.dataset.offset = String(item.offset);
  element.replaceChildren();
  let label = item.state === 'held' ? `${STATE_LABELS.held}: ${item.reason}` : STATE_LABELS[item.state];
  if (item.state === 'delivered') label += ` (offset ${item.offset})`;
  if (item.channel !== channel) label += ` (typed in #${item.channel})`;
  element.append(textSpan('state', label), textSpan('text', item.text));
  if (item.state === 'held') {
    element.append(
      outboxButton('Send again', () => {
        // The same message to the channel open now; its id stays, so it cannot show twice.
        item.channel = channel;
        item.body = JSON.stringify({ type: 'chat', id: item.id, nick, text: item.text, sentAt: Date.now() });
        publish(item);
      }),
      outboxButton('Discard', () => removeFromOutbox(item)),
    );
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
  const nickChanged = newNick !== nick;
  nick = newNick;
  sessionStorage.setItem(NICK_STORAGE_KEY, nick);
  if (client === null) return;
  if (newChannel !== channel) {
    const old = channel;
    channel = newChannel;
    const url = new URL(location.href);
    url.searchParams.set('channel', channel);
    history.replaceState(null, '', url);
    showChannel();
    leave(old);
    elements.log.replaceChildren();
    shownIds.clear();
    join();
  } else if (nickChanged) {
    // Presence shows the nickname a subscription was made with: subscribe again with the new
    // one, from where the page is (nothing is shown twice, nothing missed).
    const since = client.position(channel);
    leave(channel);
    join(since);
  }
  if (joined) showOpen();
});

/** Unsubscribes; the presence panel is the channel's, so it empties. */
function leave(name) {
  joined = false;
  client.unsubscribe(name).catch(() => undefined);
  members.clear();
  renderPresence();
}

elements.reconnectNow.addEventListener('click', () => client?.reconnectNow());
// A phone that gets its network back need not wait for the backoff.
window.addEventListener('online', () => client?.reconnectNow());

function showChannel() {
  elements.channelName.textContent = `#${channel}`;
  elements.presenceChannel.textContent = `#${channel}`;
  document.title = `#${channel} · framecast chat`;
}

function pubsubUrl() {
  const url = new URL('/pubsub', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

async function start() {
  let FramecastClient;
  try {
    ({ FramecastClient } = await import('./framecast.js'));
  } catch (error) {
    setStatus('closed', `the page could not load its client /framecast.js (${error.message}); the server may need \`npm run build\``);
    return;
  }
  client = new FramecastClient(pubsubUrl(), { backoff: { min: backoffInitial, max: backoffMax }, outboxSize: MAX_OUTBOX });
  client.on('state', onState);
  client.on('subscribed', onSubscribed);
  client.on('publication', onPublication);
  client.on('push', onPush);
  client.on('join', (event) => onPresenceChange({ type: 'join', ...event }));
  client.on('leave', (event) => onPresenceChange({ type: 'leave', ...event }));
  join();
  client.connect();
}

elements.nick.value = nick;
elements.channel.value = channel;
showChannel();
start();
