/**
 * One vitest test per conformance case, for the test files that hold an implementation to the
 * suite (conformance.test.ts: framecast's server; client-conformance.test.ts: its client): every
 * case must be OK, except those listed as INFORMATIONAL, where RFC 6455 has no right answer.
 */
import { describe, expect, test } from 'vitest';
import { formatResult, runCase, type Section, type Settings, Verdict } from './suite.js';

/** `settings` is read when each test runs (it is made in a beforeAll). */
export function testEveryCase(sections: readonly Section[], settings: () => Settings, informational: ReadonlySet<string>): void {
  for (const section of sections) {
    describe(`${section.id}. ${section.title}`, () => {
      for (const testCase of section.cases) {
        const wanted = informational.has(testCase.id) ? Verdict.Informational : Verdict.Ok;
        test(`${testCase.id} ${testCase.description}: ${testCase.expectation}`, async () => {
          const result = await runCase(section, testCase, settings());
          expect(result.verdict, `${formatResult(result)}\n            observed: ${result.observed.join(', ')}`).toBe(wanted);
        });
      }
    });
  }
}
