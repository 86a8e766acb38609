/**
 * What fan-out publishes, and how a subscriber checks what it received.
 *
 * Every payload starts with a sequence number and the load generator's clock in microseconds
 * (for order, loss and latency); the rest must come back exactly as published.
 *
 * - `tiny`: 32 bytes of text, `SSSSSSSSSS TTTTTTTTTTTTTTT` padded with spaces.
 * - `json`: chat/push-like JSON of 1-4 KiB (`{"seq":    S,"sentUs":     T, ...}`, the numbers
 *   right-aligned with spaces so that the head has a fixed length): a user, a channel,
 *   some words of text, attachments, reactions. A pool of messages built once from a seeded
 *   generator (the same in every run and process), published in turn. The pool holds far more
 *   than a 32 KiB DEFLATE window, so a server keeping context takeover never finds the same
 *   message again in its window: what it finds are the repeated keys and words, as in real
 *   traffic. Plain ASCII, so characters and bytes are the same count.
 */

/** Reads `digits` decimal digits at `offset`, or -1 if any byte is not a digit. */
function readDecimal(payload: Buffer, offset: number, digits: number): number {
  let value = 0;
  for (let i = offset; i < offset + digits; i++) {
    const digit = payload[i] - DIGIT_ZERO;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Reads a number right-aligned in `width` bytes at `offset`: spaces, then at least one digit
 * (JSON allows no leading zeros, but whitespace before a value). -1 if it is not that.
 */
function readSpacePadded(payload: Buffer, offset: number, width: number): number {
  let start = offset;
  while (start < offset + width - 1 && payload[start] === SPACE) start++;
  return readDecimal(payload, start, offset + width - start);
}

const DIGIT_ZERO = 0x30;
const SPACE = 0x20;
const SEQ_DIGITS = 10;
const TIME_DIGITS = 15;

export interface PayloadFormat {
  /** Content-Type of a push. */
  readonly contentType: string;
  /** The text of message `seq`, stamped with `micros`. */
  encode(seq: number, micros: number): string;
  /**
   * Checks a received payload (`payload[start..end)`, the whole buffer by default) byte for
   * byte against what message `seq` must be; returns `seq` and sets `micros`, or returns -1
   * when the payload is not one that was published.
   */
  read(payload: Buffer, into: { micros: number }, start?: number, end?: number): number;
}

/** The 32-byte payload of the uncompressed fan-out cases. */
export function tinyPayloads(): PayloadFormat {
  const PAYLOAD_BYTES = 32;
  const TIME_OFFSET = SEQ_DIGITS + 1;
  return {
    contentType: 'text/plain',
    encode: (seq, micros) => `${String(seq).padStart(SEQ_DIGITS, '0')} ${String(micros).padStart(TIME_DIGITS, '0')}`.padEnd(PAYLOAD_BYTES, ' '),
    read(payload, into, start = 0, end = payload.length) {
      if (end - start !== PAYLOAD_BYTES || payload[start + SEQ_DIGITS] !== SPACE) return -1;
      for (let i = start + TIME_OFFSET + TIME_DIGITS; i < end; i++) if (payload[i] !== SPACE) return -1;
      const seq = readDecimal(payload, start, SEQ_DIGITS);
      into.micros = readDecimal(payload, start + TIME_OFFSET, TIME_DIGITS);
      return into.micros < 0 ? -1 : seq;
    },
  };
}

/** Sizes of the JSON messages, whole payload, uniform between these. */
export const JSON_MIN_BYTES = 1024;
export const JSON_MAX_BYTES = 4096;
/** Distinct messages in the pool (about 160 KiB in all). */
const JSON_POOL_SIZE = 64;
const JSON_SEED = 0x5eed_f00d;

const SEQ_KEY = '{"seq":';
const TIME_KEY = ',"sentUs":';
const TIME_OFFSET = SEQ_KEY.length + SEQ_DIGITS;
/** `{"seq":S,"sentUs":T,` : the stamped head; the body follows it. */
const HEAD_BYTES = TIME_OFFSET + TIME_KEY.length + TIME_DIGITS + 1;

const WORDS = (
  'the a to and of in is it you that for on was with he be at by this had not are but from or have an they which ' +
  'one were all we when your can said there use each she do how their if will up other about out many then them these ' +
  'so some her would make like him into time has look two more write go see number no way could people my than first ' +
  'water been call who oil its now find long down day did get come made may part deploy release build merge review ' +
  'ticket meeting lunch coffee tomorrow today thanks great idea please check link updated fixed broken test server'
).split(' ');
const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Edsger', 'Frances', 'Donald'];
const LAST_NAMES = ['Lovelace', 'Hopper', 'Turing', 'Torvalds', 'Liskov', 'Thompson', 'Hamilton', 'Ritchie', 'Perlman', 'Dijkstra'];
const CHANNELS = ['general', 'random', 'ops', 'release', 'support', 'design', 'backend', 'frontend'];
const EMOJI = ['thumbsup', 'tada', 'eyes', 'rocket', 'heart', 'laughing', 'white_check_mark'];
const MIME = ['image/png', 'image/jpeg', 'application/pdf', 'text/plain'];

/** A small seeded generator (mulberry32): the same numbers in every process and run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One message body (what follows the stamped head), exactly `bytes` long. */
function jsonBody(random: () => number, bytes: number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const id = (): string => Math.floor(random() * 2 ** 48).toString(36);
  const person = (): Record<string, unknown> => {
    const first = pick(FIRST_NAMES);
    const userId = `u_${id()}`;
    return { id: userId, name: `${first} ${pick(LAST_NAMES)}`, handle: first.toLowerCase(), avatar: `https://cdn.example.com/avatars/${userId}.png` };
  };
  const message: Record<string, unknown> = {
    type: 'message.created',
    id: `msg_${id()}`,
    channel: { id: `c_${id()}`, name: pick(CHANNELS) },
    author: person(),
    mentions: Array.from({ length: Math.floor(random() * 3) }, person),
    reactions: Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 3) }, () => [pick(EMOJI), 1 + Math.floor(random() * 9)])),
    attachments: Array.from({ length: Math.floor(random() * 3) }, () => ({
      id: `att_${id()}`,
      name: `${pick(WORDS)}-${pick(WORDS)}.${pick(['png', 'jpg', 'pdf', 'txt'])}`,
      type: pick(MIME),
      size: Math.floor(random() * 5_000_000),
      url: `https://files.example.com/${id()}/${id()}`,
    })),
    thread: { replies: Math.floor(random() * 40), lastReplyAt: 1_790_000_000_000 + Math.floor(random() * 1e9) },
    text: '',
  };
  // Small messages get fewer attachments and mentions, so that some text always fits.
  const MIN_TEXT = 40;
  const attachments = message.attachments as unknown[];
  const mentions = message.mentions as unknown[];
  while (JSON.stringify(message).length - 1 > bytes - MIN_TEXT && (attachments.length > 0 || mentions.length > 0)) {
    if (attachments.length > 0) attachments.pop();
    else mentions.pop();
  }
  // The text takes up the rest: words until the message is `bytes` long.
  const without = JSON.stringify(message).length - 1; // without the opening brace
  const room = bytes - without;
  let text = '';
  while (text.length < room) text += (text === '' ? '' : ' ') + pick(WORDS);
  message.text = text.slice(0, Math.max(0, room)).trimEnd().padEnd(Math.max(0, room), '.');
  const body = JSON.stringify(message).slice(1);
  if (body.length !== bytes) throw new Error(`json message body is ${body.length} bytes, wanted ${bytes}`);
  return body;
}

/** The chat/push-like JSON messages of the compressed fan-out. */
export function jsonPayloads(): PayloadFormat & { readonly averageBytes: number } {
  const random = seededRandom(JSON_SEED);
  const bodies: Buffer[] = [];
  const texts: string[] = [];
  for (let i = 0; i < JSON_POOL_SIZE; i++) {
    const total = JSON_MIN_BYTES + Math.floor(random() * (JSON_MAX_BYTES - JSON_MIN_BYTES + 1));
    const text = jsonBody(random, total - HEAD_BYTES);
    texts.push(text);
    bodies.push(Buffer.from(text, 'latin1'));
  }
  const seqKey = Buffer.from(SEQ_KEY, 'latin1');
  const timeKey = Buffer.from(TIME_KEY, 'latin1');
  const COMMA = 0x2c;
  return {
    contentType: 'application/json',
    averageBytes: HEAD_BYTES + bodies.reduce((sum, body) => sum + body.length, 0) / bodies.length,
    encode: (seq, micros) =>
      `${SEQ_KEY}${String(seq).padStart(SEQ_DIGITS, ' ')}${TIME_KEY}${String(micros).padStart(TIME_DIGITS, ' ')},${texts[seq % JSON_POOL_SIZE]}`,
    read(whole, into, start = 0, end = whole.length) {
      const payload = start === 0 && end === whole.length ? whole : whole.subarray(start, end);
      if (payload.length < HEAD_BYTES) return -1;
      if (seqKey.compare(payload, 0, SEQ_KEY.length) !== 0 || timeKey.compare(payload, TIME_OFFSET, TIME_OFFSET + TIME_KEY.length) !== 0) return -1;
      if (payload[HEAD_BYTES - 1] !== COMMA) return -1;
      const seq = readSpacePadded(payload, SEQ_KEY.length, SEQ_DIGITS);
      into.micros = readSpacePadded(payload, TIME_OFFSET + TIME_KEY.length, TIME_DIGITS);
      if (seq < 0 || into.micros < 0) return -1;
      const body = bodies[seq % JSON_POOL_SIZE];
      // The rest, byte for byte.
      if (payload.length !== HEAD_BYTES + body.length || body.compare(payload, HEAD_BYTES) !== 0) return -1;
      return seq;
    },
  };
}
