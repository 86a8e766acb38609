/**
 * What `new WebSocket(url, protocols)` accepts (the WHATWG constructor's steps; RFC 6455 3 and
 * 4.1): the URL, http(s) mapped to ws(s), fragments refused, and subprotocol names.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from '../../src/client/index.js';
import { checkProtocols, parseWebSocketUrl } from '../../src/client/url.js';

describe('the URL', () => {
  it('ws: and wss: with their default ports, the resource name and the Host header', () => {
    expect(parseWebSocketUrl('ws://example.com/chat?room=1')).toMatchObject({ secure: false, hostname: 'example.com', port: 80, authority: 'example.com', resource: '/chat?room=1' });
    expect(parseWebSocketUrl('wss://example.com')).toMatchObject({ secure: true, port: 443, resource: '/', href: 'wss://example.com/' });
    expect(parseWebSocketUrl('ws://example.com:8080')).toMatchObject({ port: 8080, authority: 'example.com:8080' });
    // A default port given explicitly is left out of the Host header, as the URL parser drops it.
    expect(parseWebSocketUrl('wss://example.com:443/x').authority).toBe('example.com');
  });

  it('an IPv6 address is connected to without brackets and named with them', () => {
    expect(parseWebSocketUrl('ws://[::1]:9000/')).toMatchObject({ hostname: '::1', authority: '[::1]:9000' });
  });

  it('http: and https: map to ws: and wss:, and the url attribute says so', () => {
    expect(parseWebSocketUrl('http://example.com/a').href).toBe('ws://example.com/a');
    expect(parseWebSocketUrl('https://example.com/a')).toMatchObject({ href: 'wss://example.com/a', secure: true, port: 443 });
    const socket = new WebSocket('http://127.0.0.1:9/path');
    expect(socket.url).toBe('ws://127.0.0.1:9/path');
    socket.close();
  });

  it.each(['not a url', '/relative', 'ftp://example.com/', 'ws://example.com/#frag', 'ws://example.com/#', 'file:///etc/passwd'])('%s is a SyntaxError', (url) => {
    expect(() => parseWebSocketUrl(url)).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebSocket(url)).toThrow(DOMException);
  });

  it('a redirect Location is resolved against the URL it came from', () => {
    expect(parseWebSocketUrl('/elsewhere?x=1', 'wss://example.com/start').href).toBe('wss://example.com/elsewhere?x=1');
  });
});

describe('subprotocols (RFC 6455 4.1 item 10)', () => {
  it('one name or a list of tokens', () => {
    expect(checkProtocols(undefined)).toEqual([]);
    expect(checkProtocols('chat')).toEqual(['chat']);
    expect(checkProtocols(['v1.chat', 'v2.chat'])).toEqual(['v1.chat', 'v2.chat']);
  });

  it.each([[''], ['two words'], ['a,b'], ['naïve'], ['semi;colon'], [['same', 'same']]])('%j is a SyntaxError', (protocols) => {
    expect(() => checkProtocols(protocols)).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebSocket('ws://127.0.0.1:9/', protocols)).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
  });
});
