/**
 * Packages that only some benchmark references need, installed on demand into a cache of
 * their own, outside the project's node_modules: `npm install` of framecast stays small and
 * prints no warning about their install scripts, and a benchmark that needs them installs
 * them the first time (with `npm install --prefix`), then finds them in the cache.
 *
 * A reference loads its set through NODE_PATH (see `nodePathWith`): Node's require falls back
 * to NODE_PATH after the node_modules folders, so `ws`, installed in the project, finds
 * `bufferutil` in the cache exactly as it would beside itself, and plain `ws` stays the same
 * ws. When a set cannot be installed or loaded (offline, no prebuilt binary for this platform),
 * `ensurePackages` says why, and the benchmark skips that reference with a note.
 *
 * The cache: $FRAMECAST_BENCH_CACHE, else $XDG_CACHE_HOME/framecast-bench, else
 * ~/.cache/framecast-bench; one folder per set. Delete it to reinstall.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Packages installed and checked together, in their own folder of the cache. */
export interface PackageSet {
  /** The folder under the cache, and what notes call the set. */
  readonly name: string;
  /** npm install specs, e.g. `bufferutil@^4.1.0`. */
  readonly packages: readonly string[];
  /** Modules that must then load, with NODE_PATH set as a reference would run. */
  readonly modules: readonly string[];
  /**
   * A package of the project that loads `modules` itself (ws loads its addons): they are
   * resolved from its location, as it resolves them. Default: from the cache folder.
   */
  readonly loadedBy?: string;
  /**
   * Instead of loading `modules`: a check of the installed set (a binary that must run, an
   * addon that must load for this Node), given the set's node_modules folder; says what is
   * wrong, or returns undefined when the set is usable.
   */
  readonly probe?: (nodeModules: string) => string | undefined;
}

/** ws's optional native addons: bufferutil masks and unmasks, utf-8-validate validates. */
export const WS_ADDONS: PackageSet = {
  name: 'ws-addons',
  packages: ['bufferutil@^4.1.0', 'utf-8-validate@^6.0.6'],
  modules: ['bufferutil', 'utf-8-validate'],
  loadedBy: 'ws',
};

/**
 * Bun, the JavaScript runtime with a WebSocket server built in (`Bun.serve`, in Zig and C++).
 * npm's `bun` package ships the native executable for this platform (its postinstall script
 * puts it at bin/bun.exe, the name it uses on every platform); the reference runs on it.
 */
export const BUN: PackageSet = {
  name: 'bun',
  packages: ['bun@^1.1.0'],
  modules: [],
  probe: (nodeModules) => {
    const executable = bunExecutable(nodeModules);
    if (executable === undefined) return `no bun executable under ${nodeModules}`;
    return commandProblem(executable, ['--version']);
  },
};

/** Where npm's `bun` package leaves the executable: bin/bun.exe after its postinstall, else the platform package's. */
export function bunExecutable(nodeModules: string = nodeModulesOf(BUN)): string | undefined {
  const candidates = [
    join(nodeModules, 'bun', 'bin', 'bun.exe'),
    join(nodeModules, 'bun', 'bin', 'bun'),
    join(nodeModules, '@oven', `bun-${process.platform}-${process.arch}`, 'bin', 'bun'),
  ];
  return candidates.find((candidate) => existsSync(candidate) && statSync(candidate).size > EXECUTABLE_MIN_BYTES);
}
/** bin/bun.exe is a small placeholder script until the postinstall script replaces it. */
const EXECUTABLE_MIN_BYTES = 1_000_000;

/**
 * uWebSockets.js (C++ with a Node addon). Its author publishes it on GitHub only; this npm
 * build carries the same addon for each Node ABI. Its `uws.js` falls back to a ws-based
 * imitation when the addon does not load, which would measure ws again: the reference loads
 * the addon file itself (`uwsAddonPath`) and fails instead.
 */
export const UWS: PackageSet = {
  name: 'uws',
  packages: ['@trufflesuite/uws-js-unofficial@^20.30.0-unofficial.0'],
  modules: [],
  probe: (nodeModules) => {
    const addon = uwsAddonPath(nodeModules);
    if (!existsSync(addon)) return `no addon for this Node (${addon} is missing)`;
    return commandProblem(process.execPath, ['-e', `require(${JSON.stringify(addon)}).App`]);
  },
};

/** The uWebSockets.js addon built for this platform and this Node's ABI. */
export function uwsAddonPath(nodeModules: string = nodeModulesOf(UWS)): string {
  return join(nodeModules, '@trufflesuite', 'uws-js-unofficial', 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
}

export type PackagesReady = { ready: true; nodeModules: string } | { ready: false; problem: string };

/** Longest an install may take: the first one downloads. */
const INSTALL_TIMEOUT_MS = 300_000;
/** What the cache folder records of the specs it was installed with. */
const SPECS_FILE = 'framecast-specs.json';

export function cacheRoot(): string {
  const configured = process.env.FRAMECAST_BENCH_CACHE;
  if (configured !== undefined && configured !== '') return configured;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'framecast-bench');
}

/** The node_modules folder a set is (or would be) installed in. */
export function nodeModulesOf(set: PackageSet): string {
  return join(cacheRoot(), set.name, 'node_modules');
}

/** `env` with the set's node_modules in front of NODE_PATH. */
export function nodePathWith(set: PackageSet, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const existing = env.NODE_PATH;
  return { ...env, NODE_PATH: existing === undefined || existing === '' ? nodeModulesOf(set) : `${nodeModulesOf(set)}${delimiter}${existing}` };
}

/** Why a command fails (its first error line), or undefined when it exits 0. */
function commandProblem(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const result = spawnSync(command, args, { env, encoding: 'utf8' });
  if (result.status === 0) return undefined;
  if (result.error !== undefined) return `${command}: ${result.error.message}`;
  return ((result.stderr ?? '').split('\n').find((line) => /Error/.test(line)) ?? `exit status ${result.status}`).trim();
}

/** Why the set's modules do not load as a reference would load them, or undefined when they do. */
function loadProblem(set: PackageSet): string | undefined {
  // In a child process: NODE_PATH is read when Node starts.
  let from = join(cacheRoot(), set.name, 'package.json');
  if (set.loadedBy !== undefined) {
    try {
      from = createRequire(import.meta.url).resolve(set.loadedBy);
    } catch (error) {
      return `${set.loadedBy} itself does not resolve: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    }
  }
  const script = `const { createRequire } = require('node:module'); for (const name of ${JSON.stringify(set.modules)}) createRequire(${JSON.stringify(from)})(name);`;
  return commandProblem(process.execPath, ['-e', script], nodePathWith(set));
}

/** The code and the first line that explains an npm failure, from its stderr. */
function npmErrorSummary(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.replace(/^npm (error|ERR!)\s*/, '').trim());
  const code = lines.find((line) => line.startsWith('code '));
  const explanation = lines.find((line) => line !== '' && !/^(code|syscall|errno) /.test(line));
  return [code, explanation].filter((part) => part !== undefined).join(': ');
}

function installedSpecs(folder: string): string | undefined {
  try {
    return readFileSync(join(folder, SPECS_FILE), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Makes sure the set is installed in the cache and loads: installs it when it is missing (or
 * was installed with other specs), telling `log` so, unless `install` is false. Never throws:
 * says what went wrong.
 */
export function ensurePackages(set: PackageSet, log: (line: string) => void = console.log, options: { install?: boolean } = {}): PackagesReady {
  const folder = join(cacheRoot(), set.name);
  const specs = JSON.stringify(set.packages);
  if (installedSpecs(folder) !== specs || !existsSync(join(folder, 'node_modules'))) {
    // Offline runs (the smoke test) use what the cache already has and install nothing.
    if (options.install === false) return { ready: false, problem: `not installed in ${folder}, and installing is off (--no-install)` };
    log(`installing ${set.packages.join(', ')} for ${set.name} into ${folder} (once; npm install --prefix)`);
    try {
      mkdirSync(folder, { recursive: true });
    } catch (error) {
      return { ready: false, problem: `cannot create ${folder}: ${error instanceof Error ? error.message : String(error)}` };
    }
    const npm = spawnSync('npm', ['install', '--prefix', folder, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...set.packages], {
      encoding: 'utf8',
      timeout: INSTALL_TIMEOUT_MS,
    });
    if (npm.error !== undefined || npm.status !== 0) {
      // npm's first lines say what failed ("npm error code ECONNREFUSED", then the cause).
      const detail = npm.error?.message ?? npmErrorSummary(npm.stderr ?? '');
      return { ready: false, problem: `npm install ${set.packages.join(' ')} into ${folder} failed: ${detail || `exit status ${npm.status}`}` };
    }
    writeFileSync(join(folder, SPECS_FILE), specs);
  }
  const problem = set.probe !== undefined ? set.probe(join(folder, 'node_modules')) : loadProblem(set);
  if (problem !== undefined) return { ready: false, problem: `${set.modules.length > 0 ? set.modules.join(', ') : set.packages.join(', ')} installed in ${folder} but do not load: ${problem}` };
  return { ready: true, nodeModules: join(folder, 'node_modules') };
}
