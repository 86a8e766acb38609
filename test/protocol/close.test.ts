/**
 * Close frames: the body (RFC 6455 5.5.1), the status codes allowed on the wire (7.4.1,
 * 7.4.2 and the IANA registry) and the code reported for an empty body (7.1.5).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CloseInfo,
  encodeClosePayload,
  isValidCloseCode,
  parseClosePayload,
  truncateUtf8,
} from '../../src/protocol/close.js';
import type { ProtocolError } from '../../src/protocol/errors.js';
import { hex } from '../helpers/bytes.js';

function expectError(result: CloseInfo | ProtocolError): ProtocolError {
  if (!('closeCode' in result)) throw new Error(`expected a protocol error, got ${JSON.stringify(result)}`);
  return result;
}

function expectInfo(result: CloseInfo | ProtocolError): CloseInfo {
  if ('closeCode' in result) throw new Error(`expected close info, got error ${result.code}`);
  return result;
}

describe('RFC 6455 7.4.1, 7.4.2: which status codes may be sent in a Close frame', () => {
  const cases: ReadonlyArray<[number, boolean, string]> = [
    [0, false, 'below 1000 is not used'],
    [999, false, 'below 1000 is not used'],
    [1000, true, 'normal closure'],
    [1001, true, 'going away'],
    [1002, true, 'protocol error'],
    [1003, true, 'unsupported data'],
    [1004, false, 'reserved'],
    [1005, false, 'no status received: MUST NOT be set in a Close frame'],
    [1006, false, 'abnormal closure: MUST NOT be set in a Close frame'],
    [1007, true, 'invalid frame payload data'],
    [1008, true, 'policy violation'],
    [1009, true, 'message too big'],
    [1010, true, 'mandatory extension'],
    [1011, true, 'internal error'],
    [1012, true, 'service restart (IANA registry)'],
    [1013, true, 'try again later (IANA registry)'],
    [1014, true, 'bad gateway (IANA registry)'],
    [1015, false, 'TLS handshake: MUST NOT be set in a Close frame'],
    [1016, false, 'unassigned'],
    [2999, false, 'unassigned, last of 1000-2999'],
    [3000, true, 'first code for libraries and frameworks'],
    [3999, true, 'last code for libraries and frameworks'],
    [4000, true, 'first private-use code'],
    [4999, true, 'last private-use code'],
    [5000, false, 'past the defined ranges'],
    [65535, false, 'largest 16-bit value, past the defined ranges'],
  ];
  for (const [code, valid, why] of cases) {
    it(`${code} is ${valid ? 'valid' : 'invalid'}: ${why}`, () => {
      expect(isValidCloseCode(code)).toBe(valid);
    });
  }

  it('non-integers are invalid', () => {
    expect(isValidCloseCode(1000.5)).toBe(false);
    expect(isValidCloseCode(Number.NaN)).toBe(false);
  });

  it('exactly 1000-1003, 1007-1014 and 3000-4999 of all 16-bit values are valid', () => {
    let count = 0;
    for (let code = 0; code <= 0xffff; code++) if (isValidCloseCode(code)) count++;
    expect(count).toBe(4 + 8 + 2000);
  });
});

describe('RFC 6455 5.5.1, 7.1.5: reading a Close frame body', () => {
  it('an empty body reports 1005 (No Status Received) and no reason', () => {
    expect(expectInfo(parseClosePayload(new Uint8Array(0)))).toEqual({ code: 1005, reason: '' });
  });

  it('a 1-byte body cannot hold a status code: CLOSE_PAYLOAD_ONE_BYTE, fail with 1002', () => {
    const error = expectError(parseClosePayload(hex('03')));
    expect(error.code).toBe('CLOSE_PAYLOAD_ONE_BYTE');
    expect(error.closeCode).toBe(1002);
  });

  it('03 e8 is 1000 with no reason', () => {
    expect(expectInfo(parseClosePayload(hex('03 e8')))).toEqual({ code: 1000, reason: '' });
  });

  it('the code is in network byte order, then a UTF-8 reason: 0f a0 "bye €" is 4000 "bye €"', () => {
    expect(expectInfo(parseClosePayload(hex('0f a0 62 79 65 20 e2 82 ac')))).toEqual({ code: 4000, reason: 'bye €' });
  });

  for (const code of [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    it(`code ${code} on the wire is INVALID_CLOSE_CODE, fail with 1002`, () => {
      const payload = Buffer.alloc(2);
      payload.writeUInt16BE(code);
      const error = expectError(parseClosePayload(payload));
      expect(error.code).toBe('INVALID_CLOSE_CODE');
      expect(error.closeCode).toBe(1002);
    });
  }

  it('a reason that is not valid UTF-8 is INVALID_CLOSE_REASON_UTF8, fail with 1007', () => {
    const error = expectError(parseClosePayload(hex('03 e8 ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80')));
    expect(error.code).toBe('INVALID_CLOSE_REASON_UTF8');
    expect(error.closeCode).toBe(1007);
  });

  it('a reason cut in the middle of a character is invalid UTF-8 (1007)', () => {
    expect(expectError(parseClosePayload(hex('03 e8 e2 82'))).closeCode).toBe(1007);
  });

  it('reads a body that is a view into a larger buffer', () => {
    const backing = hex('ff ff 03 e9 6f 6b ff');
    expect(expectInfo(parseClosePayload(backing.subarray(2, 6)))).toEqual({ code: 1001, reason: 'ok' });
  });
});

describe('RFC 6455 5.5.1: writing a Close frame body', () => {
  it('no code gives an empty body', () => {
    expect(encodeClosePayload()).toEqual(Buffer.alloc(0));
  });

  it('1000 "bye" is 03 e8 62 79 65', () => {
    expect(encodeClosePayload(1000, 'bye')).toEqual(hex('03 e8 62 79 65'));
  });

  it('a reason without a code is refused (the body must start with a code)', () => {
    expect(() => encodeClosePayload(undefined, 'why')).toThrow(RangeError);
  });

  for (const code of [999, 1004, 1005, 1006, 1015, 1016, 5000]) {
    it(`code ${code} may not be sent and is refused`, () => {
      expect(() => encodeClosePayload(code)).toThrow(RangeError);
    });
  }

  it('a long reason of 2-byte characters is cut to 122 bytes: 123 would split a character', () => {
    const payload = encodeClosePayload(1000, 'é'.repeat(100));
    expect(payload.length).toBe(2 + 122);
    expect(payload.subarray(2).toString('utf8')).toBe('é'.repeat(61));
  });

  it('a long reason of 3-byte characters is cut to exactly 123 bytes', () => {
    const payload = encodeClosePayload(1000, '€'.repeat(50));
    expect(payload.length).toBe(2 + 123);
    expect(payload.subarray(2).toString('utf8')).toBe('€'.repeat(41));
  });

  it('a long reason of 4-byte characters is cut to 120 bytes', () => {
    const payload = encodeClosePayload(1000, '😀'.repeat(40));
    expect(payload.length).toBe(2 + 120);
    expect(payload.subarray(2).toString('utf8')).toBe('😀'.repeat(30));
  });

  it('a reason of exactly 123 bytes is kept whole; 124 ASCII bytes lose the last one', () => {
    expect(encodeClosePayload(1000, 'a'.repeat(123)).length).toBe(125);
    expect(encodeClosePayload(1000, 'a'.repeat(124)).subarray(2).toString()).toBe('a'.repeat(123));
  });

  it('truncateUtf8 cuts at a character boundary at or before the limit', () => {
    expect(truncateUtf8('aé€😀', 100).toString()).toBe('aé€😀');
    expect(truncateUtf8('aé€😀', 10).toString()).toBe('aé€😀');
    expect(truncateUtf8('aé€😀', 9).toString()).toBe('aé€');
    expect(truncateUtf8('aé€😀', 6).toString()).toBe('aé€');
    expect(truncateUtf8('aé€😀', 5).toString()).toBe('aé');
    expect(truncateUtf8('aé€😀', 2).toString()).toBe('a');
    expect(truncateUtf8('aé€😀', 0).length).toBe(0);
  });
});

describe('RFC 6455 5.5.1: properties of Close bodies', () => {
  const validCode = fc.oneof(
    fc.integer({ min: 1000, max: 1003 }),
    fc.integer({ min: 1007, max: 1014 }),
    fc.integer({ min: 3000, max: 4999 }),
  );

  it('any valid code and any reason: at most 125 bytes, and reads back as the code and a prefix of the reason', () => {
    fc.assert(
      fc.property(validCode, fc.string({ unit: 'binary', maxLength: 80 }), (code, reason) => {
        const payload = encodeClosePayload(code, reason);
        expect(payload.length).toBeLessThanOrEqual(125);
        const info = expectInfo(parseClosePayload(payload));
        expect(info.code).toBe(code);
        // The reason's bytes are a prefix of the full reason's bytes, ended on a character
        // boundary, and as long as possible: the next character would not have fitted.
        const full = Buffer.from(reason, 'utf8');
        const kept = payload.subarray(2);
        expect(full.subarray(0, kept.length)).toEqual(kept);
        if (kept.length < full.length) {
          const next = full[kept.length];
          expect(next & 0xc0).not.toBe(0x80);
          const nextLength = next >= 0xf0 ? 4 : next >= 0xe0 ? 3 : next >= 0xc0 ? 2 : 1;
          expect(kept.length + nextLength).toBeGreaterThan(123);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('any 2-byte body reads as its code exactly when the code is valid, and as 1002 otherwise', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (code) => {
        const result = parseClosePayload(Uint8Array.of(code >> 8, code & 0xff));
        if (isValidCloseCode(code)) expect(expectInfo(result)).toEqual({ code, reason: '' });
        else expect(expectError(result).closeCode).toBe(1002);
      }),
      { numRuns: 500 },
    );
  });
});
