/**
 * Scanners for the HTTP header values the opening handshake reads: comma-separated token
 * lists (`Connection`, `Upgrade`, `Sec-WebSocket-Protocol`) and extension offers
 * (`Sec-WebSocket-Extensions`, RFC 6455 9.1). Each scans its input once, left to right,
 * with a table of token characters: no regular expressions that could backtrack on a
 * hostile 64 KiB value, and parameters go into `Map`s, so a name like `__proto__` is just a name.
 *
 * Grammar (RFC 7230 3.2.6 and 7; RFC 6455 9.1):
 *     token          = 1*tchar
 *     tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *                      "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
 *     #rule          = [ element ] *( OWS "," OWS [ element ] )
 *     protocol       = token [ "/" token ]             (Upgrade, RFC 7230 6.7)
 *     extension      = token *( OWS ";" OWS param )
 *     param          = token [ OWS "=" OWS ( token / quoted-string ) ]
 */

const IS_TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") IS_TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) IS_TCHAR[c] = 1; // 0-9
for (let c = 0x41; c <= 0x5a; c++) IS_TCHAR[c] = 1; // A-Z
for (let c = 0x61; c <= 0x7a; c++) IS_TCHAR[c] = 1; // a-z

function isTokenChar(code: number): boolean {
  return code < 128 && IS_TCHAR[code] === 1;
}

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09; // SP, HTAB
}

/** True when `value` is a non-empty HTTP token. */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isTokenChar(value.charCodeAt(i))) return false;
  }
  return true;
}

/** A position in a header value, moved forward only. */
class Scanner {
  position = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.position >= this.text.length;
  }

  peek(): number {
    return this.text.charCodeAt(this.position);
  }

  skipWhitespace(): void {
    while (!this.done && isWhitespace(this.peek())) this.position++;
  }

  /** Reads a token, or returns '' when none starts here. */
  token(): string {
    const start = this.position;
    while (!this.done && isTokenChar(this.peek())) this.position++;
    return this.text.slice(start, this.position);
  }

  /** Reads a quoted-string (RFC 7230 3.2.6) and returns its unescaped content, or undefined if malformed. */
  quotedString(): string | undefined {
    this.position++; // opening DQUOTE
    let content = '';
    while (!this.done) {
      const code = this.peek();
      this.position++;
      if (code === 0x22) return content; // closing DQUOTE
      if (code === 0x5c) {
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        if (this.done) return undefined;
        content += this.text[this.position++];
      } else {
        content += String.fromCharCode(code);
      }
    }
    return undefined; // no closing quote
  }

  /** Consumes `code` if it is next (after optional whitespace); says whether it did. */
  accept(code: number): boolean {
    this.skipWhitespace();
    if (!this.done && this.peek() === code) {
      this.position++;
      return true;
    }
    return false;
  }
}

const COMMA = 0x2c;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;

/**
 * Parses a comma-separated list (`1#element`, RFC 7230 7) whose elements `element` reads,
 * skipping empty elements as RFC 7230 7 allows. Returns undefined when an element is malformed
 * (`element` returned '').
 */
function parseList(value: string, element: (scanner: Scanner) => string): string[] | undefined {
  const scanner = new Scanner(value);
  const elements: string[] = [];
  for (;;) {
    scanner.skipWhitespace();
    if (scanner.done) return elements;
    if (scanner.peek() === COMMA) {
      scanner.position++;
      continue;
    }
    const item = element(scanner);
    if (item === '') return undefined;
    elements.push(item);
    scanner.skipWhitespace();
    if (scanner.done) return elements;
    if (scanner.peek() !== COMMA) return undefined;
    scanner.position++;
  }
}

function readToken(scanner: Scanner): string {
  return scanner.token();
}

/** `protocol = protocol-name ["/" protocol-version]`, each a token (RFC 7230 6.7), e.g. `HTTP/2.0`. */
function readProtocol(scanner: Scanner): string {
  const name = scanner.token();
  if (name === '' || scanner.done || scanner.peek() !== SLASH) return name;
  scanner.position++;
  const version = scanner.token();
  return version === '' ? '' : `${name}/${version}`;
}

/** Parses a comma-separated list of tokens (`1#token`). Returns undefined when an element is not a token. */
export function parseTokenList(value: string): string[] | undefined {
  return parseList(value, readToken);
}

/** Parses an `Upgrade` value (RFC 7230 6.7): protocols, each `name` or `name/version`. */
export function parseProtocolList(value: string): string[] | undefined {
  return parseList(value, readProtocol);
}

/** True when the comma-separated `value` holds `wanted`, compared ASCII case-insensitively. */
export function tokenListIncludes(value: string | undefined, wanted: string): boolean {
  return includesIgnoringCase(value === undefined ? undefined : parseTokenList(value), wanted);
}

/**
 * True when an `Upgrade` value offers `wanted` (with no version), compared ASCII
 * case-insensitively: `HTTP/2.0, websocket` offers websocket.
 */
export function upgradeOffers(value: string | undefined, wanted: string): boolean {
  return includesIgnoringCase(value === undefined ? undefined : parseProtocolList(value), wanted);
}

function includesIgnoringCase(elements: readonly string[] | undefined, wanted: string): boolean {
  if (elements === undefined) return false;
  const lowered = wanted.toLowerCase();
  return elements.some((element) => element.toLowerCase() === lowered);
}

/** One extension offered in `Sec-WebSocket-Extensions`, with its parameters in order. */
export interface ExtensionOffer {
  /** The extension token, e.g. `permessage-deflate`. */
  readonly name: string;
  /** Parameters by name; a parameter given without a value maps to `true`. */
  readonly params: Map<string, string | true>;
  /** Names of parameters given more than once (RFC 7692 7 declines such an offer). */
  readonly repeatedParams: readonly string[];
}

/**
 * Parses a `Sec-WebSocket-Extensions` value into offers, in the client's order of preference
 * (RFC 6455 9.1). Returns undefined when the value does not match the ABNF, which RFC 6455 9.1
 * says MUST fail the connection. A quoted value must be a token once unescaped.
 */
export function parseExtensionOffers(value: string): ExtensionOffer[] | undefined {
  const scanner = new Scanner(value);
  const offers: ExtensionOffer[] = [];
  for (;;) {
    scanner.skipWhitespace();
    if (scanner.done) break;
    if (scanner.peek() === COMMA) {
      scanner.position++;
      continue;
    }
    const name = scanner.token();
    if (name === '') return undefined;
    const params = new Map<string, string | true>();
    const repeatedParams: string[] = [];
    while (scanner.accept(SEMICOLON)) {
      scanner.skipWhitespace();
      const paramName = scanner.token();
      if (paramName === '') return undefined;
      let paramValue: string | true = true;
      if (scanner.accept(EQUALS)) {
        scanner.skipWhitespace();
        if (!scanner.done && scanner.peek() === DQUOTE) {
          const unquoted = scanner.quotedString();
          // RFC 6455 9.1: "the value after quoted-string unescaping MUST conform to the 'token' ABNF".
          if (unquoted === undefined || !isToken(unquoted)) return undefined;
          paramValue = unquoted;
        } else {
          paramValue = scanner.token();
          if (paramValue === '') return undefined;
        }
      }
      if (params.has(paramName)) repeatedParams.push(paramName);
      else params.set(paramName, paramValue);
    }
    offers.push({ name, params, repeatedParams });
    scanner.skipWhitespace();
    if (scanner.done) break;
    if (scanner.peek() !== COMMA) return undefined;
    scanner.position++;
  }
  return offers.length === 0 ? undefined : offers;
}
