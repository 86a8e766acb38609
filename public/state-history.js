// A bounded record of the states a page went through, each with the text it showed and when.
//
// What is on screen is only the state at the moment someone looks: a countdown shown for
// 0.3 s is easily missed by a test on a busy machine, or by a person. The history keeps every
// change, oldest first, so a test can wait for "was this shown, and in this order?" instead of
// hoping to look at the right moment; a person can read it in the console.
//
// Self-contained on purpose (no imports, no page specifics): any page can record its own.

/** Changes kept by default; older ones are dropped first. */
const DEFAULT_LIMIT = 200;

/**
 * A history published as `window[name]`: an array of { n, at, state, text }, where `n` counts
 * changes from 1 (it keeps counting after old entries are dropped) and `at` is Date.now().
 * `record(state, text)` adds an entry unless both are the same as the newest one.
 */
export function stateHistory(name, limit = DEFAULT_LIMIT) {
  const entries = [];
  let count = 0;
  window[name] = entries;
  return {
    record(state, text) {
      const newest = entries[entries.length - 1];
      if (newest !== undefined && newest.state === state && newest.text === text) return;
      entries.push({ n: ++count, at: Date.now(), state, text });
      if (entries.length > limit) entries.splice(0, entries.length - limit);
    },
  };
}
