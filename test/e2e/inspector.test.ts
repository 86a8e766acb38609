/**
 * The protocol inspector page (public/inspect.html, inspect.js) in a real headless Chromium.
 * The page is loaded through a recording TCP proxy, so what it shows (the handshake key, each
 * frame's opcode, length encoding, masking key and bytes) is checked against the bytes Chromium
 * really sent, read by the test's own frame reader: not against the server's report.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { lowContrastText } from '../helpers/contrast.js';
import { InspectorPage } from '../helpers/inspector-page.js';
import { browserTestsEnabled } from './browser.js';
import { readUpgradeStream, type RecordedFrame, upgradeConnection } from './recording-proxy.js';

const RFC_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Payload bytes the page draws in a frame's dump. */
const DUMP_PAYLOAD_BYTES = 64;
const OPCODE_TEXT = 0x1;
/** Payload bytes the XOR table works through. */
const XOR_EXAMPLE_BYTES = 8;
/** WCAG 2 AA for body text. */
const AA_CONTRAST = 4.5;
const PHONE = { width: 390, height: 844 };

const spacedHex = (bytes: Buffer): string => [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');

const enabled = browserTestsEnabled('test/e2e/inspector.test.ts');

describe.skipIf(!enabled)('the protocol inspector page in Chromium', () => {
  const inspector = new InspectorPage();
  let page: Page;

  /** The data frames Chromium has sent on the /inspect connection so far, as recorded. */
  function recordedDataFrames(): RecordedFrame[] {
    const bytes = upgradeConnection(inspector.proxy, '/inspect');
    if (bytes === undefined) throw new Error('the proxy saw no /inspect upgrade');
    return readUpgradeStream(bytes).frames.filter((frame) => frame.opcode < 0x8);
  }

  beforeAll(async () => {
    page = await inspector.open();
  });

  afterEach(async ({ task }) => {
    await inspector.screenshot(`inspector-${task.name}`);
  });

  afterAll(async () => {
    await inspector.close();
  });

  describe('the opening handshake (RFC 6455 1.3, 4.2.2)', () => {
    it('shows the Sec-WebSocket-Key Chromium sent and the Accept derived from it step by step', async () => {
      const bytes = upgradeConnection(inspector.proxy, '/inspect');
      expect(bytes).toBeDefined();
      const key = readUpgradeStream(bytes as Buffer).headers.get('sec-websocket-key') ?? '';
      expect(key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      const sha1 = createHash('sha1').update(key + RFC_GUID).digest();

      expect(await page.textContent('[data-part="request"]')).toContain(`Sec-WebSocket-Key: ${key}`);
      const steps = await page.$$eval('#handshake .steps > li > .value:first-of-type', (values) => values.map((value) => value.textContent));
      expect(steps).toEqual([key, key + RFC_GUID, spacedHex(sha1), sha1.toString('base64'), sha1.toString('base64')]);
      expect(await page.textContent('[data-part="key-bytes"]')).toBe(`= 16 bytes: ${spacedHex(Buffer.from(key, 'base64'))}`);
      expect(await page.getAttribute('[data-part="accept-check"]', 'class')).toBe('match-ok');
      expect(await page.textContent('[data-part="response"]')).toContain(`Sec-WebSocket-Accept: ${sha1.toString('base64')}`);
    });
  });

  describe('each message as the frame that crossed the wire (RFC 6455 5.2, 5.3)', () => {
    for (const [length, encoding, extendedBytes] of [
      [5, '7', 0],
      [200, '7+16', 2],
      [70_000, '7+64', 8],
    ] as const) {
      it(`a ${length}-byte text message: opcode, ${encoding}-bit length and masking key as sent`, async () => {
        const before = recordedDataFrames().length;
        const text = 'framecast '.repeat(Math.ceil(length / 10)).slice(0, length);
        const n = await inspector.sendAndWait(text);

        const sent = recordedDataFrames().slice(before);
        expect(sent).toHaveLength(1); // Chromium sends each message as one frame
        const [frame] = sent;
        expect(frame).toMatchObject({ fin: true, opcode: OPCODE_TEXT, payloadLength: length });
        expect(frame.header).toHaveLength(2 + extendedBytes + 4);

        expect(await page.textContent(`[data-report="${n}"] h3`)).toBe(`Message ${n}: text, ${length} bytes, 1 frame`);
        expect(await inspector.cell(n, 'fin', 'bits')).toBe('1');
        expect(await inspector.cell(n, 'opcode', 'bits')).toBe('0001');
        expect(await inspector.cell(n, 'opcode', 'value')).toBe('0x1 text');
        expect(await inspector.cell(n, 'mask', 'bits')).toBe('1');
        expect(await inspector.cell(n, 'payload-length', 'bits')).toBe(encoding);
        expect(await inspector.cell(n, 'payload-length', 'value')).toBe(String(length));
        expect(await inspector.cell(n, 'length7', 'bits')).toBe((frame.header[1] & 0x7f).toString(2).padStart(7, '0'));
        expect(await inspector.cell(n, 'masking-key', 'value')).toBe(spacedHex(frame.maskingKey));
        if (extendedBytes > 0) {
          const extended = frame.header.subarray(2, 2 + extendedBytes);
          expect(await inspector.cell(n, 'ext', 'bits')).toBe([...extended].map((byte) => byte.toString(2).padStart(8, '0')).join(' '));
        } else {
          expect(await page.locator(`[data-report="${n}"] tr[data-field="ext"]`).count()).toBe(0);
        }

        // The dump: the header bytes and the masked payload exactly as recorded, each byte tagged with its field.
        const dumped = await page.$$eval(`[data-report="${n}"] .frame > .dump .byte`, (cells) =>
          cells.map((c) => [c.textContent, (c as HTMLElement).dataset.field]),
        );
        const shownPayload = frame.maskedPayload.subarray(0, DUMP_PAYLOAD_BYTES);
        expect(dumped.map(([byte]) => byte).join(' ')).toBe(spacedHex(Buffer.concat([frame.header, shownPayload])));
        const fields = dumped.map(([, field]) => field);
        expect(fields.slice(0, 2)).toEqual(['b0', 'b1']);
        expect(fields.filter((field) => field === 'ext')).toHaveLength(extendedBytes);
        expect(fields.filter((field) => field === 'key')).toHaveLength(4);
        expect(fields.filter((field) => field === 'payload')).toHaveLength(shownPayload.length);

        // The XOR table works through the first 8 bytes and says so when there are more.
        expect(await page.locator(`[data-report="${n}"] table.xor tr:not(.more)`).count()).toBe(1 + Math.min(XOR_EXAMPLE_BYTES, length));
        const cut = page.locator(`[data-report="${n}"] [data-part="xor-cut"]`);
        if (length > XOR_EXAMPLE_BYTES) expect(await cut.textContent()).toMatch(new RegExp(`^… the first ${XOR_EXAMPLE_BYTES} of ${length} payload bytes; `));
        else expect(await cut.count()).toBe(0);

        // The unmasked payload is the text the page sent.
        expect(await page.textContent(`[data-report="${n}"] pre.ascii`)).toBe(text.slice(0, DUMP_PAYLOAD_BYTES));
        expect(await page.textContent(`[data-report="${n}"] .match-ok`)).toContain(`sent ${length} bytes as text; the server received ${length}`);
      });
    }

    it('lights up a field\'s bytes in the dump when its row has keyboard focus', async () => {
      const n = inspector.reports;
      // The pointer may rest over another row (hovering lights it too): move it off the page's content.
      await page.mouse.move(0, 0);
      await page.focus(`[data-report="${n}"] tr[data-field="masking-key"]`);
      const lit = await page.$$eval(`[data-report="${n}"] .frame > .dump .byte.lit`, (cells) => cells.map((c) => (c as HTMLElement).dataset.field));
      expect(lit).toEqual(['key', 'key', 'key', 'key']);
    });
  });

  describe('readable', () => {
    it('every text has AA contrast (4.5:1) in the light and the dark scheme', async () => {
      for (const colorScheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme });
        expect(await lowContrastText(page, AA_CONTRAST), colorScheme).toEqual([]);
      }
      await page.emulateMedia({ colorScheme: null });
    });

    it('on a phone (390 px wide) the handshake boxes wrap their lines: nothing runs past the right edge', async () => {
      const desktop = page.viewportSize();
      await page.setViewportSize(PHONE);
      try {
        const boxes = await page.$$eval('#handshake pre', (pres) => pres.map((pre) => ({ part: (pre as HTMLElement).dataset.part, scroll: pre.scrollWidth, client: pre.clientWidth })));
        expect(boxes.map((box) => box.part)).toEqual(['request', 'response']);
        for (const box of boxes) expect(box.scroll, box.part).toBeLessThanOrEqual(box.client);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
        await inspector.screenshot('inspector-phone');
      } finally {
        if (desktop !== null) await page.setViewportSize(desktop);
      }
    });
  });
});
