/**
 * The protocol inspector page with permessage-deflate (RFC 7692) negotiated, in a real headless
 * Chromium loaded through the recording proxy: what the page shows of a compressed frame (RSV1,
 * the payload length on the wire, the inflated message) is checked against the frame Chromium
 * really sent. Unticking the toggle goes back to uncompressed frames.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { InspectorPage, SHOWN_WITHIN_MS } from '../helpers/inspector-page.js';
import { browserTestsEnabled } from './browser.js';
import { readUpgradeStream, type RecordedFrame } from './recording-proxy.js';

const RSV1 = 0x40;
const OPCODE_TEXT = 0x1;
/** Bytes of the inflated message the page draws. */
const DUMP_PAYLOAD_BYTES = 64;
/** Enough to need the 64-bit length when uncompressed (RFC 6455 5.2), and very compressible. */
const MESSAGE_LENGTH = 70_000;
const ANSWER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

const enabled = browserTestsEnabled('test/e2e/inspector-deflate.test.ts');

describe.skipIf(!enabled)('the protocol inspector page with permessage-deflate (RFC 7692) in Chromium', () => {
  const inspector = new InspectorPage();
  let page: Page;

  /** The data frames Chromium sent on its latest connection to `target` (the toggle reconnects). */
  function sentFrames(target: string): RecordedFrame[] {
    const prefix = `GET ${target} `;
    const matching = inspector.proxy.connections.map((chunks) => Buffer.concat(chunks)).filter((bytes) => bytes.subarray(0, prefix.length).toString('latin1') === prefix);
    if (matching.length === 0) throw new Error(`the proxy saw no upgrade to ${target}`);
    return readUpgradeStream(matching[matching.length - 1]).frames.filter((frame) => frame.opcode < 0x8);
  }

  beforeAll(async () => {
    page = await inspector.open();
  });

  afterEach(async ({ task }) => {
    await inspector.screenshot(`inspector-deflate-${task.name}`);
  });

  afterAll(async () => {
    await inspector.close();
  });

  it('the toggle reconnects to /inspect?deflate=on, and the handshake shows the extension agreed', async () => {
    expect(await page.textContent('[data-part="extensions"]')).toContain('no extension is in use');
    await page.check('#deflate');
    await page.waitForFunction(() => document.querySelector('[data-part="extensions"]')?.textContent?.includes('permessage-deflate is in use'), null, { timeout: SHOWN_WITHIN_MS });
    await page.waitForSelector('#status[data-state="open"]', { timeout: SHOWN_WITHIN_MS });
    expect(new URL(page.url()).searchParams.get('deflate')).toBe('on');
    expect(await page.textContent('[data-part="request"]')).toContain('GET /inspect?deflate=on HTTP/1.1');
    expect(await page.textContent('[data-part="response"]')).toContain(`Sec-WebSocket-Extensions: ${ANSWER}`);
    expect(await page.textContent('[data-part="extensions"]')).toContain('client_no_context_takeover');
    expect(await page.getAttribute('[data-part="accept-check"]', 'class')).toBe('match-ok');
  });

  it(`a compressible ${MESSAGE_LENGTH}-byte text message: RSV1 = 1, fewer bytes on the wire than in the message, inflated intact`, async () => {
    const before = sentFrames('/inspect?deflate=on').length;
    const text = 'framecast '.repeat(MESSAGE_LENGTH / 10);
    const n = await inspector.sendAndWait(text);

    // The frame Chromium really sent: one frame, RSV1 set (RFC 7692 6.1), a compressed payload.
    const sent = sentFrames('/inspect?deflate=on').slice(before);
    expect(sent).toHaveLength(1);
    const [frame] = sent;
    expect(frame.fin).toBe(true);
    expect(frame.opcode).toBe(OPCODE_TEXT);
    expect(frame.header[0] & RSV1).toBe(RSV1);
    expect(frame.payloadLength).toBeLessThan(MESSAGE_LENGTH / 10);

    // What the page shows of it.
    expect(await page.textContent(`[data-report="${n}"] h3`)).toBe(`Message ${n}: text, ${MESSAGE_LENGTH} bytes, 1 frame`);
    expect(await inspector.cell(n, 'rsv1', 'bits')).toBe('1');
    expect(await inspector.cell(n, 'rsv1', 'value')).toContain('permessage-deflate: this message is compressed');
    expect(await inspector.cell(n, 'payload-length', 'value')).toBe(String(frame.payloadLength));
    const note = page.locator(`[data-report="${n}"] [data-part="compression"]`);
    expect(Number(await note.getAttribute('data-wire-length'))).toBe(frame.payloadLength);
    expect(Number(await note.getAttribute('data-message-length'))).toBe(MESSAGE_LENGTH);
    expect(await note.textContent()).toContain(`${frame.payloadLength} payload bytes crossed the wire for a ${MESSAGE_LENGTH}-byte message`);
    // The dump's payload bytes are the masked DEFLATE bytes as recorded.
    const dumped = await page.$$eval(`[data-report="${n}"] .frame > .dump .byte[data-field="payload"]`, (cells) => cells.map((c) => c.textContent).join(''));
    expect(dumped).toBe(frame.maskedPayload.subarray(0, DUMP_PAYLOAD_BYTES).toString('hex'));
    // And the message inflated, as the server's Receiver delivered it.
    expect(await page.textContent(`[data-report="${n}"] pre.inflated-text`)).toBe(text.slice(0, DUMP_PAYLOAD_BYTES));
    expect(await page.textContent(`[data-report="${n}"] .match-ok`)).toContain(`sent ${MESSAGE_LENGTH} bytes as text; the server received ${MESSAGE_LENGTH} once inflated`);
  });

  it('unticked, it reconnects to /inspect and the same message crosses uncompressed (RSV1 = 0, 64-bit length)', async () => {
    await page.uncheck('#deflate');
    await page.waitForFunction(() => document.querySelector('[data-part="extensions"]')?.textContent?.includes('no extension is in use'), null, { timeout: SHOWN_WITHIN_MS });
    await page.waitForSelector('#status[data-state="open"]', { timeout: SHOWN_WITHIN_MS });
    expect(new URL(page.url()).searchParams.has('deflate')).toBe(false);
    const before = sentFrames('/inspect').length;
    const n = await inspector.sendAndWait('framecast '.repeat(MESSAGE_LENGTH / 10));
    const [frame] = sentFrames('/inspect').slice(before);
    expect(frame.header[0] & RSV1).toBe(0);
    expect(frame.payloadLength).toBe(MESSAGE_LENGTH);
    expect(await inspector.cell(n, 'rsv1', 'bits')).toBe('0');
    expect(await inspector.cell(n, 'payload-length', 'bits')).toBe('7+64');
    expect(await page.locator(`[data-report="${n}"] [data-part="compression"]`).count()).toBe(0);
  });
});
