/**
 * bench/on-demand-packages.ts: a set of packages is installed into the cache once, found there
 * through NODE_PATH by a package of the project that loads it (as ws loads its addons), and a
 * set that cannot be installed or loaded is reported, not thrown. Offline: the packages are
 * local folders (`file:` specs), installed with the real npm into a temporary cache.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheRoot, ensurePackages, nodeModulesOf, nodePathWith, type PackageSet } from '../../bench/on-demand-packages.js';

/** npm installs of local folders take a second or two, more on a busy machine. */
const NPM_TIMEOUT_MS = 120_000;

let work: string;
let previousCache: string | undefined;

/** A local package `name` whose main module runs `body`. */
function localPackage(name: string, body: string): string {
  const folder = join(work, 'packages', name);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js' }));
  writeFileSync(join(folder, 'index.js'), body);
  return `file:${folder}`;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'framecast-on-demand-'));
  previousCache = process.env.FRAMECAST_BENCH_CACHE;
  process.env.FRAMECAST_BENCH_CACHE = join(work, 'cache');
});

afterAll(() => {
  if (previousCache === undefined) delete process.env.FRAMECAST_BENCH_CACHE;
  else process.env.FRAMECAST_BENCH_CACHE = previousCache;
  rmSync(work, { recursive: true, force: true });
});

describe('packages a benchmark reference needs, installed on demand', () => {
  it('installs a set into its own cache folder once; a package of the project then loads it through NODE_PATH', () => {
    const set: PackageSet = {
      name: 'probe',
      packages: [localPackage('framecast-probe-addon', 'module.exports = 42;')],
      modules: ['framecast-probe-addon'],
      loadedBy: 'ws', // resolved from ws's folder, where ws itself would require it
    };
    expect(cacheRoot()).toBe(join(work, 'cache'));
    const said: string[] = [];
    expect(ensurePackages(set, (line) => said.push(line))).toEqual({ ready: true, nodeModules: join(work, 'cache', 'probe', 'node_modules') });
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^installing file:.*framecast-probe-addon for probe into /);
    // The second time it is found in the cache: no install.
    expect(ensurePackages(set, (line) => said.push(line))).toMatchObject({ ready: true });
    expect(said).toHaveLength(1);
    // NODE_PATH leads there, in front of what was set.
    expect(nodePathWith(set, { NODE_PATH: '/elsewhere' }).NODE_PATH).toBe(`${nodeModulesOf(set)}:/elsewhere`);
  }, NPM_TIMEOUT_MS);

  it('says so when a set cannot be installed', () => {
    const set: PackageSet = { name: 'missing', packages: [`file:${join(work, 'packages', 'no-such-package')}`], modules: ['no-such-package'] };
    const result = ensurePackages(set, () => undefined);
    expect(result.ready).toBe(false);
    expect(!result.ready && result.problem).toMatch(/^npm install file:.*no-such-package into .* failed: /);
  }, NPM_TIMEOUT_MS);

  it('says so when an installed set does not load, with the error it threw', () => {
    const set: PackageSet = {
      name: 'broken',
      packages: [localPackage('framecast-broken-addon', "throw new Error('no prebuilt binary for this platform');")],
      modules: ['framecast-broken-addon'],
    };
    const result = ensurePackages(set, () => undefined);
    expect(result.ready).toBe(false);
    expect(!result.ready && result.problem).toMatch(/framecast-broken-addon installed in .* but do not load: .*no prebuilt binary for this platform/);
  }, NPM_TIMEOUT_MS);

  it('with installing off, a set missing from the cache is skipped, saying why, and nothing is installed', () => {
    const set: PackageSet = { name: 'not-yet', packages: [localPackage('framecast-offline-addon', 'module.exports = 1;')], modules: ['framecast-offline-addon'] };
    const said: string[] = [];
    const result = ensurePackages(set, (line) => said.push(line), { install: false });
    expect(result).toEqual({ ready: false, problem: `not installed in ${join(work, 'cache', 'not-yet')}, and installing is off (--no-install)` });
    expect(said).toEqual([]);
  });

  it("a set with a probe is judged by it (a runtime that must start, an addon for this Node), with the probe's reason", () => {
    const seen: string[] = [];
    const set: PackageSet = {
      name: 'probed',
      packages: [localPackage('framecast-probed-runtime', 'module.exports = 1;')],
      modules: [],
      probe: (nodeModules) => {
        seen.push(nodeModules);
        return 'the executable does not start';
      },
    };
    const result = ensurePackages(set, () => undefined);
    expect(seen).toEqual([join(work, 'cache', 'probed', 'node_modules')]);
    expect(!result.ready && result.problem).toMatch(/file:.*framecast-probed-runtime installed in .* but do not load: the executable does not start$/);
  }, NPM_TIMEOUT_MS);
});
